"""Stage 650: takedown follow-up of listings whose leads were referred or admonished.

The sweep runner writes the revisit list (``TIEQUAN_FOLLOWUP_FILE``, crawlers.revisit);
the spider reads it, requests those pages again and marks their items (``Listing.revisit``).
Here each re-checked listing is classified (removed, changed, unchanged) and, when the
spider closes, listings of the list that the crawl never reached are recorded as not
seen. Without a list (most crawls: nothing was referred yet, or a plain ``scrapy crawl``)
the stage passes items through.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future

from crawlers.items import Listing
from crawlers.revisit import Target
from pipelines.batch import BatchWriter
from pipelines.config import PipelineConfig
from tiequan.leads.followup import (
    NOT_SEEN,
    Outcome,
    classify,
    followup_detail,
    record_followups,
)
from tiequan.storage.store import LEADS


def _encode(outcome: Outcome) -> dict[str, Any]:
    return {**asdict(outcome), "at": outcome.at.isoformat()}


class FollowupPipeline:
    def __init__(
        self, crawler: Crawler, writer: BatchWriter[Outcome], not_seen: bool = True
    ) -> None:
        self.crawler = crawler
        self.writer = writer
        # False in a distributed run's detection workers, which each see part of the run:
        # the run's recorder records the listings no worker saw (tiequan.distributed.detect).
        self.not_seen = not_seen
        self.targets: dict[str, Target] = {}
        self.seen: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FollowupPipeline:
        assert crawler.stats is not None
        config = PipelineConfig.from_settings(crawler.settings)
        stats = crawler.stats

        def write(db: Database[Any], batch: list[Outcome]) -> None:
            stats.inc_value("followup/leads_updated", record_followups(db[LEADS], batch))

        # Written at the close: follow-ups are few, and each lead is read-modify-written.
        writer = BatchWriter("followup", config, crawler.stats, write, _encode)
        return cls(crawler, writer, crawler.settings.getbool("TIEQUAN_FOLLOWUP_NOT_SEEN", True))

    def open_spider(self, spider: Spider | None = None) -> None:
        spider = spider or self.crawler.spider  # newer Scrapy calls this without the spider
        revisits = getattr(spider, "revisits", None)
        self.targets = dict(revisits()) if callable(revisits) else {}
        if self.targets:
            self.writer.open()

    def process_item(self, item: Listing, spider: Spider | None = None) -> Listing:
        target = item.revisit
        if target is None or item.item_id in self.seen:
            return item
        self.seen.add(item.item_id)
        gone = bool(item.extra.get("gone"))
        state = classify(target, gone=gone, findings=item.findings)
        self.writer.stats.inc_value(f"followup/{state}")
        self.writer.add(
            Outcome(
                target=target,
                state=state,
                run_id=self.writer.config.run_id,
                at=datetime.now(UTC),
                evidence_id=item.evidence_id,
                detail=followup_detail(target, status=item.status, url=item.final_url or item.url),
            )
        )
        return item

    async def close_spider(self, spider: Spider | None = None) -> None:
        if not self.targets:
            return
        now = datetime.now(UTC)
        for item_id, target in self.targets.items():
            if item_id not in self.seen and self.not_seen:
                self.writer.stats.inc_value(f"followup/{NOT_SEEN}")
                detail = followup_detail(target)
                self.writer.add(
                    Outcome(target, NOT_SEEN, self.writer.config.run_id, now, None, detail)
                )
        await maybe_deferred_to_future(self.writer.close())
