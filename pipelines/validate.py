"""Stage 100: refuse items that cannot become evidence or leads; repair their text.

Text enters the system here for crawled items: lone surrogates (from ``\\ud800`` escapes
in JSON APIs) and control characters are replaced by U+FFFD one for one (offsets stay
valid) and counted in ``pipeline/repaired_chars``, so no later stage, store or browser
meets them.

A text field longer than TIEQUAN_MAX_FIELD_CHARS (default 1,000,000) is cut there, ends
with a visible marker, and its full text is written (in a worker thread) to the evidence
artefact store; ``Listing.originals`` records where (tiequan.evidence.originals). Counted
in ``pipeline/oversized_fields``. The detector then reads the first characters.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

from scrapy import Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem
from scrapy.statscollectors import StatsCollector

from crawlers.items import KINDS, TRANSIENT_FIELDS, Listing
from detectors.clean import repair_text
from pipelines.config import PipelineConfig, evidence_root
from tiequan.evidence.artefacts import ArtefactStore, EvidenceFiles
from tiequan.evidence.files import uses_gridfs
from tiequan.evidence.gridfs_files import GridFSArtefactStore
from tiequan.evidence.originals import cut_text
from tiequan.storage.connect import open_database

logger = logging.getLogger(__name__)
# (where, the text, how to put the cut text back)
LongField = tuple[str, str, Callable[[str], None]]


class InvalidItem(DropItem):
    """The item lacks a field every later stage relies on."""


class ValidatePipeline:
    REQUIRED = ("platform", "item_id", "url", "title")

    def __init__(
        self,
        stats: StatsCollector,
        max_field_chars: int,
        store: EvidenceFiles,
        config: PipelineConfig | None = None,
    ) -> None:
        self.stats = stats
        self.max_field_chars = max_field_chars
        self.store = store
        self.config = config
        self._stack = ExitStack()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ValidatePipeline:
        assert crawler.stats is not None
        config = PipelineConfig.from_settings(crawler.settings)
        store = ArtefactStore(evidence_root(crawler.settings))
        return cls(crawler.stats, config.max_field_chars, store, config)

    def open_spider(self, spider: Spider | None = None) -> None:
        """With TIEQUAN_EVIDENCE_STORE=gridfs, originals of cut fields go to GridFS."""
        if uses_gridfs() and self.config is not None:
            db = self._stack.enter_context(
                # No ping: a database away now fails the put, which cut_text reports.
                open_database(
                    self.config.mongo_uri,
                    self.config.home,
                    timeout_ms=self.config.db_timeout_ms,
                    ping=False,
                )
            )
            self.store = GridFSArtefactStore(db)

    def close_spider(self, spider: Spider | None = None) -> None:
        self._stack.close()

    async def process_item(self, item: Any, spider: Spider | None = None) -> Listing:
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
        long = list(long_fields(item, self.max_field_chars))
        if long:
            await asyncio.to_thread(self._cut, item, long)
        return item

    def _cut(self, item: Listing, long: list[LongField]) -> None:
        """Runs in a worker thread: hashing and writing megabytes would stall the crawl."""
        for where, text, put_back in long:
            cut, original = cut_text(
                text, self.max_field_chars, field=where, store=self.store, source_url=item.url
            )
            put_back(cut)
            item.originals.append(original.to_doc())
            self.stats.inc_value("pipeline/oversized_fields")
            logger.warning("%s: field %s has %d characters; cut to %d, the original kept as %s",
                           item.url, where, original.chars, self.max_field_chars,
                           original.sha256 or "(not saved)")  # fmt: skip

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


def long_fields(record: Any, limit: int, prefix: str = "") -> Iterator[LongField]:
    """Strings over ``limit`` characters in a dataclass: its fields, their lists and dicts
    (``extra``) and nested dataclasses (``licence``)."""
    for spec in dataclasses.fields(record):
        if spec.name in TRANSIENT_FIELDS:
            continue
        value = getattr(record, spec.name)
        where = prefix + spec.name
        if isinstance(value, str):
            if len(value) > limit:
                yield where, value, _setter(setattr, record, spec.name)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, str) and len(v) > limit:
                    yield f"{where}[{i}]", v, _setter(list.__setitem__, value, i)
        elif isinstance(value, dict):
            for key, v in value.items():
                if isinstance(v, str) and len(v) > limit:
                    yield f"{where}.{key}", v, _setter(dict.__setitem__, value, key)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            yield from long_fields(value, limit, f"{where}.")


def _setter(put: Callable[[Any, Any, str], None], target: Any, key: Any) -> Callable[[str], None]:
    return lambda text: put(target, key, text)
