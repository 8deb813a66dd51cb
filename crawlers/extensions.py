"""A progress line per crawler while a sweep runs."""

from __future__ import annotations

import sys
from typing import Any

from rich.progress import TaskID
from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.statscollectors import StatsCollector
from twisted.internet import task

from tiequan.progress import BOARD, interactive

# How often a live line in a terminal is refreshed (plain lines keep their interval).
LIVE_REFRESH_S = 1.0


class ProgressExtension:
    """Prints pages, items and detector hits every ``TIEQUAN_PROGRESS_INTERVAL`` seconds.

    In a terminal (stderr a TTY) the line is a live one, refreshed every second, and
    stays on screen when the site is done; elsewhere (logs, pipes) plain lines as always.
    """

    def __init__(self, stats: StatsCollector, interval: float, live: bool | None = None) -> None:
        self.stats = stats
        self.interval = interval
        self.task: task.LoopingCall | None = None
        self.spider_name = ""
        self.live = interactive() if live is None else live
        self.board_task: TaskID | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProgressExtension:
        interval = crawler.settings.getfloat("TIEQUAN_PROGRESS_INTERVAL", 0.0)
        if interval <= 0:
            raise NotConfigured("TIEQUAN_PROGRESS_INTERVAL is not set")
        assert crawler.stats is not None
        ext = cls(crawler.stats, interval)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Spider) -> None:
        self.spider_name = spider.name
        if self.live:
            self.board_task = BOARD.add(self.line(self.stats.get_stats()))
        self.task = task.LoopingCall(self.report)
        self.task.start(
            min(self.interval, LIVE_REFRESH_S) if self.live else self.interval, now=False
        )

    def spider_closed(self, spider: Spider, reason: str) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        self.report(final=True)

    def report(self, final: bool = False) -> None:
        line = self.line(self.stats.get_stats()) + ("（完成）" if final else "")
        if self.board_task is not None:
            if final:
                BOARD.remove(self.board_task, line)
                self.board_task = None
            else:
                BOARD.update(self.board_task, line)
            return
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def line(self, stats: dict[str, Any]) -> str:
        hits = sum(v for k, v in stats.items() if k.startswith("detector/hits/"))
        return (
            f"[{self.spider_name}] 页面 {stats.get('response_received_count', 0)}"
            f" · 条目 {stats.get('item_scraped_count', 0)}"
            f" · 命中 {hits}"
            f" · 重试 {stats.get('retry/count', 0)}"
        )
