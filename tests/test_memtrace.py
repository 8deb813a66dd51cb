"""TIEQUAN_TRACEMALLOC: the sweep writes where its memory grew."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy import Spider
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler
from twisted.internet.task import Clock

from crawlers.memtrace import INTERVAL_S, MemoryTrace

# A crawler that installs no reactor in the test process (later tests build their own).
NO_REACTOR = {"TWISTED_REACTOR_ENABLED": False}

HELD: list[bytes] = []


def test_off_unless_asked() -> None:
    with pytest.raises(NotConfigured):
        MemoryTrace.from_crawler(get_crawler(settings_dict=NO_REACTOR))


def test_the_report_names_the_line_that_grew(tmp_path: Path) -> None:
    report = tmp_path / "trace" / "memory.txt"
    crawler = get_crawler(settings_dict={**NO_REACTOR, "TIEQUAN_TRACEMALLOC": str(report)})
    ext = MemoryTrace(crawler, Path(crawler.settings["TIEQUAN_TRACEMALLOC"]), clock=Clock())
    spider = Spider(name="probe")
    clock = ext.clock
    assert isinstance(clock, Clock)
    ext.spider_opened(spider)
    try:
        for _ in range(3):
            clock.advance(INTERVAL_S)
            HELD.extend(bytes(1024) + bytes([i % 256]) for i in range(4000))  # ~4 MB a tick
        ext.spider_closed(spider, "finished")
    finally:
        HELD.clear()
    text = report.read_text(encoding="utf-8")
    assert "snapshot 3:" in text  # three ticks and the one at close
    growth = text.split("== growth from memory.txt.0.snap to memory.txt.2.snap ==")[1]
    first = growth.strip().splitlines()[:3]
    assert first[0].startswith("+") and "MiB" in first[0]
    assert any("test_memtrace.py" in line for line in first[1:])
    assert "live tracked objects" in text
