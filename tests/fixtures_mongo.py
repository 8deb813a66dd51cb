"""Database fixtures: one embedded server per test session, a fresh database per test.

Set TIEQUAN_TEST_MONGO_URI to run the same tests against a real MongoDB instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from tiequan.storage.embedded import EmbeddedServer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """The session's embedded server (always started: embedded-server tests use its dir)."""
    server = EmbeddedServer(Path(tmp_path_factory.mktemp("mongo")) / "db")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_uri(mongo_server: EmbeddedServer) -> str:
    return os.environ.get("TIEQUAN_TEST_MONGO_URI") or mongo_server.uri


@pytest.fixture(scope="session")
def mongo_client(mongo_uri: str) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(
        mongo_uri, serverSelectionTimeoutMS=5000, tz_aware=True
    )
    yield client
    client.close()


@pytest.fixture
def db(mongo_client: MongoClient[dict[str, Any]]) -> Iterator[Database[dict[str, Any]]]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield mongo_client[name]
    mongo_client.drop_database(name)


def cli_env(mongo_uri: str, db_name: str, home: Path, **extra: str) -> dict[str, str]:
    """The environment of a `tiequan` child process that writes into ``db_name``."""
    env = dict(os.environ)
    env.update(
        TIEQUAN_MONGO_URI=mongo_uri,
        TIEQUAN_DB=db_name,
        TIEQUAN_HOME=str(home),
        PYTHONPATH=str(REPO),
        **extra,
    )
    return env
