"""Where a long sweep's memory goes: tracemalloc snapshots compared at spider close.

Opt-in (``TIEQUAN_TRACEMALLOC=path``, a crawl setting; tracing slows the crawl several
times). A snapshot is taken every ``INTERVAL_S`` seconds and kept on disk next to
``path``; at close the report written to ``path`` compares the
first snapshot (warm: detector and indexes loaded) with the middle and the last ones by
traceback, and lists Scrapy's live tracked objects (``scrapy.utils.trackref``) and the
process's RSS at each snapshot.
"""

from __future__ import annotations

import logging
import os
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.utils.trackref import format_live_refs
from twisted.internet.interfaces import IReactorTime

logger = logging.getLogger(__name__)

FRAMES = 6  # traceback depth kept per allocation (deeper costs more time)
INTERVAL_S = 30.0
TOP = 25
_IGNORED = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, "<unknown>"),
)


def rss_bytes() -> int:
    """This process's resident set size, from /proc (0 where there is none)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Mark:
    """One snapshot on disk and what the process looked like when it was taken."""

    path: Path
    elapsed_s: float
    items: int
    traced: int
    rss: int


def compare(old: tracemalloc.Snapshot, new: tracemalloc.Snapshot, top: int = TOP) -> list[str]:
    """The ``top`` tracebacks whose memory grew most from ``old`` to ``new``."""
    lines: list[str] = []
    diffs = new.compare_to(old, "traceback")
    for stat in sorted(diffs, key=lambda s: s.size_diff, reverse=True)[:top]:
        lines.append(
            f"{stat.size_diff / 2**20:+.1f} MiB ({stat.count_diff:+d} blocks;"
            f" now {stat.size / 2**20:.1f} MiB in {stat.count} blocks)"
        )
        lines.extend(f"    {line}" for line in stat.traceback.format(most_recent_first=True))
    return lines


class MemoryTrace:
    def __init__(self, crawler: Crawler, path: Path, clock: IReactorTime | None = None) -> None:
        self.crawler = crawler
        self.path = path
        self.clock = clock  # None: the reactor
        self.marks: list[Mark] = []
        self.started = 0.0
        # Scheduled with callLater, not LoopingCall: LoopingCall() imports (and so installs)
        # the global reactor even when a test hands in its own clock.
        self.call: Any = None  # the IDelayedCall of the next snapshot
        self.owns_tracing = False  # tracing already on (python -X tracemalloc) is left on

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MemoryTrace:
        path = crawler.settings.get("TIEQUAN_TRACEMALLOC")
        if not path:
            raise NotConfigured  # no message: Scrapy would log a warning on every sweep
        ext = cls(crawler, Path(path))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not tracemalloc.is_tracing():
            tracemalloc.start(FRAMES)
            self.owns_tracing = True
        self.started = time.monotonic()
        if self.clock is None:
            from twisted.internet import reactor

            self.clock = cast("IReactorTime", reactor)
        self.tick(first=True)

    def tick(self, first: bool = False) -> None:
        if not first:
            self.snapshot()
        clock: Any = self.clock  # zope interfaces type their methods without self
        self.call = clock.callLater(INTERVAL_S, self.tick)

    def snapshot(self) -> None:
        stats = self.crawler.stats
        items = int(stats.get_value("item_scraped_count", 0)) if stats is not None else 0
        shot = tracemalloc.take_snapshot().filter_traces(_IGNORED)
        where = self.path.with_name(f"{self.path.name}.{len(self.marks)}.snap")
        shot.dump(str(where))
        traced, _peak = tracemalloc.get_traced_memory()
        self.marks.append(Mark(where, time.monotonic() - self.started, items, traced, rss_bytes()))

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.call is not None and self.call.active():
            self.call.cancel()
        self.snapshot()  # at close: what the crawl leaves behind
        if self.owns_tracing:
            tracemalloc.stop()
        lines = [f"tracemalloc report of {spider.name} ({reason}), {FRAMES} frames", ""]
        lines += [
            f"snapshot {i}: {m.elapsed_s:.0f} s, {m.items} items, traced"
            f" {m.traced / 2**20:.1f} MiB, RSS {m.rss / 2**20:.0f} MiB"
            for i, m in enumerate(self.marks)
        ]
        if len(self.marks) >= 3:
            # The last periodic snapshot, not the one at close (stages have flushed by then).
            marks = self.marks[:-1]
            first, middle, last = marks[0], marks[(len(marks) - 1) // 2], marks[-1]
            shots = {m.path: tracemalloc.Snapshot.load(str(m.path)) for m in (first, middle, last)}
            for old, new in ((first, middle), (middle, last), (first, last)):
                lines += ["", f"== growth from {old.path.name} to {new.path.name} =="]
                lines += compare(shots[old.path], shots[new.path])
        lines += ["", "== live tracked objects (scrapy.utils.trackref) ==", format_live_refs()]
        self.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        logger.info("tracemalloc report written to %s", self.path)
