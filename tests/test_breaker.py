"""The circuit breaker: one outage, then no more waiting on every batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pymongo.errors import AutoReconnect
from scrapy.utils.test import get_crawler

from pipelines.batch import BatchWriter
from pipelines.config import PipelineConfig
from tiequan.storage import spool
from tiequan.storage.breaker import CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeDatabase:
    """A database that is up or down, and counts what it is asked (writes and pings)."""

    def __init__(self) -> None:
        self.up = True
        self.writes = 0
        self.pings = 0
        self.rows: list[dict[str, Any]] = []
        self.client = self
        self.admin = self

    def command(self, name: str) -> dict[str, Any]:
        self.pings += 1
        if not self.up:
            raise AutoReconnect("connection refused")
        return {"ok": 1}

    def write(self, _db: Any, batch: list[dict[str, Any]]) -> None:
        self.writes += 1
        if not self.up:
            raise AutoReconnect("connection closed")
        self.rows.extend(batch)


def make_writer(
    tmp_path: Path, fake: FakeDatabase, breaker: CircuitBreaker
) -> BatchWriter[dict[str, Any]]:
    config = PipelineConfig(
        mongo_uri=None, home=tmp_path, run_id="R1", batch_size=10, config_dir=None, min_score=0.5
    )
    crawler = get_crawler()
    assert crawler.stats is not None
    out: BatchWriter[dict[str, Any]] = BatchWriter(
        "store", config, crawler.stats, fake.write, dict, breaker=breaker
    )
    out.db = fake  # type: ignore[assignment]
    return out


def test_after_one_outage_batches_go_to_the_spool_without_asking(tmp_path: Path) -> None:
    clock, fake = FakeClock(), FakeDatabase()
    breaker = CircuitBreaker("test", probe_seconds=5.0, clock=clock)
    stage = make_writer(tmp_path, fake, breaker)
    stage.write_batch([{"n": 1}])
    fake.up = False
    stage.write_batch([{"n": 2}])  # this one finds out
    assert breaker.is_open and fake.writes == 2
    for n in range(3, 8):
        clock.now += 0.5
        stage.write_batch([{"n": n}])
    assert fake.writes == 2 and fake.pings == 0  # straight to the spool: no waiting
    clock.now += 3.0  # 5.5 s after the outage: one probe, still away
    stage.write_batch([{"n": 8}])
    assert fake.pings == 1 and fake.writes == 2
    fake.up = True
    clock.now += 1.0  # the next probe is not due yet
    stage.write_batch([{"n": 9}])
    assert fake.pings == 1 and breaker.is_open
    clock.now += 5.0
    stage.write_batch([{"n": 10}])  # the probe answers: the breaker closes, the batch goes in
    assert not breaker.is_open and fake.pings == 2
    assert [r["n"] for r in fake.rows] == [1, 10]
    lines = [line for f in spool.pending(tmp_path) for line in f.read_text().splitlines()]
    spooled = [spool.decode(line)["n"] for line in lines]
    assert spooled == list(range(2, 10))
    assert stage.stats.get_value("db/spooled") == 8
    assert breaker.outages == 1 and round(breaker.outage_seconds(), 1) == 11.5


def test_the_last_batch_probes_at_once(tmp_path: Path) -> None:
    clock, fake = FakeClock(), FakeDatabase()
    breaker = CircuitBreaker("test", probe_seconds=60.0, clock=clock)
    stage = make_writer(tmp_path, fake, breaker)
    fake.up = False
    stage.write_batch([{"n": 1}])
    fake.up = True
    clock.now += 2.0
    stage.write_batch([{"n": 2}])
    assert fake.rows == []  # a minute between probes: spooled
    stage._closing = True  # as close() does: the stage's last batches ask once more
    stage.write_batch([{"n": 3}])
    assert [r["n"] for r in fake.rows] == [3] and not breaker.is_open


def test_one_breaker_per_database_for_the_whole_process() -> None:
    from tiequan.storage.breaker import breaker_for

    assert breaker_for("mongodb://h:1") is breaker_for("mongodb://h:1")
    assert breaker_for("mongodb://h:1") is not breaker_for("mongodb://h:2")


def test_a_listing_batch_is_written_after_the_evidence_it_points_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from twisted.internet.defer import succeed

    import pipelines.batch

    # Synchronous worker "thread": the order of the writes is the order of the chain.
    monkeypatch.setattr(pipelines.batch, "deferToThread", lambda f, *a: succeed(f(*a)))
    order: list[str] = []
    config = PipelineConfig(
        mongo_uri=None, home=tmp_path, run_id="R1", batch_size=10, config_dir=None, min_score=0.5
    )
    crawler = get_crawler()
    assert crawler.stats is not None
    stages = {}
    for name in ("evidence", "store", "refer"):

        def write(_db: Any, batch: list[dict[str, Any]], name: str = name) -> None:
            order.extend(f"{name}:{r['n']}" for r in batch)

        stage: BatchWriter[dict[str, Any]] = BatchWriter(
            name, config, crawler.stats, write, dict, breaker=CircuitBreaker(name)
        )
        stage.db = object()  # type: ignore[assignment]
        stages[name] = stage
    stages["evidence"].add({"n": 1})  # buffers that are not full yet
    stages["store"].add({"n": 1})
    stages["refer"].add({"n": 1})
    stages["refer"].flush()  # a timed flush of the lead stage
    assert order == ["evidence:1", "store:1", "refer:1"]
    other = get_crawler()  # another crawl's stages are not waited for
    assert other.stats is not None
    lone: BatchWriter[dict[str, Any]] = BatchWriter(
        "store", config, other.stats, lambda _db, b: order.append("lone"), dict,
        breaker=CircuitBreaker("lone"),
    )  # fmt: skip
    lone.db = object()  # type: ignore[assignment]
    stages["evidence"].add({"n": 2})
    lone.add({"n": 2})
    lone.flush()
    assert order[-1] == "lone" and stages["evidence"]._buffer == [{"n": 2}]
