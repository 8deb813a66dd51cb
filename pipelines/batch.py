"""Batched database writes off the reactor thread, shared by the store and refer stages."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Generic, TypeVar

from bson.errors import BSONError
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, PyMongoError
from scrapy.statscollectors import StatsCollector
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from pipelines.config import PipelineConfig
from tiequan.storage.connect import open_database, resolve_home

logger = logging.getLogger(__name__)

T = TypeVar("T")
# The database refused a batch for what is in it (too large, not encodable), not an outage.
_REFUSED = (PyMongoError, BSONError)


class BatchWriter(Generic[T]):
    """Collects records and hands full batches to ``write`` in a worker thread.

    Batches are written one after another (a chain of Deferreds), so a slow database
    never sees more than one batch per stage at a time. A batch that fails is spooled
    to JSONL beside the data so nothing is lost, and counted in ``<stage>/errors``.
    When the database refused the batch for what is in it (a record over 16 MB, one
    that cannot be encoded), the records are written one by one, so that one bad record
    never takes its batch with it; only the records that still fail are spooled.
    Besides filling up, the buffer is flushed every ``config.flush_seconds`` by a timer on
    the reactor, so a crash of the process loses at most those seconds of work.
    """

    def __init__(
        self,
        stage: str,
        config: PipelineConfig,
        stats: StatsCollector,
        write: Callable[[Database[Any], list[T]], None],
        encode: Callable[[T], Any],
    ) -> None:
        self.stage = stage
        self.config = config
        self.stats = stats
        self._write = write
        self._encode = encode
        self._buffer: list[T] = []
        self._tail: Deferred[Any] = succeed(None)
        self._stack = ExitStack()
        # A reactor or a task.Clock, and its IDelayedCall (zope interfaces: typed loosely).
        self._clock: Any = None
        self._next: Any = None
        self.db: Database[Any] | None = None

    def open(self, clock: IReactorTime | Clock | None = None) -> None:
        """Connect, and start the flush timer (on ``clock``, by default the reactor)."""
        self.db = self._stack.enter_context(open_database(self.config.mongo_uri, self.config.home))
        self.start_timer(clock)

    def start_timer(self, clock: IReactorTime | Clock | None = None) -> None:
        # callLater rather than twisted's LoopingCall: LoopingCall() imports (and so
        # installs) the global reactor even when given another clock.
        if self.config.flush_seconds <= 0 or self._clock is not None:
            return
        if clock is None:
            if "twisted.internet.reactor" not in sys.modules:
                return  # used outside a crawl: importing it here would install one
            from twisted.internet import reactor  # the one Scrapy installed

            clock = reactor  # type: ignore[assignment]
        self._clock = clock
        self._next = self._clock.callLater(self.config.flush_seconds, self._tick)

    def _tick(self) -> None:
        if self._buffer:
            self.stats.inc_value(f"{self.stage}/timed_flushes")
            self.flush()
        if self._clock is not None:
            self._next = self._clock.callLater(self.config.flush_seconds, self._tick)

    def add(self, record: T) -> None:
        self._buffer.append(record)
        if len(self._buffer) >= self.config.batch_size:
            self.flush()

    def flush(self) -> Deferred[Any]:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self._tail.addCallback(lambda _: deferToThread(self.write_batch, batch))
            self._tail.addErrback(self._failed, batch)
        return self._tail

    def close(self) -> Deferred[Any]:
        if self._next is not None and self._next.active():
            self._next.cancel()
        self._clock = self._next = None
        done = self.flush()
        done.addBoth(self._close_db)
        return done

    def write_batch(self, batch: list[T]) -> None:
        """Write one batch (in a worker thread); raises when all of it must be spooled."""
        assert self.db is not None, "open() was not called"
        started = time.perf_counter()
        try:
            self._write(self.db, batch)
        except ConnectionFailure:
            raise  # the database is away: the whole batch goes to the spool
        except _REFUSED as exc:
            if len(batch) == 1:
                raise
            self._one_by_one(batch, exc)
        self.stats.inc_value(f"{self.stage}/batches")
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        self.stats.inc_value(f"{self.stage}/write_ms", elapsed_ms)

    def _one_by_one(self, batch: list[T], cause: Exception) -> None:
        assert self.db is not None
        refused: list[T] = []
        for record in batch:
            try:
                self._write(self.db, [record])
            except ConnectionFailure:
                raise
            except _REFUSED as exc:
                refused.append(record)
                logger.error("%s: a record was refused (%s)", self.stage, str(exc)[:300])
        self.stats.inc_value(f"{self.stage}/retried_batches")
        if refused:
            self.stats.inc_value(f"{self.stage}/errors", len(refused))
            path = self._spool(refused)
            logger.error(
                "%s: %d of %d records refused after the batch failed (%s); spooled to %s",
                self.stage,
                len(refused),
                len(batch),
                str(cause)[:200],
                path,
            )

    def _failed(self, failure: Failure, batch: list[T]) -> None:
        self.stats.inc_value(f"{self.stage}/errors")
        path = self._spool(batch)
        logger.error(
            "%s: writing a batch of %d failed (%s); spooled to %s",
            self.stage,
            len(batch),
            failure.getErrorMessage(),
            path,
        )

    def _spool(self, batch: list[T]) -> Path:
        spool = resolve_home(self.config.home) / "spool"
        spool.mkdir(parents=True, exist_ok=True)
        path = spool / f"{self.config.run_id}-{self.stage}.jsonl"
        with path.open("a", encoding="utf-8") as fh:
            for record in batch:
                fh.write(json.dumps(self._encode(record), ensure_ascii=False, default=str) + "\n")
        return path

    def _close_db(self, result: Any) -> Any:
        self._stack.close()
        self.db = None
        return result
