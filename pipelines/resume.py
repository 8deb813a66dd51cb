"""Stage 150: in a resumed crawl, what the killed run already wrote is not written again.

The durable frontier (pipelines.frontier) marks a request done only after its items were
written, so the requests a resumed run fetches again are those whose items were not,
or only partly, written when the process died: the evidence stage's batch may have gone
out while the store stage's had not. For each item of a resumed crawl, this stage looks
at what the earlier runs of the same crawl wrote (read once, at the start):
- the listing on a lead, recorded by one of them: the refer stage writes last, after the
  evidence and store stages, so the item was fully written; it is dropped here;
- a capture of it: the item is marked ``stored_by`` that run, and the store stage skips
  it (the refer stage may still have to record its findings);
- an evidence set of it: the item keeps that set's id, and the evidence stage fixes no
  second one.
Inert (one check per item) unless the crawl resumes.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.statscollectors import StatsCollector

from crawlers.items import Listing
from pipelines.config import PipelineConfig
from tiequan.storage.connect import open_database
from tiequan.storage.frontier import chain_runs
from tiequan.storage.listings import listing_id
from tiequan.storage.store import CAPTURES, EVIDENCE, LEADS

logger = logging.getLogger(__name__)


class AlreadyStored(DropItem):
    """The listing was stored by the killed run this crawl resumes."""


class ResumePipeline:
    def __init__(self, crawler: Crawler, stats: StatsCollector) -> None:
        self.crawler = crawler
        self.stats = stats
        self.active = crawler.settings.getbool(
            "TIEQUAN_DURABLE_FRONTIER"
        ) and crawler.settings.getbool("TIEQUAN_FRONTIER_RESUME")
        self.stored: dict[str, str] = {}
        self.referred: set[str] = set()
        self.evidence: dict[str, str] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ResumePipeline:
        assert crawler.stats is not None
        return cls(crawler, crawler.stats)

    def open_spider(self, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider
        if not self.active or spider is None or not self.stats.get_value("frontier/resumed_from"):
            self.active = False
            return
        config = PipelineConfig.from_settings(self.crawler.settings)
        with open_database(config.mongo_uri, config.home, timeout_ms=config.db_timeout_ms) as db:
            earlier = [r for r in chain_runs(db, spider.name) if r != config.run_id]
            query = {"platform": spider.name, "run_id": {"$in": earlier}}
            for doc in db[CAPTURES].find(query, {"listing_id": 1, "run_id": 1}):
                self.stored[str(doc["listing_id"])] = str(doc["run_id"])
            for lead in db[LEADS].find({"run_ids": {"$in": earlier}}, {"listings": 1}):
                for entry in lead.get("listings") or []:
                    if set(entry.get("run_ids") or ()) & set(earlier):
                        self.referred.add(listing_id(entry["platform"], entry["item_id"]))
            for doc in db[EVIDENCE].find(query, {"item_id": 1}):
                self.evidence[listing_id(spider.name, str(doc["item_id"]))] = str(doc["_id"])
        logger.info(
            "%s: runs %s stored %d listing(s), %d evidence set(s), %d on leads",
            spider.name, ", ".join(earlier), len(self.stored), len(self.evidence),
            len(self.referred),
        )  # fmt: skip

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not self.active or not isinstance(item, Listing):
            return item
        key = item.key
        if key in self.referred:
            self.stats.inc_value("resume/already_stored")
            self.stats.inc_value("pipeline/dropped/already_stored")
            raise AlreadyStored(f"listing {key} was stored by the run this one resumes")
        item.stored_by = self.stored.get(key)
        evidence_id = self.evidence.get(key)
        if evidence_id is not None:
            self.stats.inc_value("resume/evidence_kept")
            item.evidence_id = evidence_id
        return item
