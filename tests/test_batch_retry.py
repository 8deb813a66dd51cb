"""One record the database refuses never takes its batch with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pymongo.errors import DocumentTooLarge, ServerSelectionTimeoutError
from scrapy.utils.test import get_crawler

from pipelines.batch import BatchWriter
from pipelines.config import PipelineConfig
from tiequan.storage.breaker import CircuitBreaker


def writer(tmp_path: Path, written: list[dict[str, Any]]) -> BatchWriter[dict[str, Any]]:
    def write(_db: Any, batch: list[dict[str, Any]]) -> None:
        if any(r.get("away") for r in batch):
            raise ServerSelectionTimeoutError("no server")
        if any(len(r["text"]) > 100 for r in batch):
            raise DocumentTooLarge("BSON document too large")
        written.extend(batch)

    config = PipelineConfig(
        mongo_uri=None, home=tmp_path, run_id="R1", batch_size=10, config_dir=None, min_score=0.5
    )
    crawler = get_crawler()
    assert crawler.stats is not None
    breaker = CircuitBreaker("test")  # not the process's: tests must not share an outage
    out: BatchWriter[dict[str, Any]] = BatchWriter(
        "store", config, crawler.stats, write, dict, breaker=breaker
    )
    out.db = object()  # type: ignore[assignment]  # the fake write never touches it
    return out


def test_the_refused_record_alone_is_spooled(tmp_path: Path) -> None:
    written: list[dict[str, Any]] = []
    stage = writer(tmp_path, written)
    batch = [{"id": 1, "text": "a"}, {"id": 2, "text": "x" * 1000}, {"id": 3, "text": "c"}]
    stage.write_batch(batch)
    assert [r["id"] for r in written] == [1, 3]
    spooled = (tmp_path / "spool" / "R1-store.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in spooled] == [2]
    assert stage.stats.get_value("store/errors") == 1
    assert stage.stats.get_value("store/batches") == 1


def test_an_outage_spools_the_whole_batch_at_once(tmp_path: Path) -> None:
    written: list[dict[str, Any]] = []
    stage = writer(tmp_path, written)
    stage.write_batch([{"id": 1, "text": "a", "away": True}, {"id": 2, "text": "b"}])
    assert written == []
    spooled = (tmp_path / "spool" / "R1-store.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in spooled] == [1, 2]
    assert stage.stats.get_value("db/spooled") == 2
    assert stage.stats.get_value("store/errors") is None  # deferred, not failed
    assert stage.breaker.is_open


def test_a_timer_flushes_a_buffer_that_never_fills(tmp_path: Path) -> None:
    from twisted.internet.task import Clock

    written: list[dict[str, Any]] = []
    stage = writer(tmp_path, written)
    flushed: list[int] = []

    def flush() -> None:  # counts instead of writing: no worker thread in a unit test
        flushed.append(len(stage._buffer))
        stage._buffer.clear()

    stage.flush = flush  # type: ignore[method-assign,assignment]
    clock = Clock()
    stage.start_timer(clock)
    stage.add({"id": 1, "text": "a"})  # batch_size is 10: it would wait for nine more
    clock.advance(4.9)
    assert flushed == []
    clock.advance(0.2)
    assert flushed == [1]
    clock.advance(5.0)  # nothing new: no empty flush
    assert flushed == [1]
    assert stage.stats.get_value("store/timed_flushes") == 1
