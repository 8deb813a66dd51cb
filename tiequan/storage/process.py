"""Process helpers for the embedded server: find it, probe it, tell if a pid is still it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError


class EmbeddedServerError(RuntimeError):
    """The embedded database server could not be started or reached."""


def find_executable() -> str:
    """`secantusd-py` next to the running interpreter (the venv), else on PATH."""
    local = Path(sys.executable).parent / "secantusd-py"
    if local.exists():
        return str(local)
    found = shutil.which("secantusd-py")
    if not found:
        raise EmbeddedServerError(
            "secantusd-py not found next to the Python interpreter or on PATH; "
            "install SecantusDB or set TIEQUAN_MONGO_URI"
        )
    return found


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # A zombie has exited; it only waits for its parent to reap it.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def is_server_for(pid: int, storage: Path) -> bool:
    """Guard against pid reuse: the process must be secantusd on this storage path."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return pid_alive(pid)
    args = [a.decode(errors="replace") for a in cmdline]
    return any("secantusd" in a for a in args) and str(storage) in args


def ping_port(port: int, timeout_ms: int = 1000) -> bool:
    client: MongoClient[dict[str, Any]] = MongoClient(
        "127.0.0.1",
        port,
        directConnection=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
    )
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()
