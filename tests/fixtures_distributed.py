"""Distributed runs' test fixtures: a throwaway redis-server, a small counting sandbox, and
`tiequan` child processes that seed a run and work on it (tests/test_distributed.py,
tests/test_detect_worker.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import redis
from pymongo import MongoClient

from tests.conftest import TrainedModel
from tests.fixtures_mongo import cli_env
from tests.fixtures_sandbox import SANDBOX_SEED
from tiequan.sandbox.routes import Response
from tiequan.sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[1]
SITE = "sandbox_mall"
SCALE = 0.05  # about a hundred mall pages: enough for two workers to share
FAST = [
    "DOWNLOAD_DELAY=0",
    "AUTOTHROTTLE_ENABLED=False",
    "RETRY_BACKOFF_BASE=0.05",
    "RETRY_BACKOFF_MAX=0.3",
    "TIEQUAN_EVIDENCE_SCREENSHOTS=False",
    "TIEQUAN_OCR_ENABLED=False",
    "CONCURRENT_REQUESTS=4",
]
LEASE_S = "3"
WORKER_TIMEOUT_S = 240


def free_port() -> int:
    """A port free right now (redis-server cannot be told to pick one itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway redis-server on a free loopback port: no snapshots, and no log of writes
    unless ``appendonly`` (as docs/distributed.md asks of a production Redis: a restart
    then keeps the run's queue, leases and fingerprints)."""

    def __init__(
        self, binary: str, directory: Path, port: int = 0, appendonly: bool = False
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.port = port  # 0: a free one
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        fixed = self.port
        for _ in range(5):  # another process may take the port between probe and bind
            self.port = fixed or free_port()
            cmd = [
                self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec",
                "--dir", str(self.directory), "--daemonize", "no",
                "--logfile", str(self.directory / f"redis-{self.port}.log"),
            ]  # fmt: skip
            self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.process.poll() is None:
                probe = redis.Redis(port=self.port, socket_connect_timeout=0.2)
                try:
                    if probe.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
                finally:
                    probe.close()
            self.stop()
        raise RuntimeError(f"redis-server did not start; see {self.directory}")

    def stop(self) -> None:
        """SIGTERM: redis-server writes its append-only file out and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing; CI installs it (make system-deps)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return binary


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(redis_binary(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


class CountingSandbox(SandboxServer):
    """The sandbox, counting hits by URL (path and query): list pages differ by query."""

    def __init__(self) -> None:
        super().__init__(host="127.0.0.1", port=0, seed=SANDBOX_SEED, scale=SCALE)
        self.url_hits: Counter[str] = Counter()

    def respond(self, path: str, query: dict[str, list[str]]) -> Response:
        self.url_hits[path + "?" + urlencode(sorted(query.items()), doseq=True)] += 1
        return super().respond(path, query)

    def reset_counters(self) -> None:
        super().reset_counters()
        self.url_hits.clear()


@pytest.fixture(scope="module")
def small_sandbox() -> Iterator[CountingSandbox]:
    server = CountingSandbox()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def run_env(
    mongo_uri: str,
    tmp_path: Path,
    trained_model: TrainedModel,
    redis_server: RedisServer,
    small_sandbox: CountingSandbox,
) -> Iterator[dict[str, str]]:
    name = f"t_dist_{uuid.uuid4().hex[:8]}"
    trained_model.promote_at(mongo_uri, name)
    small_sandbox.reset_counters()
    yield cli_env(
        mongo_uri, name, tmp_path / "home",
        TIEQUAN_REDIS_URL=redis_server.url, TIEQUAN_WORKER_LEASE_SECONDS=LEASE_S,
    )  # fmt: skip
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    client.drop_database(name)
    client.close()


def tiequan(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "tiequan", *args]
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def seed(
    sandbox: CountingSandbox, env: dict[str, str], *extra: str, detection: str = "inline"
) -> str:
    """Seed a run of the mall; ``detection``: in the crawl workers, or in detection workers."""
    run_id = f"dist-{uuid.uuid4().hex[:8]}"
    settings = [arg for kv in (*FAST, *extra) for arg in ("-s", kv)]
    proc = tiequan(
        "sweep", "--site", SITE, "--base-url", sandbox.base_url, "--distributed",
        "--run-id", run_id, *settings, env={**env, "TIEQUAN_DETECTION": detection},
    )  # fmt: skip
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "Warning" not in err, err[-3000:]
    assert run_id in out
    return run_id


def worker(run_id: str, env: dict[str, str], name: str) -> subprocess.Popen[str]:
    return tiequan("worker", "--run-id", run_id, env={**env, "TIEQUAN_WORKER_ID": name})


def finish(proc: subprocess.Popen[str]) -> str:
    try:
        out, err = proc.communicate(timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()  # not left crawling (and retrying a Redis that is gone) after the test
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"the worker did not finish in {WORKER_TIMEOUT_S} s: {err[-3000:]}")
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "Warning" not in err, err[-3000:]
    return out
