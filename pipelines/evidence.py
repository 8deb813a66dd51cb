"""Stage 450: fix the evidence (固证) of every flagged listing, then drop the raw bytes.

For a listing with findings, into the content-addressed artefact store
(tiequan.evidence.artefacts), in a worker thread: a WARC of the page's HTTP exchange, the
page itself, the product images that carried a finding, and a full-page screenshot of what
was captured. The screenshot lays out the captured bytes (the rendered DOM of a
browser-rendered page) and the images already held offline in Chromium, through Scrapy's
engine and scrapy-playwright, with scripts off and every other request refused: it shows
what was detected and never fetches the page again (at most
TIEQUAN_EVIDENCE_SCREENSHOT_CONCURRENCY at once; a live screenshot beside it only with
TIEQUAN_EVIDENCE_LIVE_SCREENSHOT). The evidence document is written in batches
(pipelines.batch). A failed screenshot or image is noted on the evidence set, never
fatal. Every item leaves this stage with ``raw`` cleared, so no page bodies travel on to
the store stage.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pymongo.database import Database
from pymongo.errors import BulkWriteError
from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.statscollectors import StatsCollector
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy_playwright.page import PageMethod

from crawlers.assemble import raw_capture
from crawlers.items import Listing, RawCapture
from pipelines.batch import BatchWriter
from pipelines.config import EvidenceConfig, PipelineConfig
from tiequan.evidence.artefacts import ArtefactError, ArtefactStore, EvidenceFiles
from tiequan.evidence.capture import (
    Gathered,
    build_evidence_set,
    captured_page,
    finding_image_urls,
)
from tiequan.evidence.files import uses_gridfs
from tiequan.evidence.gridfs_files import GridFSArtefactStore
from tiequan.party import Jurisdictions, load_jurisdictions
from tiequan.storage.bulk import DUPLICATE_KEY
from tiequan.storage.store import EVIDENCE

logger = logging.getLogger(__name__)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIDENCE_META = "tiequan_evidence"
_CONTEXT = "tiequan-evidence"  # live screenshots get their own browser context
_OFFLINE_CONTEXT = "tiequan-evidence-offline"  # and captured pages another, without scripts
_MAX_IMAGE_BYTES = 12_000_000


def write_evidence(db: Database[Any], batch: list[dict[str, Any]]) -> None:
    """Insert evidence sets; one already there for this listing and run is kept as it is."""
    try:
        db[EVIDENCE].insert_many(batch, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise


@dataclass(frozen=True)
class OfflinePage:
    """What a screenshot of the captured page may load: the page and images held, nothing else.

    ``install`` is scrapy-playwright's page init callback: its route, registered after the
    handler's own, answers first (Playwright runs the newest matching route first).
    """

    body: bytes
    media_type: str
    images: dict[str, bytes]

    @classmethod
    def of(cls, raw: RawCapture, images: dict[str, bytes]) -> OfflinePage:
        body, media_type = captured_page(raw)
        return cls(body, media_type, {**raw.images, **images})

    async def install(self, page: Any, request: Request) -> None:
        served = asyncio.Event()

        async def answer(route: Any) -> None:
            asked = route.request
            if not served.is_set() and asked.is_navigation_request():
                served.set()
                await route.fulfill(status=200, headers={"content-type": self.media_type},
                                    body=self.body)  # fmt: skip
            elif asked.url in self.images:
                await route.fulfill(status=200, body=self.images[asked.url])
            else:
                await route.abort()

        await page.route("**", answer)


def licence_link(item: Listing) -> str | None:
    """The licence page the listing's licence was read from, when it is not the item page."""
    url = item.licence.url if item.licence is not None else None
    return url if url and url not in (item.url, item.final_url) else None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


class EvidencePipeline:
    def __init__(
        self,
        crawler: Crawler,
        config: PipelineConfig,
        evidence: EvidenceConfig,
        writer: BatchWriter[dict[str, Any]],
    ) -> None:
        self.crawler = crawler
        self.config = config
        self.evidence = evidence
        self.writer = writer
        self.stats: StatsCollector = writer.stats
        # The directory, or GridFS in the writer's database once open (TIEQUAN_EVIDENCE_STORE).
        self.store: EvidenceFiles = ArtefactStore(evidence.root)
        self.executor: ThreadPoolExecutor | None = None
        self.jurisdictions: Jurisdictions | None = None
        self._shots: asyncio.Semaphore | None = None
        self.no_browser = self._browser_missing(crawler)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> EvidencePipeline:
        assert crawler.stats is not None
        config = PipelineConfig.from_settings(crawler.settings)
        evidence = EvidenceConfig.from_settings(crawler.settings)
        writer = BatchWriter("evidence", config, crawler.stats, write_evidence, lambda r: r)
        return cls(crawler, config, evidence, writer)

    @staticmethod
    def _browser_missing(crawler: Crawler) -> str | None:
        """Why screenshots cannot work in this crawl, if they cannot (checked once)."""
        options = crawler.settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
        if not options.get("executable_path"):
            return "未找到 Chromium 浏览器（可设置 TIEQUAN_CHROMIUM）"
        handlers = crawler.settings.getwithbase("DOWNLOAD_HANDLERS")
        if "scrapy_playwright" not in str(handlers.get("http", "")):
            return "浏览器下载处理器未启用（DOWNLOAD_HANDLERS）"
        return None

    def open_spider(self, spider: Spider | None = None) -> None:
        self.jurisdictions = load_jurisdictions(self.config.config_dir)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tiequan-evidence")
        self._shots = asyncio.Semaphore(self.evidence.screenshot_concurrency)
        self.writer.open()
        if uses_gridfs():
            assert self.writer.db is not None
            self.store = GridFSArtefactStore(self.writer.db)

    async def close_spider(self, spider: Spider | None = None) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None
        await maybe_deferred_to_future(self.writer.close())

    async def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, Listing):
            return item
        raw, item.raw = item.raw, None
        licence_page, item.licence_raw = item.licence_raw, None
        # Listings under takedown follow-up get evidence whether or not they are flagged;
        # an unchanged listing's evidence was fixed when it was last detected.
        followup = item.revisit
        if followup is None and (not item.findings or item.recrawl is not None):
            return item
        if item.evidence_id is not None:  # fixed by the killed run this one resumes
            return item
        purpose = "detection" if item.findings else "followup"
        notes: list[str] = []
        if licence_page is None and licence_link(item) is not None:
            licence_page = await self._fetch_licence(str(licence_link(item)), notes)
        gathered = Gathered(
            item.to_dict(), self.config.run_id, purpose=purpose, raw=raw,
            licence_page=licence_page, notes=notes,
        )  # fmt: skip
        for url in finding_image_urls(item.findings):
            data = raw.images.get(url) if raw is not None else None
            if data is None:
                data = await self._download_image(url, gathered.notes)
            if data is not None:
                gathered.images[url] = data
        if self.evidence.screenshots:
            if raw is not None:
                gathered.screenshot = await self._screenshot(
                    raw.response_url, gathered.notes, offline=OfflinePage.of(raw, gathered.images)
                )
            else:
                gathered.notes.append("未保留采集内容，未能截图")
            if self.evidence.live_screenshot:
                gathered.live_screenshot = await self._screenshot(item.url, gathered.notes)
        assert self.executor is not None, "open_spider was not called"
        future = self.executor.submit(
            build_evidence_set, gathered, self.store, jurisdictions=self.jurisdictions
        )
        try:
            doc = await asyncio.wrap_future(future)
        except (ArtefactError, OSError) as exc:
            # The item still goes on to the store and refer stages; the failure is loud.
            self.stats.inc_value("evidence/errors")
            logger.error("evidence of %s could not be fixed: %s", item.key, exc)
            return item
        if followup is not None:
            doc["lead_ids"] = sorted({*doc.get("lead_ids", []), *followup.lead_ids})
        item.evidence_id = str(doc["_id"])
        self.writer.add(doc)
        waiting = self.writer.room()
        if waiting is not None:
            await maybe_deferred_to_future(waiting)
        self.stats.inc_value("evidence/sets")
        self.stats.inc_value("evidence/artefacts", len(doc["artefacts"]))
        self.stats.inc_value("evidence/bytes", sum(int(a["size"]) for a in doc["artefacts"]))
        return item

    async def _screenshot(
        self, url: str, notes: list[str], *, offline: OfflinePage | None = None
    ) -> bytes | None:
        """A full-page PNG: of the captured page when ``offline`` is given, else live."""
        if self.no_browser is not None:
            return self._shot_failed(url, notes, self.no_browser)
        method = PageMethod("screenshot", full_page=True, type="png")
        meta: dict[str, Any] = {
            "playwright": True,
            "playwright_context": _CONTEXT,
            "playwright_page_methods": [method],
            "playwright_page_goto_kwargs": {"wait_until": self.evidence.screenshot_wait},
            EVIDENCE_META: True,
        }
        if offline is not None:
            meta.update(
                playwright_context=_OFFLINE_CONTEXT,
                playwright_context_kwargs={"java_script_enabled": False},
                playwright_page_init_callback=offline.install,
                playwright_page_goto_kwargs={"wait_until": "load"},
            )
        request = Request(url, meta=meta, dont_filter=True)
        engine = self.crawler.engine
        assert engine is not None and self._shots is not None
        async with self._shots:
            try:
                response = await engine.download_async(request)
            except IgnoreRequest as exc:  # e.g. robots.txt forbids the page
                return self._shot_failed(url, notes, f"请求被忽略（{_short(exc)}）")
            except Exception as exc:  # browser or network failure: note it, keep the rest
                return self._shot_failed(url, notes, _short(exc))
        data = method.result
        if not isinstance(data, bytes) or not data.startswith(PNG_MAGIC):
            return self._shot_failed(url, notes, "浏览器未返回 PNG 图像")
        if offline is None and response.status >= 400:
            notes.append(f"实时截图时页面返回 HTTP {response.status}")
        self.stats.inc_value("evidence/screenshots")
        return data

    def _shot_failed(self, url: str, notes: list[str], reason: str) -> bytes | None:
        self.stats.inc_value("evidence/screenshot_failed")
        logger.warning("screenshot of %s failed: %s", url, reason)
        notes.append(f"截图失败：{reason}")
        return None

    async def _fetch_licence(self, url: str, notes: list[str]) -> RawCapture | None:
        """The shop's licence page again, when the crawl no longer held the first fetch."""
        engine = self.crawler.engine
        assert engine is not None
        try:
            response = await engine.download_async(Request(url, dont_filter=True))
        except Exception as exc:  # any download failure only costs this one artefact
            notes.append(f"营业执照页面未能保存：{url}（{_short(exc)}）")
            return None
        if response.status != 200:
            notes.append(f"营业执照页面未能保存：{url}（HTTP {response.status}）")
            return None
        self.stats.inc_value("evidence/licence_refetched")
        notes.append("营业执照页面为固证时重新获取")
        return raw_capture(response)

    async def _download_image(self, url: str, notes: list[str]) -> bytes | None:
        """An image the image stage no longer holds, fetched again through the engine."""
        engine = self.crawler.engine
        assert engine is not None
        request = Request(url, meta={"download_maxsize": _MAX_IMAGE_BYTES}, dont_filter=True)
        try:
            response = await engine.download_async(request)
        except Exception as exc:  # any download failure only costs this one artefact
            notes.append(f"商品图片未能保存：{url}（{_short(exc)}）")
            return None
        if response.status != 200 or not response.body:
            notes.append(f"商品图片未能保存：{url}（HTTP {response.status}）")
            return None
        return response.body
