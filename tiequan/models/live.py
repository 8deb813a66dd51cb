"""The live model as the sweep and `tiequan detect` use it: loaded from the registry, never
trained on the way, and re-checked cheaply so that a promoted model is picked up without
a restart.

``LiveModel.current()`` returns the loaded detector; at most every ``recheck_seconds`` it
reads the ``live`` alias (one indexed read of one small document) and, when the alias
moved, loads and verifies the new version in the calling thread (the sweep's detection
worker, not the reactor), sharing the rules already compiled: the rules come from the
configuration the sweep started with. A failed re-check keeps the model in use and says
why in the log. The analysts' lexicon overlay (tiequan.models.lexicon) is re-checked the
same way: when its version moved, the rules are rebuilt around the model in use.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from detectors.combine import ListingDetector
from detectors.config import ConfigError
from tiequan.models.lexicon import LexiconStore, with_overlay
from tiequan.models.registry import LIVE, ModelRecord, Registry, RegistryError
from tiequan.settings import environment
from tiequan.storage.connect import connect_client, open_database

log = logging.getLogger(__name__)

NO_LIVE_MODEL = (
    "没有在用的检测模型：请先运行 tiequan train 训练模型，"
    "再用 tiequan models promote 上线（巡查不会自行训练）"
)


class NoLiveModel(RegistryError):
    """The registry has no live model; the message names the command that trains one."""


class ModelSource(Protocol):
    def current(self) -> ListingDetector: ...

    def close(self) -> None: ...


class FixedModel:
    """One detector for good (library use, and tests of the stages around it)."""

    def __init__(self, detector: ListingDetector) -> None:
        self.detector = detector

    def current(self) -> ListingDetector:
        return self.detector

    def close(self) -> None:
        pass


def live_record(registry: Registry) -> ModelRecord:
    """The live model's record; NoLiveModel when no model was ever promoted."""
    version = registry.alias(LIVE)
    if version is None:
        raise NoLiveModel(NO_LIVE_MODEL)
    return registry.get(version)


class LiveModel:
    """The registry's live model, re-read when the alias moves; see the module docstring."""

    def __init__(
        self,
        registry: Registry,
        config_dir: Path | None = None,
        *,
        recheck_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        client: MongoClient[dict[str, Any]] | None = None,
        build: bool = True,
    ) -> None:
        """``build=False``: only find the live version now (NoLiveModel at once); ``build()``
        compiles its rules and restores it later, e.g. in the sweep's detection thread."""
        self.registry = registry
        self.config_dir = config_dir
        self.recheck_seconds = recheck_seconds
        self.clock = clock
        self.client = client  # closed with the source when it was opened for it
        self._record: ModelRecord | None = live_record(registry)
        self.version = self._record.version
        self.lexicon = LexiconStore(registry.db)
        self.overlay = self.lexicon.overlay()
        self.checked = clock()
        self.reloads = 0
        if build:
            self.build()

    def build(self) -> ListingDetector:
        """Load the live version found at start (once; compiling the rules is most of it)."""
        if self._record is not None:
            # over the shipped lexicons
            self.base = self.registry.load_record(self._record, self.config_dir)
            self.detector = with_overlay(self.base, self.overlay)
            self._record = None
            self.checked = self.clock()
        return self.detector

    def current(self) -> ListingDetector:
        if self._record is not None:
            return self.build()
        now = self.clock()
        if now - self.checked < self.recheck_seconds:
            return self.detector
        self.checked = now
        try:
            version = self.registry.alias(LIVE)
            if version is not None and version != self.version:
                self.base = self.registry.load(version, like=self.base)
                self.detector = with_overlay(self.base, self.overlay)
                log.info("live model changed: %s -> %s", self.version, version)
                self.version = version
                self.reloads += 1
            if self.lexicon.version() != self.overlay.version:
                overlay = self.lexicon.overlay()
                self.detector = with_overlay(self.base, overlay)
                log.info("lexicon changed: %s -> %s", self.overlay.version, overlay.version)
                self.overlay = overlay
                self.reloads += 1
        except (PyMongoError, RegistryError, ConfigError) as exc:
            log.warning("live model not re-checked, %s stays in use: %s", self.version, exc)
        return self.detector

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def open_live(
    uri: str | None,
    config_dir: Path | None = None,
    *,
    recheck_seconds: float = 30.0,
    timeout_ms: int = 5000,
    build: bool = True,
) -> LiveModel:
    """The live model of the database at ``uri`` (TIEQUAN_DB), files under the model dir
    (``build``: see LiveModel)."""
    if not uri:
        raise RegistryError("读取在用模型需要数据库地址（TIEQUAN_MONGO_URI）")
    env = environment()
    client = connect_client(uri, timeout_ms)
    try:
        registry = Registry(client[env.db_name], env.model_dir)
        return LiveModel(
            registry, config_dir, recheck_seconds=recheck_seconds, client=client, build=build
        )
    except BaseException:
        client.close()
        raise


def verify_live(registry: Registry) -> ModelRecord:
    """The live model's record once its files are checked: a sweep's start-up check."""
    record = live_record(registry)
    registry.files.read(record)
    return record


def load_live(config_dir: Path | None = None) -> ListingDetector:
    """The live model of the configured database, once (`tiequan detect`, imports)."""
    env = environment()
    with open_database() as db:
        registry = Registry(db, env.model_dir)
        base = registry.load_record(verify_live(registry), config_dir)
        return with_overlay(base, LexiconStore(db).overlay())
