from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from pymongo import MongoClient
from pymongo.database import Database

from detectors.config import default_config_dir
from tiequan.models.registry import LIVE, ModelRecord, Registry
from tiequan.models.training import record_corpus_model
from tiequan.storage.embedded import EmbeddedServer

# Shared fixtures live in plugin modules owned by their concern.
pytest_plugins = [
    "tests.fixtures_sandbox",
    "tests.fixtures_mongo",
    "tests.fixtures_web",
    "tests.fixtures_distributed",
]

# By default every run explores the same examples, so a red build is always reproducible
# (and no example database is written); HYPOTHESIS_PROFILE=dev explores new ones. No
# deadline: the first example pays for loading the detector, and machines are shared.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def shared_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One trained-model cache for the session: tests and their sweep subprocesses use
    their own TIEQUAN_HOME, and training the classifier once is enough."""
    with pytest.MonkeyPatch.context() as mp:
        if not os.environ.get("TIEQUAN_MODEL_DIR"):
            mp.setenv("TIEQUAN_MODEL_DIR", str(tmp_path_factory.mktemp("models")))
        yield


@dataclass
class TrainedModel:
    """The session's model, trained once, promoted into whichever database a test uses."""

    record: ModelRecord
    files: dict[str, bytes]

    def promote_in(self, db: Database[dict[str, Any]]) -> ModelRecord:
        registry = Registry(db, Path(os.environ["TIEQUAN_MODEL_DIR"]))
        registry.register(self.record, self.files)
        registry.set_alias(LIVE, self.record.version, by="tests", reason="session model")
        return self.record

    def promote_at(self, mongo_uri: str, db_name: str) -> ModelRecord:
        client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
        with client:
            return self.promote_in(client[db_name])

    def promote_in_home(self, home: Path, db_name: str) -> ModelRecord:
        """Live in the embedded server a sweep with this TIEQUAN_HOME will start."""
        server = EmbeddedServer(home / "db")
        try:
            return self.promote_at(server.start(), db_name)
        finally:
            server.stop()


@pytest.fixture(scope="session")
def trained_model(shared_model_dir: None) -> TrainedModel:
    """Trained explicitly, before any sweep: the library's cached corpus model (the one
    ListingDetector.from_config loads in the other tests), measured and registered."""
    return TrainedModel(*record_corpus_model(default_config_dir(), trained_by="tests"))


@pytest.fixture
def live_model(db: Database[dict[str, Any]], trained_model: TrainedModel) -> ModelRecord:
    """The session model, live in the test's database."""
    return trained_model.promote_in(db)


@pytest.fixture
def live_model_env(
    live_model: ModelRecord,
    db: Database[dict[str, Any]],
    mongo_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> ModelRecord:
    """The test's database, with the session model live, as this process's database."""
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    return live_model


@pytest.fixture
def live_crawl(
    live_model: ModelRecord,
    db: Database[dict[str, Any]],
    mongo_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """Scrapy settings under which the detect stage finds the session model live in the
    test's database (named by TIEQUAN_DB, set here for this process and its children)."""
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    return {"TIEQUAN_MONGO_URI": mongo_uri}
