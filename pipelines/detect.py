"""Stage 400: run the detectors over each listing's text and the text in its images.

One finding per category per listing. When a category fires both in the text and in a
product image, the stronger score wins (a tie goes to the text, whose spans point into
the listing itself); the winner keeps its own provenance, so a claim that fired only,
or more strongly, in an image is reported with ``image_url``/``image_text`` and spans
into that image text.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from crawlers.items import Listing
from detectors import CATEGORY_IDS, Finding
from detectors.combine import ListingDetector
from pipelines.config import PipelineConfig

IMAGE_PREFIX = "商品图片中"
_ORDER = {c: i for i, c in enumerate(CATEGORY_IDS)}


def listing_text(item: Listing) -> str:
    """The text the detectors read: title first, so split claims join up, then body and extras."""
    parts = [item.title, item.text]
    parts.extend(str(v) for v in item.extra.values() if isinstance(v, str) and v)
    return "\n".join(p for p in parts if p)


def finding_record(finding: Finding, text: str) -> dict[str, Any]:
    record = finding.to_json()
    record["matched"] = list(finding.matched) or [text[s:e] for s, e in finding.spans]
    record["severity"] = finding.severity
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
        self.detector: ListingDetector | None = None
        self.executor: ThreadPoolExecutor | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DetectPipeline:
        assert crawler.stats is not None
        return cls(PipelineConfig.from_settings(crawler.settings), crawler.stats)

    def open_spider(self, spider: Spider | None = None) -> None:
        # Rules plus the trained classifier; trains from the corpus on first use, then loads
        # the cached model from $TIEQUAN_MODEL_DIR or $TIEQUAN_HOME/models.
        started = time.perf_counter()
        self.detector = ListingDetector.from_config(self.config.config_dir)
        self.stats.set_value("detector/load_ms", round((time.perf_counter() - started) * 1000))
        # One worker: detection is CPU-bound Python, so more threads would only contend.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiequan-detect")

    def close_spider(self, spider: Spider | None = None) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None

    def _detect(self, text: str, price: float | None) -> list[Finding]:
        assert self.detector is not None, "open_spider was not called"
        return [
            f for f in self.detector.detect(text, price=price) if f.score >= self.config.min_score
        ]

    async def process_item(self, item: Listing, spider: Spider | None = None) -> Listing:
        # The classifier tokenises claim-bearing text with jieba: milliseconds per listing
        # that would stall every download if run on the reactor thread.
        assert self.executor is not None, "open_spider was not called"
        future = self.executor.submit(self.detect_item, item)
        return await asyncio.wrap_future(future)

    def detect_item(self, item: Listing) -> Listing:
        started = time.perf_counter()
        text = listing_text(item)
        in_text = [(f, text) for f in self._detect(text, item.price)]
        in_images: list[tuple[Finding, str]] = []
        for image in item.image_texts:
            image_text = str(image.get("text") or "")
            if not image_text:
                continue
            for f in self._detect(image_text, item.price):
                in_images.append((as_image_finding(f, str(image["url"]), image_text), image_text))
        kept = merge_findings(in_text, in_images)
        item.findings = [finding_record(f, source) for f, source in kept]
        self.stats.inc_value("detector/items")
        self.stats.inc_value("detector/ms", round((time.perf_counter() - started) * 1000))
        if item.image_texts:
            self.stats.inc_value("detector/image_texts", len(item.image_texts))
        for f, _source in kept:
            self.stats.inc_value(f"detector/hits/{f.category}")
            if f.image_url is not None:
                self.stats.inc_value(f"detector/image_hits/{f.category}")
        return item
