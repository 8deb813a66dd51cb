"""An embedded MongoDB-wire server (SecantusDB) run as a subprocess, one per data directory.

SecantusDB is GPL-2.0, so it is only ever launched as a separate program, never imported.
Several tiequan processes may share one data directory: the state file (pid, port, the
clients using it) is read and written under an fcntl lock; whoever leaves last stops it.
A killed process leaves nothing that blocks the next one: the lock is an fcntl lock (the
kernel drops it with the process), clients whose pid is gone are dropped from the state
file, and a state file whose server is dead or does not answer is replaced, with a log
line, by a new server.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import signal
import subprocess  # nosec B404 # starts the embedded database server, fixed argv
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from tiequan.settings import environment
from tiequan.storage.process import (
    EmbeddedServerError,
    find_executable,
    is_server_for,
    pid_alive,
    ping_port,
)

log = logging.getLogger(__name__)

STATE_FILE = "server.json"
LOCK_FILE = "server.lock"
LOG_FILE = "secantusd.log"
STORAGE_SUBDIR = "wt"
PING_ATTEMPTS = 3  # a busy machine may be slow to answer; a hung server never does
_LISTENING = re.compile(r"listening on [0-9.]+:(\d+)")
# Servers this process launched but left running for other clients; kept referenced so
# Popen is not collected while the child lives, and reaped once it exits.
_DETACHED: list[subprocess.Popen[bytes]] = []


def stop_process(pid: int, timeout: float) -> None:
    """SIGTERM ``pid``, then SIGKILL it if it is still there after ``timeout`` seconds."""
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid):
            if time.monotonic() > deadline:
                log.warning("pid %s ignored SIGTERM; killing it", pid)
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.05)
    except ProcessLookupError:
        pass


class EmbeddedServer:
    """Start (or join) the embedded server that owns ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.pid: int | None = None
        self.owner = False  # True when this instance launched the process
        self._proc: subprocess.Popen[bytes] | None = None
        self._token: str | None = None

    @property
    def storage_path(self) -> Path:
        return self.data_dir / STORAGE_SUBDIR

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    @property
    def uri(self) -> str:
        if self.pid is None:
            raise EmbeddedServerError("embedded server not started")
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> str:
        """Return the URI of the live server for data_dir, launching it if none runs."""
        if self._token is not None:
            return self.uri
        self.data_dir.mkdir(parents=True, exist_ok=True)
        token = f"{os.getpid()}:{uuid.uuid4().hex}"
        with self._locked():
            state = self._read_state()
            if state and self._state_is_live(state):
                self.pid, self.port, self.owner = int(state["pid"]), int(state["port"]), False
                log.debug("joining embedded server pid %s on port %s", self.pid, self.port)
            else:
                if state:
                    log.warning("removing stale embedded-server state %s", state)
                self._launch()
                state = {"pid": self.pid, "port": self.port, "clients": []}
            state["clients"] = [*self._live_clients(state), token]
            self._write_state(state)
        self._token = token
        return self.uri

    def stop(self) -> None:
        """Leave the server; stop it when no other live client still uses it."""
        if self._token is None:
            return
        with self._locked():
            state = self._read_state() or {}
            others = [c for c in self._live_clients(state) if c != self._token]
            if state.get("pid") == self.pid and others:
                state["clients"] = others
                if self._proc is not None:
                    _DETACHED.append(self._proc)
                    self._proc = None
                self._write_state(state)
                log.debug("embedded server left running for %d other client(s)", len(others))
            else:
                self._terminate()
                if state.get("pid") == self.pid:
                    (self.data_dir / STATE_FILE).unlink(missing_ok=True)
                elif state.get("pid"):  # another client restarted it (revive): leave it
                    state["clients"] = others
                    self._write_state(state)
        self._token = None
        self.pid = None

    def revive(self) -> bool:
        """Start the server again, on the same port, if it died; True when restarted.

        Clients reconnect by themselves to the same address. When another client already
        restarted it, this one joins that server.
        """
        if self._token is None or self.pid is None:
            return False
        if pid_alive(self.pid) and is_server_for(self.pid, self.storage_path):
            return False
        with self._locked():
            state = self._read_state() or {}
            if state.get("pid") != self.pid and self._state_is_live(state):
                self.pid, self.owner = int(state["pid"]), False
                return False
            if self._proc is not None:
                self._proc.wait(self.stop_timeout)  # reap the dead child
                self._proc = None
            log.warning(
                "embedded server pid %s on port %s died; starting it again", self.pid, self.port
            )
            self._launch()
            clients = sorted({*self._live_clients(state), self._token})
            self._write_state({"pid": self.pid, "port": self.port, "clients": clients})
        return True

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.data_dir / LOCK_FILE, "a+") as fh:
            deadline = time.monotonic() + self.start_timeout + self.stop_timeout
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EmbeddedServerError(
                            f"timed out waiting for the lock on {self.data_dir / LOCK_FILE}"
                        ) from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _read_state(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.data_dir / STATE_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("unreadable state file in %s: %s", self.data_dir, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self.data_dir / f"{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.data_dir / STATE_FILE)

    def _state_is_live(self, state: dict[str, Any]) -> bool:
        try:
            pid, port = int(state["pid"]), int(state["port"])
        except (KeyError, TypeError, ValueError):
            return False
        if not (pid_alive(pid) and is_server_for(pid, self.storage_path)):
            return False
        if any(ping_port(port, timeout_ms=3000) for _ in range(PING_ATTEMPTS)):
            return True
        # Hung (or left half-dead by a killed machine): it serves no one, so it would only
        # block every later run. It is this data directory's server, so it is ours to stop.
        log.warning(
            "embedded server pid %s owns %s but does not answer on port %s; stopping it "
            "and starting a new one",
            pid, self.data_dir, port,
        )  # fmt: skip
        stop_process(pid, self.stop_timeout)
        return False

    @staticmethod
    def _live_clients(state: dict[str, Any]) -> list[str]:
        clients = state.get("clients") or []
        return [c for c in clients if isinstance(c, str) and pid_alive(int(c.split(":")[0]))]

    def _launch(self) -> None:
        self.storage_path.mkdir(parents=True, exist_ok=True)
        cmd = [
            find_executable(),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--storage-path", str(self.storage_path),
            "--sync-on-commit",
            "--log-level", "INFO",
            # WiredTiger's default cache of 1 GB would let the server grow to that. The
            # default of 16M keeps a 100k-page sweep's server flat (bench/memory.py); reads
            # past it come from the OS page cache.
            "--cache-size", environment().db_cache,
            # Standalone: no replica-set advertisement, hence no oplog. tiequan opens no
            # change stream and no transaction, and the oplog's pruning (every 1,000
            # writes, under the store-wide lock, walking the oldest rows) stalled a
            # 100k-page sweep for half an hour; without it each write is also cheaper.
            "--standalone",
        ]  # fmt: skip
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log_fh:
            # Own session: a Ctrl-C aimed at one tiequan process must not kill a shared server.
            self._proc = subprocess.Popen(  # nosec B603 # fixed argv, no shell
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pid, self.owner = self._proc.pid, True
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise EmbeddedServerError(
                    f"embedded server exited with code {code} during start-up "
                    f"(data dir {self.data_dir}).\n{self._log_tail()}"
                )
            if self.port == 0:
                self.port = self._port_from_log(offset)
            if self.port and ping_port(self.port, timeout_ms=500):
                log.debug("embedded server pid %s listening on port %s", self.pid, self.port)
                return
            if time.monotonic() > deadline:
                self._terminate()
                raise EmbeddedServerError(
                    f"embedded server did not answer ping within {self.start_timeout:.0f} s "
                    f"(data dir {self.data_dir}).\n{self._log_tail()}"
                )
            time.sleep(0.1)

    def _port_from_log(self, offset: int) -> int:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                text = fh.read().decode(errors="replace")
        except OSError:
            return 0
        match = _LISTENING.search(text)
        return int(match.group(1)) if match else 0

    def _terminate(self) -> None:
        pid = self.pid
        if pid is None:
            return
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("embedded server pid %s ignored SIGTERM; killing it", pid)
                self._proc.kill()
                self._proc.wait(self.stop_timeout)
            self._proc = None
            return
        # Started by another process (or instance): we can signal it but not wait() on it.
        if not (pid_alive(pid) and is_server_for(pid, self.storage_path)):
            return
        stop_process(pid, self.stop_timeout)
        for proc in list(_DETACHED):
            if proc.poll() is not None:
                _DETACHED.remove(proc)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"(no server log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"last lines of {self.log_path}:\n{tail}"
