"""Stage 500: store every listing (flagged or not) in batches."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future

from crawlers.items import Listing
from pipelines.batch import BatchWriter
from pipelines.config import PipelineConfig
from tiequan.storage.store import Store


def _write_listings(db: Database[Any], batch: list[dict[str, Any]]) -> None:
    Store(db).record_listings(batch)


class StorePipeline:
    def __init__(self, writer: BatchWriter[dict[str, Any]]) -> None:
        self.writer = writer

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StorePipeline:
        assert crawler.stats is not None
        config = PipelineConfig.from_settings(crawler.settings)
        return cls(BatchWriter("store", config, crawler.stats, _write_listings, lambda r: r))

    def open_spider(self, spider: Spider | None = None) -> None:
        self.writer.open()

    async def process_item(self, item: Listing, spider: Spider | None = None) -> Listing:
        if item.extra.get("gone"):
            # A taken-down page keeps the listing as it was last seen; the follow-up stage
            # records the removal on the lead and the evidence stage keeps the 404 page.
            self.writer.stats.inc_value("store/gone")
            return item
        if item.stored_by is not None:  # by the killed run this one resumes
            self.writer.stats.inc_value("store/stored_before")
            return item
        record = item.to_dict()
        record["run_id"] = self.writer.config.run_id
        self.writer.add(record)
        self.writer.stats.inc_value("store/listings")
        waiting = self.writer.room()
        if waiting is not None:
            await maybe_deferred_to_future(waiting)
        return item

    async def close_spider(self, spider: Spider | None = None) -> None:
        await maybe_deferred_to_future(self.writer.close())
