"""One way to get a database: a real MongoDB via TIEQUAN_MONGO_URI, else the embedded server."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError

from tiequan.storage.embedded import EmbeddedServer

log = logging.getLogger(__name__)

DEFAULT_DB = "tiequan"
DEFAULT_TIMEOUT_MS = 5000

_USERINFO = re.compile(r"^(mongodb(?:\+srv)?://[^:@/]*:)[^@/]*@")
_SECRET_PARAM = re.compile(r"(?i)([?&][a-z]*password=)[^&]*")


class StorageError(RuntimeError):
    """The database could not be reached or opened."""


def redact_uri(uri: str) -> str:
    """The URI with its password (and any *password= option) replaced by ***."""
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\1***@", uri))


def resolve_home(home: Path | None = None) -> Path:
    return Path(home) if home is not None else Path(os.environ.get("TIEQUAN_HOME") or "./var")


def connect_client(uri: str, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> MongoClient[dict[str, Any]]:
    """A MongoClient that has answered ping, or a StorageError naming the redacted URI."""
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(
            uri,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            tz_aware=True,
            appname="tiequan",
        )
    except (PyMongoError, ValueError) as exc:
        raise StorageError(f"数据库地址无效 {redact_uri(uri)}: {exc}") from exc
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        client.close()
        raise StorageError(
            f"无法连接数据库 {redact_uri(uri)}（{timeout_ms} ms 内无响应）: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        ) from exc
    return client


@contextmanager
def open_database(
    uri: str | None = None,
    home: Path | None = None,
    db_name: str | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> Iterator[Database[dict[str, Any]]]:
    """Yield the tiequan database; close the client (and leave the embedded server) after.

    uri: argument, else env TIEQUAN_MONGO_URI, else an embedded server with its data in
    ``<home>/db`` (home: argument, else env TIEQUAN_HOME, else ./var).
    db_name: argument, else env TIEQUAN_DB, else "tiequan".
    """
    uri = uri or os.environ.get("TIEQUAN_MONGO_URI") or None
    name = db_name or os.environ.get("TIEQUAN_DB") or DEFAULT_DB
    server: EmbeddedServer | None = None
    if uri is None:
        server = EmbeddedServer(resolve_home(home) / "db")
        uri = server.start()
    try:
        client = connect_client(uri, timeout_ms)
        try:
            log.debug("connected to %s, database %s", redact_uri(uri), name)
            yield client[name]
        finally:
            client.close()
    finally:
        if server is not None:
            server.stop()
