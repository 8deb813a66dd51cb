"""Stage 100: refuse items that cannot become evidence or leads; repair their text.

Text enters the system here for crawled items: lone surrogates (from ``\\ud800`` escapes
in JSON APIs) and control characters are replaced by U+FFFD one for one (offsets stay
valid) and counted in ``pipeline/repaired_chars``, so no later stage, store or browser
meets them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.statscollectors import StatsCollector

from crawlers.items import KINDS, Listing
from detectors.clean import repair_text


class InvalidItem(DropItem):
    """The item lacks a field every later stage relies on."""


class ValidatePipeline:
    REQUIRED = ("platform", "item_id", "url", "title")

    def __init__(self, stats: StatsCollector) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        assert crawler.stats is not None
        return cls(crawler.stats)

    def process_item(self, item: Any, spider: Spider | None = None) -> Listing:
        if not isinstance(item, Listing):
            self._drop("type", f"expected Listing, got {type(item).__name__}")
        missing = [name for name in self.REQUIRED if not getattr(item, name)]
        if missing:
            self._drop("missing", f"{item.url or '?'}: missing {', '.join(missing)}")
        if item.kind not in KINDS:
            self._drop("kind", f"{item.url}: unknown kind {item.kind!r}")
        repaired = repair_fields(item) + (repair_fields(item.licence) if item.licence else 0)
        if repaired:
            self.stats.inc_value("pipeline/repaired_chars", repaired)
        return item

    def _drop(self, reason: str, message: str) -> None:
        self.stats.inc_value(f"pipeline/dropped/invalid/{reason}")
        raise InvalidItem(message)


def repair_fields(record: Any) -> int:
    """Repair every string field (and list of strings) of a dataclass in place; the count."""
    count = 0
    for spec in dataclasses.fields(record):
        value = getattr(record, spec.name)
        fixed: Any
        if isinstance(value, str):
            fixed, n = repair_text(value)
        elif isinstance(value, list) and any(isinstance(v, str) for v in value):
            parts = [repair_text(v) if isinstance(v, str) else (v, 0) for v in value]
            fixed, n = [p for p, _ in parts], sum(k for _, k in parts)
        else:
            continue
        if n:
            setattr(record, spec.name, fixed)
            count += n
    return count
