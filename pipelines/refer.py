"""Stage 600: turn findings into leads in the case-referral queue."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from pymongo.database import Database
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import maybe_deferred_to_future

from crawlers.items import Listing
from pipelines.batch import BatchWriter
from pipelines.config import PipelineConfig
from tiequan.leads.cases import LeadRoute
from tiequan.leads.queue import LeadQueue

Pair = tuple[dict[str, Any], dict[str, Any]]
# The leads each crawl recorded, with their category and unit, keyed by its stats
# collector: the run report counts them from here. Reading them back from the database
# would make the embedded server load every lead of the run (it materialises a query's
# matches and fills its cache with them), a peak that grows with the run.
_CRAWL_LEADS: WeakKeyDictionary[StatsCollector, dict[str, LeadRoute]] = WeakKeyDictionary()


def crawl_leads(stats: StatsCollector) -> dict[str, LeadRoute]:
    """The leads a crawl (given by its stats collector) recorded, by id."""
    return _CRAWL_LEADS.get(stats, {})


class ReferPipeline:
    def __init__(self, writer: BatchWriter[Pair]) -> None:
        self.writer = writer

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ReferPipeline:
        assert crawler.stats is not None
        config = PipelineConfig.from_settings(crawler.settings)
        stats = crawler.stats
        recorded = _CRAWL_LEADS.setdefault(stats, {})

        def write(db: Database[Any], batch: list[Pair]) -> None:
            result = LeadQueue(db).record(batch, run_id=config.run_id)
            recorded.update(result.routes)
            stats.inc_value("leads/new", result.new)
            stats.inc_value("leads/seen_again", result.seen_again)

        return cls(BatchWriter("refer", config, stats, write, list))

    def open_spider(self, spider: Spider | None = None) -> None:
        self.writer.open()

    async def process_item(self, item: Listing, spider: Spider | None = None) -> Listing:
        if item.findings:
            listing = item.to_dict()
            del listing["findings"]
            for finding in item.findings:
                self.writer.add((listing, finding))
            waiting = self.writer.room()
            if waiting is not None:
                await maybe_deferred_to_future(waiting)
        return item

    async def close_spider(self, spider: Spider | None = None) -> None:
        await maybe_deferred_to_future(self.writer.close())
