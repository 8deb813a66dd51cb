"""Batched database writes off the reactor thread, shared by the writing stages."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

from bson.errors import BSONError
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, PyMongoError
from scrapy.statscollectors import StatsCollector
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from pipelines.config import PipelineConfig
from tiequan.storage import spool
from tiequan.storage.breaker import CircuitBreaker, breaker_for
from tiequan.storage.connect import open_database, redact_uri, revive, short_error

logger = logging.getLogger(__name__)

T = TypeVar("T")
# Flushed batches of one stage not yet written, beyond which the stage's items wait: a
# database slower than the crawl then slows the crawl instead of filling the memory.
MAX_PENDING_BATCHES = 2
# The database refused a batch for what is in it (too large, not encodable), not an outage.
_REFUSED = (PyMongoError, BSONError)
# Crash consistency: a stage's batch is written only after what its records point at
# (an evidence set before the listing that names it, a listing before its lead), so a
# crash or an outage leaves records that point at nothing, never the other way round.
UPSTREAM: dict[str, tuple[str, ...]] = {
    "store": ("evidence",),
    "refer": ("evidence", "store"),
    "followup": ("evidence",),
    # a request is durably done only after what its items wrote (pipelines.frontier)
    "frontier": ("evidence", "store", "refer", "followup"),
    # the same for a distributed worker's leases (tiequan.distributed.scheduler)
    "leases": ("evidence", "store", "refer", "followup", "handoff"),
    # a detection worker's leases on staged listings (tiequan.distributed.detect)
    "detect_leases": ("evidence", "store", "refer", "followup"),
}
# The writers of one crawl, by stage; keyed by the crawl's stats collector, the one object
# every stage of a crawl is given.
_CRAWL_WRITERS: WeakKeyDictionary[StatsCollector, dict[str, BatchWriter[Any]]] = WeakKeyDictionary()


def _when_done(d: Deferred[Any]) -> Deferred[None]:
    """A Deferred that fires when ``d`` does, leaving ``d``'s own chain as it was."""
    out: Deferred[None] = Deferred()

    def fire(result: Any) -> Any:
        out.callback(None)
        return result

    d.addBoth(fire)
    return out


class BatchWriter(Generic[T]):
    """Collects records and hands full batches to ``write`` in a worker thread.

    Batches are written one after another (a chain of Deferreds), so a slow database
    never sees more than one batch per stage at a time. A batch that fails is spooled
    to JSONL beside the data so nothing is lost, and counted in ``<stage>/errors``.
    When the database refused the batch for what is in it (a record over 16 MB, one
    that cannot be encoded), the records are written one by one, so that one bad record
    never takes its batch with it; only the records that still fail are spooled.
    When the database is away, the batch is spooled and the process's circuit breaker
    for that database opens: later batches go to the spool at once, without waiting,
    until a probe finds the server again (tiequan.storage.breaker). The spool is replayed
    by the next command that opens the database (tiequan.sweep.replay).
    Besides filling up, the buffer is flushed every ``config.flush_seconds`` by a timer on
    the reactor, so a crash of the process loses at most those seconds of work.
    A stage awaits ``room()`` after adding: while more than ``MAX_PENDING_BATCHES`` batches
    wait for the database, its items wait too, so the backlog (and memory) stays bounded.
    """

    def __init__(
        self,
        stage: str,
        config: PipelineConfig,
        stats: StatsCollector,
        write: Callable[[Database[Any], list[T]], None],
        encode: Callable[[T], Any],
        breaker: CircuitBreaker | None = None,
        spooled: bool = True,
    ) -> None:
        self.stage = stage
        self.spooled = spooled  # False: a failed batch is counted and logged, not spooled
        self.config = config
        self.stats = stats
        self._write = write
        self._encode = encode
        self._buffer: list[T] = []
        self._tail: Deferred[Any] = succeed(None)
        self.pending = 0  # batches flushed, not yet written or spooled
        self._stack = ExitStack()
        # A reactor or a task.Clock, and its IDelayedCall (zope interfaces: typed loosely).
        self._clock: Any = None
        self._next: Any = None
        self.db: Database[Any] | None = None
        self.breaker = breaker or breaker_for(
            redact_uri(config.mongo_uri) if config.mongo_uri else "embedded",
            config.db_probe_seconds,
        )
        self._closing = False
        self._warned = False  # the spool path is logged once per stage and outage
        self._outage_base = (self.breaker.outage_seconds(), self.breaker.outages)
        _CRAWL_WRITERS.setdefault(stats, {})[stage] = self

    def open(self, clock: IReactorTime | Clock | None = None) -> None:
        """Connect, and start the flush timer (on ``clock``, by default the reactor)."""
        self.db = self._stack.enter_context(
            # No ping: a database that is away now is an outage like any other.
            open_database(
                self.config.mongo_uri,
                self.config.home,
                timeout_ms=self.config.db_timeout_ms,
                ping=False,
            )
        )
        self._outage_base = (self.breaker.outage_seconds(), self.breaker.outages)
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
            self.pending += 1
            self.stats.max_value(f"{self.stage}/max_pending_batches", self.pending)
            upstream = [_when_done(w.flush()) for w in self._upstream()]
            if upstream:
                self._tail.addCallback(lambda _: DeferredList(upstream))
            self._tail.addCallback(lambda _: deferToThread(self.write_batch, batch))
            self._tail.addErrback(self._failed, batch)
            self._tail.addBoth(self._written)
        return self._tail

    def _written(self, result: Any) -> Any:
        self.pending -= 1
        return result

    def room(self) -> Deferred[None] | None:
        """None when the backlog is small; else a Deferred that fires once the batches
        flushed so far are written (the caller's item waits for it)."""
        if self.pending <= MAX_PENDING_BATCHES:
            return None
        self.stats.inc_value(f"{self.stage}/backpressure_waits")
        return _when_done(self._tail)

    def _upstream(self) -> list[BatchWriter[Any]]:
        writers = _CRAWL_WRITERS.get(self.stats, {})
        return [writers[name] for name in UPSTREAM.get(self.stage, ()) if name in writers]

    def close(self) -> Deferred[Any]:
        if self._next is not None and self._next.active():
            self._next.cancel()
        self._clock = self._next = None
        self._closing = True  # the last batches probe a broken database once more
        done = self.flush()
        done.addBoth(self._close_db)
        return done

    def write_batch(self, batch: list[T]) -> None:
        """Write one batch (in a worker thread); raises when all of it must be spooled."""
        assert self.db is not None, "open() was not called"
        if not self.breaker.allow(self._probe, force=self._closing):
            self._spool_outage(batch)
            return
        started = time.perf_counter()
        try:
            self._write(self.db, batch)
        except ConnectionFailure as exc:
            self._outage(batch, exc)  # the database is away: the whole batch is spooled
            return
        except _REFUSED as exc:
            if len(batch) == 1:
                raise
            self._one_by_one(batch, exc)
        self.stats.inc_value(f"{self.stage}/batches")
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        self.stats.inc_value(f"{self.stage}/write_ms", elapsed_ms)

    def _probe(self) -> bool:
        """Does the database answer (an embedded server that died is started again)?"""
        assert self.db is not None
        revive(self.config.mongo_uri)
        try:
            self.db.client.admin.command("ping")
        except PyMongoError:
            return False
        return True

    def _outage(self, batch: list[T], exc: ConnectionFailure) -> None:
        self.breaker.trip(f"{type(exc).__name__}: {short_error(exc)}")
        self._spool_outage(batch)

    def _spool_outage(self, batch: list[T]) -> None:
        """Keep a batch the database could not take; the next command replays it."""
        path = self._spool(batch)
        if path is None:
            return
        self.stats.inc_value("db/spooled", len(batch))
        self.stats.inc_value(f"{self.stage}/spooled", len(batch))
        if not self._warned:
            self._warned = True
            logger.warning("%s: the database is away; records go to %s", self.stage, path)

    def _one_by_one(self, batch: list[T], cause: Exception) -> None:
        assert self.db is not None
        refused: list[T] = []
        for i, record in enumerate(batch):
            try:
                self._write(self.db, [record])
            except ConnectionFailure as exc:
                self._outage(batch[i:], exc)
                break
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
        if path is None:
            return
        logger.error(
            "%s: writing a batch of %d failed (%s); spooled to %s",
            self.stage,
            len(batch),
            failure.getErrorMessage(),
            path,
        )

    def _spool(self, batch: list[T]) -> Path | None:
        """Append ``batch`` to the stage's spool file; None (counted, logged) if that failed."""
        if not self.spooled:
            self.stats.inc_value(f"{self.stage}/unsaved", len(batch))
            logger.warning("%s: %d records not saved (not spooled)", self.stage, len(batch))
            return None
        path = spool.spool_path(self.config.home, self.config.run_id, self.stage)
        try:
            spool.append(path, (self._encode(record) for record in batch))
        except (OSError, TypeError, ValueError) as exc:
            self.stats.inc_value("db/lost", len(batch))
            logger.error(
                "%s: %d records lost: the spool failed too (%s)", self.stage, len(batch), exc
            )
            return None
        return path

    def _close_db(self, result: Any) -> Any:
        seconds, outages = self._outage_base
        down = self.breaker.outage_seconds() - seconds
        if down > 0:  # the database was away for a while during this stage
            self.stats.max_value("db/outage_seconds", round(down, 1))
            self.stats.max_value("db/outages", max(1, self.breaker.outages - outages))
        self._stack.close()
        self.db = None
        return result
