"""A database slower than the crawl makes the stages' items wait, not pile up in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scrapy.utils.test import get_crawler
from twisted.internet.defer import Deferred

import pipelines.batch as batch_module
from pipelines.batch import MAX_PENDING_BATCHES, BatchWriter
from pipelines.config import PipelineConfig
from tiequan.storage.breaker import CircuitBreaker


def test_items_wait_while_batches_pile_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each write is a Deferred the test fires by hand: a database that answers when told.
    writes: list[Deferred[None]] = []

    def slow_write(_fn: Any, _batch: list[dict[str, Any]]) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        writes.append(d)
        return d

    monkeypatch.setattr(batch_module, "deferToThread", slow_write)
    config = PipelineConfig(
        mongo_uri=None, home=tmp_path, run_id="R1", batch_size=10, config_dir=None, min_score=0.5
    )
    crawler = get_crawler()
    assert crawler.stats is not None
    stage: BatchWriter[dict[str, Any]] = BatchWriter(
        "store", config, crawler.stats, lambda db, b: None, dict, breaker=CircuitBreaker("test")
    )
    for n in range(10 * MAX_PENDING_BATCHES):
        stage.add({"n": n})
    assert stage.pending == MAX_PENDING_BATCHES
    assert stage.room() is None  # a backlog of MAX_PENDING_BATCHES is allowed
    for n in range(10):
        stage.add({"n": n})
    waiting = stage.room()
    assert waiting is not None
    fired: list[None] = []
    waiting.addCallback(fired.append)
    writes[0].callback(None)  # one batch written: the next one is being written
    assert stage.pending == MAX_PENDING_BATCHES
    assert fired == []  # the item waits for every batch flushed before it
    while len(writes) < MAX_PENDING_BATCHES + 1:
        writes[len(writes) - 1].callback(None)
    writes[-1].callback(None)
    assert fired == [None]
    assert stage.pending == 0
    assert stage.room() is None
    assert crawler.stats.get_value("store/max_pending_batches") == MAX_PENDING_BATCHES + 1
    assert crawler.stats.get_value("store/backpressure_waits") == 1
