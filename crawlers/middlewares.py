"""Downloader middlewares: retry with exponential backoff (replaces Scrapy's RetryMiddleware)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import NotConfigured
from scrapy.utils.response import response_status_message

from crawlers.crawl_settings import TiequanCrawlSettings

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response

log = logging.getLogger(__name__)

RETRY_AFTER_STATUSES = frozenset({429, 503})


def parse_retry_after(value: bytes | str | None) -> float | None:
    """Seconds from a numeric Retry-After header; HTTP dates and junk give None."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    try:
        seconds = float(text.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class BackoffRetryMiddleware:
    """Retry transient HTTP statuses and connection errors, waiting longer each time.

    The wait is ``RETRY_BACKOFF_BASE * 2**attempt`` seconds, capped at ``RETRY_BACKOFF_MAX``;
    a numeric Retry-After on 429/503 replaces it (still capped). Waiting is an asyncio
    sleep, so the reactor keeps serving other requests meanwhile.
    """

    def __init__(self, crawler: Crawler, config: TiequanCrawlSettings) -> None:
        self.crawler = crawler
        self.config = config
        self.exceptions = config.retry_exceptions

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> BackoffRetryMiddleware:
        config = TiequanCrawlSettings.from_settings(crawler.settings)
        if not config.retry_enabled:
            raise NotConfigured("RETRY_ENABLED is off")
        return cls(crawler, config)

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if (
            request.meta.get("dont_retry", False)
            or response.status not in self.config.retry_http_codes
        ):
            return response
        retry_after = None
        if response.status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        retry = await self._retry(
            request, response_status_message(response.status), str(response.status), retry_after
        )
        if retry is None:
            return response
        # a rendered page that we throw away must still be closed (response.meta is not
        # available yet here: the engine ties the response to its request later)
        await _close_page(request.meta.get("playwright_page"))
        return retry

    async def process_exception(self, request: Request, exception: Exception) -> Request | None:
        if request.meta.get("dont_retry", False) or not isinstance(exception, self.exceptions):
            return None
        await _close_page(request.meta.get("playwright_page"))
        return await self._retry(request, exception, type(exception).__name__, None)

    async def _retry(
        self, request: Request, reason: str | Exception, stat_key: str, retry_after: float | None
    ) -> Request | None:
        spider = self.crawler.spider
        assert spider is not None
        attempt = int(request.meta.get("retry_times", 0))
        retry = get_retry_request(
            request,
            spider=spider,
            reason=reason,
            max_retry_times=request.meta.get("max_retry_times", self.config.retry_times),
        )
        if retry is None:
            return None
        retry.meta.pop("playwright_page", None)
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"tiequan/retry/{stat_key}")
        delay = self.config.backoff_delay(attempt, retry_after)
        log.info("retrying %s in %.2fs (%s, attempt %d)", request.url, delay, stat_key, attempt + 1)
        if delay > 0:
            await asyncio.sleep(delay)
        return retry


async def _close_page(page: Any) -> None:
    if page is not None and not page.is_closed():
        await page.close()
