"""A crawl worker's last stage when detection runs in `tiequan detect-worker` processes.

In place of stages 350–650 (OCR, detection, evidence, store, referral, follow-up), the
crawl worker stages each listing that passed validation and deduplication: the listing as
extracted, with what only the crawl saw and the later stages need (its raw HTTP exchange
and its licence page's, for the evidence stage; its revisit-list entry; its recrawl mark),
in the ``staged`` collection of the shared database, one document per listing per run.
Once a batch is written, its ids go into the run's detection queue in Redis
(``RunState.offer``: each id once per run). A detection worker takes ids from there under a
lease, runs the ordinary stages on the rebuilt items and deletes the staged documents once
their writes are done (tiequan.distributed.detect).

Why a staging collection rather than a WARC of every page in the evidence store: the
evidence store is write-once and content-addressed, so WARCs of the many unflagged pages
could never be deleted; and the evidence stage needs more than the WARC (the page for the
screenshot, the licence page). A staged document lives from the crawl of its page until a
detection worker is done with it, so the collection holds about the detection backlog.
Items go through ``BatchWriter`` like every writing stage (batched, off the reactor); the
crawl's request leases end only after it (pipelines.batch UPSTREAM), so the items of a killed
crawl worker are crawled again. Not spooled: a staged document holds bytes the JSONL spool
cannot (a batch the database refused is counted in ``handoff/unsaved`` and logged).
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from pymongo.database import Database
from pymongo.errors import BulkWriteError
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future

from crawlers.items import Licence, Listing, RawCapture
from crawlers.revisit import Target
from pipelines.batch import BatchWriter
from pipelines.config import PipelineConfig
from pipelines.recrawl import MODEL_VERSION_STAT
from tiequan.distributed.state import RunState, connect, detect_queue
from tiequan.settings import DistributedSettings
from tiequan.storage.bulk import DUPLICATE_KEY
from tiequan.storage.store import STAGED

HANDOFF_STAGE = "handoff"
_LISTING_FIELDS = {f.name for f in fields(Listing)}


def staged_id(run_id: str, key: str) -> str:
    """A staged document's id (and its entry in the queue): run and listing key."""
    return f"{run_id}/{key}"


def _raw_doc(raw: RawCapture | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    doc = asdict(raw)
    # Image URLs hold dots, which are no field names: a list of pairs instead of a map.
    doc["images"] = [[url, data] for url, data in raw.images.items()]
    return doc


def _raw_capture(doc: dict[str, Any] | None) -> RawCapture | None:
    if doc is None:
        return None
    return RawCapture(
        **{
            **doc,
            "request_headers": [(str(k), str(v)) for k, v in doc["request_headers"]],
            "response_headers": [(str(k), str(v)) for k, v in doc["response_headers"]],
            "body": bytes(doc["body"]),
            "dom": bytes(doc["dom"]) if doc.get("dom") is not None else None,
            "images": {str(url): bytes(data) for url, data in doc.get("images") or []},
        }
    )


def staged_doc(item: Listing, run_id: str) -> dict[str, Any]:
    """The staged form of an item: its stored form plus what only the crawl saw."""
    doc = item.to_dict()
    # An unchanged listing's evidence was fixed when it was last detected: no raw needed.
    needs_raw = item.revisit is not None or item.recrawl is None
    doc.update(
        _id=staged_id(run_id, item.key),
        run_id=run_id,
        raw=_raw_doc(item.raw) if needs_raw else None,
        licence_raw=_raw_doc(item.licence_raw) if needs_raw else None,
        revisit=asdict(item.revisit) if item.revisit is not None else None,
        recrawl=item.recrawl,
    )
    return doc


def staged_listing(doc: dict[str, Any]) -> Listing:
    """The item a staged document was made from, as the crawl's pipelines left it."""
    values = {k: v for k, v in doc.items() if k in _LISTING_FIELDS}
    licence = values.get("licence")
    if isinstance(licence, dict):
        values["licence"] = Licence(**licence)
    values["raw"] = _raw_capture(doc.get("raw"))
    values["licence_raw"] = _raw_capture(doc.get("licence_raw"))
    revisit = doc.get("revisit")
    if revisit is not None:
        values["revisit"] = Target(
            **{**revisit, "lead_ids": tuple(revisit["lead_ids"]),
               "categories": tuple(revisit["categories"])}
        )  # fmt: skip
    return Listing(**values)


def insert_staged(db: Database[Any], batch: list[dict[str, Any]]) -> None:
    """Insert staged documents; one already there (its page crawled again) is kept."""
    try:
        db[STAGED].insert_many(batch, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise


class HandoffPipeline:
    """Stage 400 of a crawl worker whose run detects in detection workers."""

    def __init__(
        self, writer: BatchWriter[dict[str, Any]], state: RunState, live_version: str | None
    ) -> None:
        self.writer = writer
        self.state = state
        self.live_version = live_version

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HandoffPipeline:
        assert crawler.stats is not None
        settings = crawler.settings
        config = PipelineConfig.from_settings(settings)
        distributed = DistributedSettings.from_env(
            {k: settings.get(k) for k in DistributedSettings.from_env({}).as_scrapy()}
        )
        state = RunState(connect(distributed), config.run_id, distributed.keys_ttl_s)
        stats = crawler.stats

        def write(db: Database[Any], batch: list[dict[str, Any]]) -> None:
            # Queued only once written: a detection worker never takes an id it cannot read.
            insert_staged(db, batch)
            by_site: dict[str, list[str]] = {}
            for doc in batch:
                by_site.setdefault(str(doc["platform"]), []).append(str(doc["_id"]))
            for site, ids in by_site.items():
                stats.inc_value("handoff/queued", state.offer(detect_queue(site), ids))

        writer = BatchWriter(HANDOFF_STAGE, config, stats, write, lambda r: r, spooled=False)
        return cls(writer, state, settings.get("TIEQUAN_LIVE_MODEL_VERSION") or None)

    def open_spider(self, spider: Spider | None = None) -> None:
        self.writer.open()
        if self.live_version:  # what the detection stage leaves for the recrawl stage
            self.writer.stats.set_value(MODEL_VERSION_STAT, self.live_version)

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, Listing):
            return item
        self.writer.add(staged_doc(item, self.writer.config.run_id))
        item.raw = item.licence_raw = None
        self.writer.stats.inc_value("handoff/staged")
        waiting = self.writer.room()
        if waiting is not None:
            await maybe_deferred_to_future(waiting)
        return item

    async def close_spider(self, spider: Spider | None = None) -> None:
        await maybe_deferred_to_future(self.writer.close())
