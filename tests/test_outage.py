"""The database as a normal fault: it dies mid-sweep, and after the replay nothing is missing."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError

from tests.conftest import TrainedModel
from tests.test_sweep import FAST, REPO
from tiequan.sandbox.server import SandboxServer
from tiequan.settings import DEFAULT_DB
from tiequan.storage import spool
from tiequan.storage.embedded import STATE_FILE, EmbeddedServer
from tiequan.storage.process import pid_alive

SITE = "sandbox_mall"
# Small batches on a short timer, so writes go on all through the crawl; OCR off to keep
# the two sweeps short (tests/test_images.py covers it).
SWEEP_SETTINGS = [
    *FAST,
    "TIEQUAN_OCR_ENABLED=False",
    "TIEQUAN_BATCH_SIZE=10",
    "TIEQUAN_FLUSH_SECONDS=1",
    "TIEQUAN_DB_PROBE_SECONDS=1",
]


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tiequan", *args]


def _sweep(base_url: str, report: Path) -> list[str]:
    settings = [arg for kv in SWEEP_SETTINGS for arg in ("-s", kv)]
    return _command(
        "sweep", "--site", SITE, "--base-url", base_url, "--report", str(report),
        "--progress", "0", *settings,
    )  # fmt: skip


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TIEQUAN_MONGO_URI", "TIEQUAN_DB")}
    env.update(PYTHONPATH=str(REPO), **values)
    return env


def _client(uri: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(uri, serverSelectionTimeoutMS=3000, tz_aware=True)


def _state(home: Path, timeout: float = 60.0) -> dict[str, Any]:
    """The embedded server's state file, once the sweep has started the server."""
    path = home / "db" / STATE_FILE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return state
        except (FileNotFoundError, ValueError):
            time.sleep(0.1)
    raise AssertionError(f"no embedded server state in {path}")


def _kill_when_listings_arrive(home: Path, proc: subprocess.Popen[str], n: int) -> int:
    """SIGKILL the sweep's embedded server once ``n`` listings are stored; its pid."""
    state = _state(home)
    client = _client(f"mongodb://127.0.0.1:{state['port']}/?directConnection=true")
    try:
        deadline = time.monotonic() + 90
        while client.tiequan.listings.count_documents({}) < n:
            assert proc.poll() is None, "the sweep ended before the database was killed"
            assert time.monotonic() < deadline, "no listings were stored"
            time.sleep(0.2)
    finally:
        client.close()
    os.kill(int(state["pid"]), signal.SIGKILL)
    return int(state["pid"])


def _store_by_key(db: Database[Any]) -> dict[str, Any]:
    """What a sweep stored, by the keys the stages write with (run ids and times aside)."""
    return {
        "listings": {d["_id"]: d["content_sha256"] for d in db.listings.find()},
        "captures": Counter((c["listing_id"], c["content_sha256"]) for c in db.captures.find()),
        "leads": {
            d["_id"]: (
                d["category"],
                sorted((e["platform"], e["item_id"], e["score"]) for e in d["listings"]),
                d["evidence_count"],
            )
            for d in db.leads.find()
        },
        "evidence": Counter(
            (d["platform"], d["item_id"], len(d["artefacts"])) for d in db.evidence.find()
        ),
        "runs": db.runs.count_documents({}),
    }


@pytest.fixture
def reference_db(
    mongo_uri: str, trained_model: TrainedModel
) -> Iterator[tuple[str, Database[Any]]]:
    name = f"t_outage_{uuid.uuid4().hex[:8]}"
    trained_model.promote_at(mongo_uri, name)
    client = _client(mongo_uri)
    yield name, client[name]
    client.drop_database(name)
    client.close()


def test_a_sweep_whose_database_dies_loses_nothing_after_the_replay(
    sandbox: SandboxServer, mongo_uri: str, reference_db: tuple[str, Database[Any]],
    tmp_path: Path, trained_model: TrainedModel,
) -> None:  # fmt: skip
    name, undisturbed = reference_db
    home = tmp_path / "home"
    trained_model.promote_in_home(home, DEFAULT_DB)
    # The same sandbox swept twice at once: into the shared server undisturbed, and into
    # an embedded server of its own that is killed mid-sweep.
    ref_env = _env(TIEQUAN_MONGO_URI=mongo_uri, TIEQUAN_DB=name, TIEQUAN_HOME=str(tmp_path / "ref"))
    env = _env(TIEQUAN_HOME=str(home))
    reference = subprocess.Popen(
        _sweep(sandbox.base_url, tmp_path / "ref.json"), cwd=REPO, env=ref_env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    proc = subprocess.Popen(
        _sweep(sandbox.base_url, tmp_path / "run.json"), cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        killed = _kill_when_listings_arrive(home, proc, n=20)
        out, err = proc.communicate(timeout=180)
        _ref_out, ref_err = reference.communicate(timeout=180)
    finally:
        for p in (proc, reference):
            if p.poll() is None:
                p.kill()
                p.wait()
    assert reference.returncode == 0, ref_err[-3000:]
    # The sweep carried on, ended with its summary, and says what it kept aside.
    assert proc.returncode == 0, err[-3000:]
    assert "巡查批次" in out and "数据库曾中断" in out
    assert "警告：数据库曾中断" in err and "tiequan spool replay" in err
    assert "Traceback" not in err, err[-3000:]
    report = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    assert report["database"]["spooled"] > 0 and report["database"]["lost"] == 0
    assert report["database"]["outage_seconds"] > 0
    assert (
        report["sites"][SITE]["items"]
        == json.loads((tmp_path / "ref.json").read_text(encoding="utf-8"))["sites"][SITE]["items"]
    )
    assert not pid_alive(killed)

    waiting = spool.status(home)
    assert sum(f.records for f in waiting) == report["database"]["spooled"]
    replayed = subprocess.run(
        _command("spool", "replay"), cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert replayed.returncode == 0, replayed.stderr[-3000:]
    assert "已补写" in replayed.stdout
    assert not list((home / "spool").glob("*.jsonl*"))

    with EmbeddedServer(home / "db") as server:
        client = _client(server.uri)
        try:
            after = _store_by_key(client.tiequan)
        finally:
            client.close()
    expected = _store_by_key(undisturbed)
    assert expected["listings"] and expected["leads"] and expected["evidence"]
    for key in ("listings", "captures", "leads", "evidence", "runs"):
        assert after[key] == expected[key], key


def test_a_killed_embedded_server_is_started_again_on_its_port(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "db")
    server.start()
    try:
        client = _client(server.uri)
        client.t.notes.insert_one({"_id": 1})
        first_pid, port = server.pid, server.port
        assert first_pid is not None
        os.kill(first_pid, signal.SIGKILL)
        with pytest.raises(PyMongoError):
            client.t.notes.insert_one({"_id": 2})
        assert server.revive() is True
        assert server.port == port and server.pid != first_pid
        client.t.notes.insert_one({"_id": 2})  # the same client finds it again
        assert sorted(d["_id"] for d in client.t.notes.find()) == [1, 2]
        state = json.loads((tmp_path / "db" / STATE_FILE).read_text(encoding="utf-8"))
        assert (state["pid"], state["port"]) == (server.pid, port)
        assert server.revive() is False  # alive: left alone
        client.close()
    finally:
        server.stop()
    assert server.pid is None


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound on 127.0.0.1 but not listening: connections are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def test_a_database_that_is_not_there_is_one_line_and_exit_3(
    closed_port: int, tmp_path: Path
) -> None:
    env = _env(TIEQUAN_MONGO_URI=f"mongodb://127.0.0.1:{closed_port}", TIEQUAN_HOME=str(tmp_path))
    commands = {
        "sweep": _sweep("http://127.0.0.1:9", tmp_path / "r.json"),
        "demo": _command("demo"),
        "leads list": _command("leads", "list"),
    }
    pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    procs = {
        name: subprocess.Popen(cmd, cwd=REPO, env=env, **pipes) for name, cmd in commands.items()
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 3, (name, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1, (name, err)
        assert "数据库不可用" in lines[0] and str(closed_port) in lines[0], (name, err)
        assert "沙箱市场已启动" not in out  # the demo serves nothing without a database
