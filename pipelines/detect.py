"""Stage 400: run the detectors over each listing's text."""

from __future__ import annotations

from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.statscollectors import StatsCollector

from crawlers.items import Listing
from detectors import Detector, Finding
from pipelines.config import PipelineConfig


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


class DetectPipeline:
    def __init__(self, config: PipelineConfig, stats: StatsCollector) -> None:
        self.config = config
        self.stats = stats
        self.detector: Detector | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DetectPipeline:
        assert crawler.stats is not None
        return cls(PipelineConfig.from_settings(crawler.settings), crawler.stats)

    def open_spider(self, spider: Spider) -> None:
        self.detector = Detector.from_config(self.config.config_dir)

    def process_item(self, item: Listing, spider: Spider) -> Listing:
        assert self.detector is not None, "open_spider was not called"
        text = listing_text(item)
        findings = [
            f
            for f in self.detector.detect(text, price=item.price)
            if f.score >= self.config.min_score
        ]
        item.findings = [finding_record(f, text) for f in findings]
        self.stats.inc_value("detector/items")
        for f in findings:
            self.stats.inc_value(f"detector/hits/{f.category}")
        return item
