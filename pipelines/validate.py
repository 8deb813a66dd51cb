"""Stage 100: refuse items that cannot become evidence or leads."""

from __future__ import annotations

from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.statscollectors import StatsCollector

from crawlers.items import KINDS, Listing


class InvalidItem(DropItem):
    """The item lacks a field every later stage relies on."""


class ValidatePipeline:
    REQUIRED = ("platform", "item_id", "url", "title")

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        assert crawler.stats is not None
        return cls(crawler.stats)

    def process_item(self, item: Any, spider: Spider | None = None) -> Listing:
        if not isinstance(item, Listing):
            self._drop("type", f"expected Listing, got {type(item).__name__}")
        missing = [name for name in self.REQUIRED if not getattr(item, name)]
        if missing:
            self._drop("missing", f"{item.url or '?'}: missing {', '.join(missing)}")
        if item.kind not in KINDS:
            self._drop("kind", f"{item.url}: unknown kind {item.kind!r}")
        return item

    def _drop(self, reason: str, message: str) -> None:
        self.stats.inc_value(f"pipeline/dropped/invalid/{reason}")
        raise InvalidItem(message)
