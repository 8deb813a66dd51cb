"""Stage 350: read the text in each listing's product images (OCR) into ``image_texts``.

Images are downloaded through Scrapy's engine, so robots.txt, retries, throttling and
the downloader stats apply to them as to pages. OCR runs in a small worker pool off the
reactor thread, shared by every crawler in the process (one OCR engine per worker
thread), and is cached by image hash in memory and under ``TIEQUAN_OCR_CACHE_DIR``.
A failed image is counted and skipped; it never fails the listing or the crawl.
When the evidence stage runs, the bytes of each image read are kept on ``item.raw.images``
so the images that carried findings can be fixed as evidence without a second download.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.settings import BaseSettings
from scrapy.statscollectors import StatsCollector

from crawlers.assemble import keeps_raw
from crawlers.items import Listing
from detectors.ocr import ImageError, ImageText, ImageTextReader
from tiequan.settings import default, float_setting, int_setting
from tiequan.storage.connect import resolve_home

logger = logging.getLogger(__name__)

_MAX_IMAGES_LIMIT = 50
_MAX_THREADS = 16
_MAX_URLS = 50_000
# Recent image bytes kept for the evidence stage; older ones are downloaded again there.
_KEPT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class OcrConfig:
    enabled: bool
    max_images: int
    cache_dir: Path | None
    threads: int
    min_confidence: float
    max_bytes: int

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> OcrConfig:
        max_images = int_setting(settings, "TIEQUAN_OCR_MAX_IMAGES", 0, _MAX_IMAGES_LIMIT)
        threads = int_setting(settings, "TIEQUAN_OCR_THREADS", 1, _MAX_THREADS)
        min_confidence = float_setting(settings, "TIEQUAN_OCR_MIN_CONFIDENCE", 0.0, 1.0)
        max_bytes = int_setting(settings, "TIEQUAN_OCR_MAX_BYTES", 1, 2**31)
        raw_cache = settings.get("TIEQUAN_OCR_CACHE_DIR")
        cache_dir: Path | None
        if raw_cache is None:
            home = settings.get("TIEQUAN_HOME") or None
            cache_dir = resolve_home(Path(home) if home else None) / "ocr-cache"
        else:
            # An empty value switches the disk cache off (memory cache only).
            cache_dir = Path(raw_cache) if str(raw_cache) else None
        return cls(
            enabled=settings.getbool("TIEQUAN_OCR_ENABLED", default("TIEQUAN_OCR_ENABLED")),
            max_images=max_images,
            cache_dir=cache_dir,
            threads=threads,
            min_confidence=min_confidence,
            max_bytes=max_bytes,
        )


class _Pool:
    """One reader and one worker pool per configuration, shared by the process's crawlers."""

    def __init__(self, config: OcrConfig) -> None:
        self.reader = ImageTextReader(
            cache_dir=config.cache_dir,
            min_confidence=config.min_confidence,
            max_bytes=config.max_bytes,
        )
        self.executor = ThreadPoolExecutor(config.threads, thread_name_prefix="tiequan-ocr")
        self.users = 0


_POOLS: dict[OcrConfig, _Pool] = {}
_POOLS_LOCK = threading.Lock()


def acquire_pool(config: OcrConfig) -> _Pool:
    with _POOLS_LOCK:
        pool = _POOLS.get(config)
        if pool is None:
            pool = _POOLS[config] = _Pool(config)
        pool.users += 1
        return pool


def release_pool(config: OcrConfig) -> None:
    with _POOLS_LOCK:
        pool = _POOLS.get(config)
        if pool is None:
            return
        pool.users -= 1
        if pool.users <= 0:
            del _POOLS[config]
            pool.executor.shutdown(wait=False, cancel_futures=True)


def _timed_read(reader: ImageTextReader, body: bytes) -> tuple[ImageText, float]:
    started = time.perf_counter()
    result = reader.read(body)
    return result, time.perf_counter() - started


def image_urls(item: Listing, limit: int) -> list[str]:
    """The listing's distinct http(s) image URLs, in page order, at most ``limit``."""
    urls = [u for u in dict.fromkeys(item.image_urls) if u.startswith(("http://", "https://"))]
    return urls[:limit]


class ImageTextPipeline:
    def __init__(self, crawler: Crawler, config: OcrConfig, stats: StatsCollector) -> None:
        self.crawler = crawler
        self.config = config
        self.stats = stats
        self.pool: _Pool | None = None
        # URL -> task: a URL shared by several listings is downloaded and read once.
        self.by_url: dict[str, asyncio.Future[ImageText | None]] = {}
        self.keep_bytes = keeps_raw(crawler.settings)
        self.bodies: OrderedDict[str, bytes] = OrderedDict()
        self._body_bytes = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ImageTextPipeline:
        config = OcrConfig.from_settings(crawler.settings)
        if not config.enabled:
            raise NotConfigured("image OCR is off (TIEQUAN_OCR_ENABLED=False)")
        if config.max_images == 0:
            raise NotConfigured("image OCR is off (TIEQUAN_OCR_MAX_IMAGES=0)")
        assert crawler.stats is not None
        return cls(crawler, config, crawler.stats)

    def open_spider(self) -> None:
        self.pool = acquire_pool(self.config)

    def close_spider(self) -> None:
        if self.pool is not None:
            release_pool(self.config)
            self.pool = None
        self.by_url.clear()
        self.bodies.clear()
        self._body_bytes = 0

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, Listing) or not item.image_urls or item.recrawl is not None:
            return item
        urls = image_urls(item, self.config.max_images)
        tasks = []
        for url in urls:
            task = self.by_url.get(url)
            if task is None:
                self._forget_old_urls()
                task = self.by_url[url] = asyncio.ensure_future(self._read_url(url))
            else:
                self.stats.inc_value("ocr/url_repeats")
            tasks.append(task)
        results = await asyncio.gather(*tasks)
        item.image_texts = [
            {"url": url, "sha256": r.sha256, "text": r.text}
            for url, r in zip(urls, results, strict=True)
            if r is not None and r.text
        ]
        if item.raw is not None:
            for url in urls:
                body = self.bodies.get(url)
                if body is not None:
                    item.raw.images[url] = body
        return item

    def _keep(self, url: str, body: bytes) -> None:
        if not self.keep_bytes or url in self.bodies or len(body) > _KEPT_BYTES:
            return
        self.bodies[url] = body
        self._body_bytes += len(body)
        while self._body_bytes > _KEPT_BYTES:
            _, old = self.bodies.popitem(last=False)
            self._body_bytes -= len(old)

    def _forget_old_urls(self) -> None:
        """Bound the URL memory: drop the oldest finished entries (hashes stay cached)."""
        if len(self.by_url) < _MAX_URLS:
            return
        for url in [u for u, t in self.by_url.items() if t.done()][: _MAX_URLS // 4]:
            del self.by_url[url]

    async def _read_url(self, url: str) -> ImageText | None:
        body = await self._download(url)
        if body is None:
            return None
        self._keep(url, body)
        assert self.pool is not None, "open_spider was not called"
        reader = self.pool.reader
        seconds = 0.0
        try:
            # Only the in-memory cache is consulted here; disk and OCR go to a worker.
            hit = reader.cached_bytes(body)
            if hit is not None:
                result = hit
            else:
                loop = asyncio.get_running_loop()
                result, seconds = await loop.run_in_executor(
                    self.pool.executor, _timed_read, reader, body
                )
        except ImageError as exc:
            self.stats.inc_value("ocr/errors")
            logger.warning("cannot read image %s: %s", url, exc)
            return None
        except Exception:  # an engine failure on one odd image must not lose the listing
            self.stats.inc_value("ocr/errors")
            logger.exception("OCR failed on image %s", url)
            return None
        self.stats.inc_value("ocr/images")
        if result.source == "ocr":
            total = float(self.stats.get_value("ocr/seconds", 0.0)) + seconds
            self.stats.set_value("ocr/seconds", round(total, 3))
        else:
            self.stats.inc_value("ocr/cache_hits")
        return result

    async def _download(self, url: str) -> bytes | None:
        engine = self.crawler.engine
        assert engine is not None
        request = Request(
            url,
            meta={"download_maxsize": self.config.max_bytes, "tiequan_image": True},
            dont_filter=True,
        )
        try:
            response = await engine.download_async(request)
        except IgnoreRequest as exc:  # e.g. robots.txt forbids it
            self.stats.inc_value("ocr/download_failed")
            logger.info("image %s not downloaded: %s", url, exc)
            return None
        except Exception as exc:  # network errors after retries; never fatal for the item
            self.stats.inc_value("ocr/download_failed")
            logger.warning("image %s failed to download: %s", url, exc)
            return None
        if response.status != 200 or not response.body:
            self.stats.inc_value("ocr/download_failed")
            logger.warning("image %s answered HTTP %s", url, response.status)
            return None
        return response.body
