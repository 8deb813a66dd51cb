"""Incremental recrawl: pages and listings that did not change are not processed again.

Two parts share one per-crawl index of the platform's stored listings
(tiequan.storage.recrawl), read in a worker thread when the spider opens:

- ``RecrawlMiddleware`` (downloader) sends item-page requests with If-None-Match /
  If-Modified-Since from the validators stored with the listing. The spider turns a 304
  into a bare item marked ``NOT_MODIFIED``.
- ``RecrawlPipeline`` (stage 50, before validation) rebuilds such an item from the stored
  listing, and hashes the extracted fields of every other one: a hash equal to the stored
  one marks it ``UNCHANGED`` and brings back what detection and OCR found last time.

A listing that another model version detected (the live model was retrained, or its
lexicons changed) is neither asked conditionally nor marked: it is processed in full
once, and stores the live version. The live version is the one the detection stage
loaded, which it leaves in the crawl stats (``MODEL_VERSION_STAT``).

Marked items skip OCR, detection and evidence, but still reach the store stage (a capture
per sighting, for the price history and the listing's last sighting) and the refer stage
(their leads' last_seen_at and nights). Items of the revisit list are always processed
in full: the takedown follow-up needs that night's page and evidence.

Scrapy's HttpCacheMiddleware with RFC2616Policy is not used: it keeps a second copy of
every page on disk and answers some requests from that copy without asking the site (a
Last-Modified heuristic, and the cached page in place of a 5xx), so a takedown could
go unseen; it also hands the cached body back to the spider, which would detect it again.

When the crawl finished normally, listings of earlier sweeps it did not see are marked
missing (``missing_since`` on the listing); those of handed-over leads are re-checked by
the takedown follow-up, which requests their pages directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import fields
from typing import Any
from weakref import WeakKeyDictionary

from pymongo.database import Database
from pymongo.errors import PyMongoError
from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.statscollectors import StatsCollector

from crawlers.items import NOT_MODIFIED, TRANSIENT_FIELDS, UNCHANGED, Licence, Listing
from crawlers.spiders.profile import ITEM_PAGE_META, RECRAWL_ITEM_META
from pipelines.config import PipelineConfig
from tiequan.storage.connect import StorageError, open_database
from tiequan.storage.listings import CAPTURE_FIELDS
from tiequan.storage.recrawl import RecrawlIndex, load_index, mark_missing, page_key, stored_listing
from tiequan.storage.store import utcnow

logger = logging.getLogger(__name__)

MODEL_VERSION_STAT = "detector/model_version"

# What the page did not show: per-sighting facts and what later stages derive.
_NOT_SHOWN = frozenset(
    {
        *CAPTURE_FIELDS,
        *TRANSIENT_FIELDS,
        "findings",
        "image_texts",
        "originals",
        "fields_sha256",
        "detector_version",
    }
)
_DERIVED = ("findings", "image_texts")
_LISTING_FIELDS = {f.name for f in fields(Listing)} - set(TRANSIENT_FIELDS)


def fields_sha256(item: Listing) -> str:
    """sha256 of the listing's fields as the page showed them."""
    shown = {k: v for k, v in item.to_dict().items() if k not in _NOT_SHOWN}
    blob = json.dumps(shown, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def restore(item: Listing, doc: dict[str, Any]) -> None:
    """Fill a 304 item from its stored listing; the sighting's own facts stay."""
    for name in _LISTING_FIELDS - set(CAPTURE_FIELDS) - {"platform", "item_id"}:
        if name in doc:
            setattr(item, name, doc[name])
    if isinstance(item.licence, dict):
        item.licence = Licence(**item.licence)
    item.etag = item.etag or doc.get("etag")
    item.last_modified = item.last_modified or doc.get("last_modified")


class RecrawlState:
    """One crawl's index and sightings, shared by the middleware and the pipeline."""

    def __init__(self, crawler: Crawler) -> None:
        assert crawler.stats is not None
        self.crawler = crawler
        self.stats: StatsCollector = crawler.stats
        self.enabled = crawler.settings.getbool("TIEQUAN_RECRAWL", True) and bool(
            crawler.settings.getwithbase("ITEM_PIPELINES").get("pipelines.store.StorePipeline")
        )
        self.config = PipelineConfig.from_settings(crawler.settings)
        self.seen: set[str] = set()
        self.db: Database[Any] | None = None
        self._stack = ExitStack()
        self._pool: ThreadPoolExecutor | None = None
        self._index: Future[RecrawlIndex | None] | None = None
        crawler.signals.connect(self.opened, signal=signals.spider_opened)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    def opened(self, spider: Spider) -> None:
        if not self.enabled:
            return
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiequan-recrawl")
        self._index = self._pool.submit(self._load, spider.name)

    def _load(self, platform: str) -> RecrawlIndex | None:
        try:
            self.db = self._stack.enter_context(
                open_database(self.config.mongo_uri, self.config.home,
                              timeout_ms=self.config.db_timeout_ms)
            )  # fmt: skip
            index = load_index(self.db, platform)
        except (PyMongoError, StorageError, OSError) as exc:
            logger.warning("recrawl index of %s unavailable, every page is processed: %s",
                           platform, exc)  # fmt: skip
            self.stats.inc_value("recrawl/index_errors")
            return None
        self.stats.set_value("recrawl/known_listings", len(index.fields))
        return index

    async def index(self) -> RecrawlIndex | None:
        if self._index is None:
            return None
        return await asyncio.wrap_future(self._index)

    def outdated(self, index: RecrawlIndex, item_id: str) -> bool:
        """Was the stored listing detected by another model than the live one?"""
        live = self.stats.get_value(MODEL_VERSION_STAT)
        return bool(live) and index.versions.get(item_id) != live

    async def stored(self, platform: str, item_id: str) -> dict[str, Any] | None:
        assert self._pool is not None and self.db is not None
        future = self._pool.submit(stored_listing, self.db, platform, item_id)
        return await asyncio.wrap_future(future)

    async def closed(self, spider: Spider, reason: str) -> None:
        try:
            index = await self.index() if reason == "finished" else None
            if index is not None and self.db is not None and self._pool is not None:
                known = index.item_ids
                missing = sorted(known - self.seen)
                back = sorted(index.missing & self.seen)
                self.stats.set_value("recrawl/missing", len(missing))
                future = self._pool.submit(
                    mark_missing, self.db, index.platform, missing=missing, back=back,
                    run_id=self.config.run_id, now=utcnow(),
                )  # fmt: skip
                try:
                    await asyncio.wrap_future(future)
                except PyMongoError as exc:
                    logger.warning("missing listings of %s not recorded: %s", index.platform, exc)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            self._stack.close()


_STATES: WeakKeyDictionary[Crawler, RecrawlState] = WeakKeyDictionary()


def recrawl_state(crawler: Crawler) -> RecrawlState:
    state = _STATES.get(crawler)
    if state is None:
        state = _STATES[crawler] = RecrawlState(crawler)
    return state


class RecrawlMiddleware:
    """Conditional requests for item pages whose stored listing has validators."""

    def __init__(self, state: RecrawlState) -> None:
        self.state = state

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecrawlMiddleware:
        return cls(recrawl_state(crawler))

    async def process_request(self, request: Request, spider: Spider | None = None) -> None:
        meta = request.meta
        if not meta.get(ITEM_PAGE_META) or meta.get("playwright") or RECRAWL_ITEM_META in meta:
            return None
        index = await self.state.index()
        known = index.pages.get(page_key(request.url)) if index is not None else None
        spider = self.state.crawler.spider
        revisits = getattr(spider, "revisits", None)
        if known is None or (callable(revisits) and known.item_id in revisits()):
            return None  # the takedown follow-up needs the page itself
        if index is not None and self.state.outdated(index, known.item_id):
            return None  # to be detected again, with its evidence: the page itself
        if known.etag:
            request.headers["If-None-Match"] = known.etag
        if known.last_modified:
            request.headers["If-Modified-Since"] = known.last_modified
        meta[RECRAWL_ITEM_META] = known.item_id
        meta["handle_httpstatus_list"] = [*meta.get("handle_httpstatus_list", ()), 304]
        self.state.stats.inc_value("recrawl/conditional_requests")
        return None


class RecrawlPipeline:
    def __init__(self, state: RecrawlState) -> None:
        self.state = state
        self.stats = state.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecrawlPipeline:
        return cls(recrawl_state(crawler))

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, Listing) or item.extra.get("gone"):
            return item
        self.state.seen.add(item.item_id)
        if item.recrawl == NOT_MODIFIED:
            doc = await self.state.stored(item.platform, item.item_id)
            if doc is None:  # removed from the database since the index was read
                self.stats.inc_value("recrawl/stale_index")
                raise DropItem(f"{item.url}: answered 304, but no stored listing to rebuild")
            restore(item, doc)
            self.stats.inc_value("recrawl/not_modified")
        item.fields_sha256 = fields_sha256(item)
        if item.recrawl == NOT_MODIFIED or not self.state.enabled:
            return item
        index = await self.state.index()
        if index is None:
            return item
        stored = index.fields.get(item.item_id)
        if stored is None:
            self.stats.inc_value("recrawl/new")
        elif stored != item.fields_sha256 or item.revisit is not None:
            self.stats.inc_value("recrawl/changed" if stored != item.fields_sha256 else
                                 "recrawl/revisited")  # fmt: skip
        elif self.state.outdated(index, item.item_id):
            self.stats.inc_value("recrawl/redetected")
        elif item.item_id not in index.derived:
            item.recrawl = UNCHANGED
        else:
            doc = await self.state.stored(item.platform, item.item_id)
            if doc is not None:  # else gone since the index was read: processed in full
                item.recrawl = UNCHANGED
                for name in _DERIVED:
                    setattr(item, name, doc.get(name) or [])
        if item.recrawl == UNCHANGED:
            item.detector_version = index.versions.get(item.item_id)
            self.stats.inc_value("recrawl/unchanged")
        return item
