"""Stage 200: one item per listing and run (search pages overlap)."""

from __future__ import annotations

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.statscollectors import StatsCollector

from crawlers.items import Listing


class DuplicateItem(DropItem):
    """The listing was already processed in this run."""


class DedupPipeline:
    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupPipeline:
        assert crawler.stats is not None
        return cls(crawler.stats)

    def process_item(self, item: Listing, spider: Spider | None = None) -> Listing:
        key = item.key
        if key in self.seen:
            self.stats.inc_value("pipeline/dropped/duplicate")
            raise DuplicateItem(f"duplicate listing {key}")
        self.seen.add(key)
        return item
