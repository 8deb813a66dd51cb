"""One way to get a database: a real MongoDB via TIEQUAN_MONGO_URI, else the embedded server."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pymongo import MongoClient, uri_parser
from pymongo.database import Database
from pymongo.errors import InvalidURI, PyMongoError
from pymongo.write_concern import WriteConcern

from tiequan.settings import environment
from tiequan.storage.embedded import EmbeddedServer
from tiequan.storage.process import EmbeddedServerError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_MS = 5000

_USERINFO = re.compile(r"^(mongodb(?:\+srv)?://[^:@/]*:)[^@/]*@")
_SECRET_PARAM = re.compile(r"(?i)([?&][a-z]*password=)[^&]*")


# Run once, by the next open_database of the process (the CLI arms the spool replay).
OpenHook = Callable[[Database[dict[str, Any]], Path | None], None]
_open_hooks: list[OpenHook] = []
# Embedded servers this process uses, by port: revive() restarts the one that died.
_embedded: dict[int, EmbeddedServer] = {}
_embedded_lock = threading.Lock()


class StorageError(RuntimeError):
    """The database could not be reached or opened."""


def run_on_next_open(hook: OpenHook | None) -> None:
    """Arm ``hook`` for the next open_database of this process (None: disarm)."""
    _open_hooks.clear()
    if hook is not None:
        _open_hooks.append(hook)


def short_error(exc: BaseException) -> str:
    """The first line of a database error, without pymongo's timeouts and topology."""
    # pymongo appends its timeouts and topology to the reason; the reason is enough.
    text = str(exc).split(" (configured timeouts", 1)[0].split(", Timeout:", 1)[0]
    return (text.splitlines() or [type(exc).__name__])[0][:200]


def redact_uri(uri: str) -> str:
    """The URI with its password (and any *password= option) replaced by ***."""
    return _SECRET_PARAM.sub(r"\1***", _USERINFO.sub(r"\1***@", uri))


def resolve_home(home: Path | None = None) -> Path:
    return Path(home) if home is not None else environment().home


def connect_client(
    uri: str, timeout_ms: int = DEFAULT_TIMEOUT_MS, *, ping: bool = True
) -> MongoClient[dict[str, Any]]:
    """A MongoClient that has answered ping (unless ``ping`` is False: it connects when
    first used), or a StorageError naming the redacted URI."""
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
    if not ping:
        return client
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        client.close()
        raise StorageError(
            f"无法连接数据库 {redact_uri(uri)}（{timeout_ms} ms 内无响应）：{short_error(exc)}"
        ) from exc
    return client


def write_concern_for(hello: Mapping[str, Any], *, embedded: bool) -> WriteConcern | None:
    """``majority`` for a replica-set member (its hello reply names a ``setName``), so an
    acknowledged write survives the loss of the primary; None (the server's default)
    for a standalone server and for the embedded one, which runs ``--standalone``."""
    if embedded or not hello.get("setName"):
        return None
    return WriteConcern("majority")


def _server_hello(client: MongoClient[dict[str, Any]], ping: bool) -> Mapping[str, Any]:
    """The server's hello reply; without ``ping`` (the server may be away) only what the
    URI says: its ``replicaSet`` option names the set."""
    if not ping:
        return {"setName": client.options.replica_set_name}
    try:
        reply: Mapping[str, Any] = client.admin.command("hello")
    except PyMongoError as exc:
        raise StorageError(f"数据库 hello 命令失败：{short_error(exc)}") from exc
    return reply


def _port_of(uri: str) -> int | None:
    try:
        nodes = uri_parser.parse_uri(uri)["nodelist"]
    except (InvalidURI, ValueError):
        return None
    return int(nodes[0][1]) if len(nodes) == 1 else None


def revive(uri: str | None) -> bool:
    """Restart, on its port, the embedded server at ``uri`` if this process uses it and it
    died; True when it was restarted. Other databases are left alone."""
    port = _port_of(uri) if uri else None
    with _embedded_lock:
        server = _embedded.get(port) if port is not None else None
        if server is None:
            return False
        try:
            return server.revive()
        except EmbeddedServerError as exc:
            log.warning("embedded server on port %s could not be restarted: %s", port, exc)
            return False


@contextmanager
def open_database(
    uri: str | None = None,
    home: Path | None = None,
    db_name: str | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    *,
    ping: bool = True,
) -> Iterator[Database[dict[str, Any]]]:
    """Yield the tiequan database; close the client (and leave the embedded server) after.

    uri: argument, else env TIEQUAN_MONGO_URI, else an embedded server with its data in
    ``<home>/db`` (home: argument, else env TIEQUAN_HOME, else ./var).
    db_name: argument, else env TIEQUAN_DB, else "tiequan".
    ping: False for a writer that copes with an outage itself (pipelines.batch): no
    error here when the server is away, the first write finds out.
    Writes use majority write concern when the server is a replica-set member
    (write_concern_for).
    A hook armed by run_on_next_open runs once, before the database is yielded.
    """
    settings = environment()
    uri = uri or settings.mongo_uri
    name = db_name or settings.db_name
    server: EmbeddedServer | None = None
    if uri is None:
        server = EmbeddedServer(resolve_home(home) / "db")
        uri = server.start()
        with _embedded_lock:
            _embedded.setdefault(server.port, server)
    try:
        client = connect_client(uri, timeout_ms, ping=ping)
        try:
            log.debug("connected to %s, database %s", redact_uri(uri), name)
            concern = write_concern_for(_server_hello(client, ping), embedded=server is not None)
            db = client.get_database(name, write_concern=concern)
            if _open_hooks and ping:
                _open_hooks.pop()(db, home)
            yield db
        finally:
            client.close()
    finally:
        if server is not None:
            with _embedded_lock:
                if _embedded.get(server.port) is server:
                    del _embedded[server.port]
            server.stop()
