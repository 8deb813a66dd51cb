"""Stage 400: run the detectors over each listing's text and the text in its images.

One finding per category per listing. When a category fires both in the text and in a
product image, the stronger score wins (a tie goes to the text, whose spans point into
the listing itself); the winner keeps its own provenance, so a claim that fired only,
or more strongly, in an image is reported with ``image_url``/``image_text`` and spans
into that image text.

A crossed-out original price is checked against the listing's price history (its earlier
captures, tiequan.storage.prices) and becomes a ``price_fraud`` finding only when that
history proves the price was never charged. The history of a platform is read once per
crawl in its own thread, starting when the spider opens; a listing with a crossed-out
price that arrives before it is ready awaits it on the event loop (the reactor never
blocks), and the index stays in memory, capped by TIEQUAN_PRICE_HISTORY_MAX_LISTINGS, so
no listing costs a database read. (Per-listing lookups would cost one round trip each;
batching them would hold items back; one scan per night costs less than either.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from pymongo.errors import PyMongoError
from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import deferred_from_coro

from crawlers.items import Listing
from detectors import CATEGORY_IDS, Finding
from detectors.base import ListingContext
from detectors.combine import ListingDetector
from detectors.price import PriceFraudRule, price_fraud_finding
from pipelines.config import PipelineConfig
from pipelines.recrawl import MODEL_VERSION_STAT
from tiequan.models.live import LiveModel, ModelSource, open_live
from tiequan.referral import price_fraud_rule
from tiequan.settings import default, float_setting
from tiequan.storage.connect import StorageError
from tiequan.storage.listings import listing_id
from tiequan.storage.prices import PriceHistory, load_price_history
from tiequan.storage.store import utcnow

logger = logging.getLogger(__name__)

IMAGE_PREFIX = "商品图片中"
PRICE_FRAUD = "price_fraud"
_ORDER = {c: i for i, c in enumerate(CATEGORY_IDS)}


def listing_text(item: Listing) -> str:
    """The text the detectors read: title first, so split claims join up, then body and extras."""
    parts = [item.title, item.text]
    parts.extend(str(v) for v in item.extra.values() if isinstance(v, str) and v)
    return "\n".join(p for p in parts if p)


# The item kinds a profile declares, as the detectors' site kinds.
_SITE_KIND = {"product": "mall", "post": "social", "property": "property"}


def listing_context(item: Listing, hints: tuple[str, ...] = ()) -> ListingContext:
    """The page around the listing's text: site kind, category path, shop, profile hints."""
    category = item.extra.get("category")
    return ListingContext(
        site_kind=_SITE_KIND.get(item.kind, ""),
        category=category if isinstance(category, str) else "",
        shop=item.shop_name or "",
        hints=hints,
    )


def finding_record(finding: Finding, text: str) -> dict[str, Any]:
    record = finding.to_json()
    record["matched"] = list(finding.matched) or [text[s:e] for s, e in finding.spans]
    record["severity"] = finding.severity
    if finding.signals is not None:  # for active learning (tiequan.leads.learning)
        record["signals"] = finding.signals.to_json()
    return record


def image_explanation(explanation: str) -> str:
    """Say that the claim was in the product image: "商品图片中宣称…"."""
    if explanation.startswith(IMAGE_PREFIX):
        return explanation
    if explanation.startswith("宣称"):
        return IMAGE_PREFIX + explanation
    return f"{IMAGE_PREFIX}的文字：{explanation}"


def as_image_finding(finding: Finding, url: str, text: str) -> Finding:
    finding.image_url = url
    finding.image_text = text
    finding.explanation = image_explanation(finding.explanation)
    return finding


def merge_findings(
    text_findings: list[tuple[Finding, str]], image_findings: list[tuple[Finding, str]]
) -> list[tuple[Finding, str]]:
    """Keep the strongest finding per category, text first on ties; category order kept."""
    best: dict[str, tuple[Finding, str]] = {}
    for finding, source in [*text_findings, *image_findings]:
        held = best.get(finding.category)
        if held is None or finding.score > held[0].score:
            best[finding.category] = (finding, source)
    return sorted(best.values(), key=lambda fs: _ORDER.get(fs[0].category, len(_ORDER)))


class DetectPipeline:
    def __init__(self, config: PipelineConfig, stats: StatsCollector) -> None:
        self.config = config
        self.stats = stats
        self._detector: ListingDetector | None = None
        self.price_fraud_rule: PriceFraudRule | None = None
        self.executor: ThreadPoolExecutor | None = None
        self.history_pool: ThreadPoolExecutor | None = None
        self.started_at: datetime | None = None
        self._history: dict[str, Future[PriceHistory | None]] = {}
        self.crawler: Crawler | None = None
        # The registry's live model (tiequan.models.live); tests may hand in a FixedModel.
        self.models: ModelSource | None = None
        self._built: Future[None] | None = None  # the live model's build (open_spider)
        self.recheck_seconds = float(default("TIEQUAN_MODEL_RECHECK_SECONDS"))
        # The price history counts captures before this; None: the time the spider opens.
        # A distributed run's detection workers use the run's start (TIEQUAN_HISTORY_UNTIL).
        self.history_until: datetime | None = None

    @property
    def detector(self) -> ListingDetector | None:
        """The model in use; waits for its build (open_spider), so never on the reactor."""
        if self._built is not None:
            self._built.result()
        return self._detector

    @detector.setter
    def detector(self, detector: ListingDetector | None) -> None:
        self._detector = detector

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DetectPipeline:
        assert crawler.stats is not None
        pipeline = cls(PipelineConfig.from_settings(crawler.settings), crawler.stats)
        pipeline.crawler = crawler
        pipeline.recheck_seconds = float_setting(
            crawler.settings, "TIEQUAN_MODEL_RECHECK_SECONDS", 0.0, 86400.0
        )
        until = crawler.settings.get("TIEQUAN_HISTORY_UNTIL")
        if until:
            try:
                pipeline.history_until = datetime.fromisoformat(str(until))
            except ValueError as exc:
                raise ValueError(f"TIEQUAN_HISTORY_UNTIL is no ISO 8601 time: {until!r}") from exc
        return pipeline

    def open_spider(self, spider: Spider | None = None) -> None:
        # Rules plus the registry's live model, never trained here (the runner checked that
        # there is one); a promoted model is picked up per item, see tiequan.models.live.
        # One worker: detection is CPU-bound Python, so more threads would only contend.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiequan-detect")
        if self.models is None:
            # The live version is found here (no live model: the crawl does not start); its
            # rules are compiled in the detection thread while the first pages download,
            # and the first items to detect wait for it there (the thread runs in order).
            live = open_live(
                self.config.mongo_uri,
                self.config.config_dir,
                recheck_seconds=self.recheck_seconds,
                timeout_ms=self.config.db_timeout_ms,
                build=False,
            )
            self.models = live
            version: str = live.version
            self._built = self.executor.submit(self._build, live)
            self._built.add_done_callback(self._build_done)
        else:
            self.detector = self.models.current()
            version = self.detector.model_version_
        # Price fraud goes to the unit that handles prices whatever the goods: the category
        # its routing entry in categories.yaml names, not the listing's.
        self.price_fraud_rule = price_fraud_rule(self.config.config_dir)
        # The recrawl stage (pipelines.recrawl) re-detects listings another model detected.
        self.stats.set_value(MODEL_VERSION_STAT, version or None)
        # Only captures recorded before this crawl began count as history.
        self.started_at = self.history_until or utcnow()
        if self.config.price_history:
            self.history_pool = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="tiequan-price-history"
            )
            spider = spider or (self.crawler.spider if self.crawler else None)
            if spider is not None:  # start reading while the first pages download
                self.price_history(spider.name)

    def _build(self, live: LiveModel) -> None:
        """In the detection thread: compile the live model's rules and restore it."""
        started = time.perf_counter()
        self._detector = live.build()
        self.stats.set_value("detector/load_ms", round((time.perf_counter() - started) * 1000))

    def _build_done(self, future: Future[None]) -> None:
        """A model that cannot be built stops the crawl, as it would have at the start."""
        exc = future.exception()
        if exc is None or self.crawler is None or self.crawler.engine is None:
            return
        logger.error("the live model could not be loaded, the crawl stops: %s", exc)
        self.stats.inc_value("detector/load_errors")
        from twisted.internet import reactor  # the one Scrapy installed and runs

        crawler = self.crawler
        reactor.callFromThread(lambda: deferred_from_coro(crawler.stop_async()))  # type: ignore[attr-defined]

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None
        if self.history_pool is not None:
            self.history_pool.shutdown(wait=True, cancel_futures=True)
            self.history_pool = None
        self._history.clear()
        if self.models is not None:
            self.models.close()

    def price_history(self, platform: str) -> Future[PriceHistory | None]:
        """The platform's history, loading in the history thread on first request."""
        assert self.history_pool is not None, "price history is off or open_spider not called"
        future = self._history.get(platform)
        if future is None:
            future = self.history_pool.submit(self._load_history, platform)
            self._history[platform] = future
        return future

    def _load_history(self, platform: str) -> PriceHistory | None:
        assert self.started_at is not None, "open_spider was not called"
        started = time.perf_counter()
        try:
            history = load_price_history(
                self.config.mongo_uri,
                self.config.home,
                platform,
                until=self.started_at,
                days=self.config.price_history_days,
                max_listings=self.config.price_history_max_listings,
            )
        except (PyMongoError, StorageError, OSError) as exc:
            # Without a history no price-fraud finding is proven; the claims still are.
            logger.error("price history of %s unavailable: %s", platform, exc)
            self.stats.inc_value("price_history/errors")
            return None
        self.stats.inc_value("price_history/listings", len(history.listings))
        self.stats.inc_value("price_history/captures", history.captures)
        self.stats.inc_value("price_history/skipped_captures", history.skipped_captures)
        self.stats.inc_value("price_history/load_ms", round((time.perf_counter() - started) * 1000))
        return history

    def _detect(
        self, text: str, price: float | None, context: ListingContext, *, image: bool = False
    ) -> list[Finding]:
        assert self.detector is not None, "open_spider was not called"
        # The classifier learned listing descriptions, not the OCR of product images.
        found = self.detector.detect(text, price=price, context=context, model_only=not image)
        return [f for f in found if f.score >= self.config.min_score]

    async def process_item(self, item: Listing, spider: Spider | None = None) -> Listing:
        # Rules plus classifier cost about a millisecond per claim-bearing listing
        # (bench/detect.py): enough to stall downloads if run on the reactor thread.
        assert self.executor is not None, "open_spider was not called"
        if item.extra.get("gone"):  # a taken-down page (takedown follow-up): nothing to read
            return item
        history = None
        if self.history_pool is not None and item.original_price is not None:
            history = await asyncio.wrap_future(self.price_history(item.platform))
        if item.recrawl is not None:  # unchanged: its findings were brought back
            self.stats.inc_value("detector/skipped_unchanged")
            # The page is the same, but the price history grew: it may prove the
            # crossed-out price fictitious now.
            if all(f.get("category") != PRICE_FRAUD for f in item.findings):
                fraud = self.price_fraud(item, history)
                if fraud is not None:
                    item.findings.append(finding_record(fraud, listing_text(item)))
                    self.stats.inc_value(f"detector/hits/{PRICE_FRAUD}")
            return item
        spider = spider or (self.crawler.spider if self.crawler else None)
        hints = tuple(getattr(getattr(spider, "profile", None), "category_hints", ()))
        future = self.executor.submit(self.detect_item, item, history, hints)
        return await asyncio.wrap_future(future)

    def price_fraud(self, item: Listing, history: PriceHistory | None) -> Finding | None:
        """A price-fraud finding when the history proves the crossed-out price fictitious."""
        if history is None or item.original_price is None or item.price is None:
            return None
        assert self.price_fraud_rule is not None, "open_spider was not called"
        self.stats.inc_value("price_history/checked")
        observed = history.observed_prices(
            listing_id(item.platform, item.item_id), item.original_price
        )
        if not observed:
            self.stats.inc_value("price_history/unproven")
            return None
        finding = price_fraud_finding(
            item.price, item.original_price, observed, rule=self.price_fraud_rule
        )
        if finding is None or finding.score < self.config.min_score:
            return None
        # What the page showed, for the lead's 命中内容.
        finding.matched = [f"划线原价 {item.original_price:g} 元", f"现价 {item.price:g} 元"]
        return finding

    def detect_item(
        self, item: Listing, history: PriceHistory | None = None, hints: tuple[str, ...] = ()
    ) -> Listing:
        started = time.perf_counter()
        if self._built is not None:
            self._built.result()  # the model's build failed: so does each detection
        if self.models is not None:
            self.detector = self.models.current()
        text = listing_text(item)
        context = listing_context(item, hints)
        in_text = [(f, text) for f in self._detect(text, item.price, context)]
        in_images: list[tuple[Finding, str]] = []
        for image in item.image_texts:
            image_text = str(image.get("text") or "")
            if not image_text:
                continue
            for f in self._detect(image_text, item.price, context, image=True):
                in_images.append((as_image_finding(f, str(image["url"]), image_text), image_text))
        kept = merge_findings(in_text, in_images)
        item.findings = [finding_record(f, source) for f, source in kept]
        version = self.detector.model_version_ if self.detector else ""
        item.detector_version = version or None
        for record in item.findings:
            record["model_version"] = version
        self.stats.inc_value("detector/items")
        self.stats.inc_value("detector/ms", round((time.perf_counter() - started) * 1000))
        if item.image_texts:
            self.stats.inc_value("detector/image_texts", len(item.image_texts))
        for f, _source in kept:
            self.stats.inc_value(f"detector/hits/{f.category}")
            if f.image_url is not None:
                self.stats.inc_value(f"detector/image_hits/{f.category}")
        fraud = self.price_fraud(item, history)
        if fraud is not None:
            item.findings.append(finding_record(fraud, text))
            self.stats.inc_value(f"detector/hits/{PRICE_FRAUD}")
        return item
