"""The crawl-health monitors: Spidermon's own where they fit, ours for rates and trends.

Spidermon's count monitors (UnwantedHTTPCodesMonitor, RetryCountMonitor, ...) compare a
fixed number; a nightly sweep meets sites of 50 and of 50,000 pages, so errors, retries,
429s and robots.txt blocks are checked here as shares of the requests instead. The item
count is compared with the site's own recent runs in the database (Spidermon's
ZyteJobsComparisonMonitor reads Scrapy Cloud jobs, which this deployment has none of).
"""

from __future__ import annotations

import statistics
from typing import Any, ClassVar

from pymongo.errors import PyMongoError
from spidermon import MonitorSuite, monitors
from spidermon.contrib.scrapy.monitors import FieldCoverageMonitor, FinishReasonMonitor
from spidermon.contrib.scrapy.monitors.base import BaseScrapyMonitor

from crawlers.health.actions import MailAlerts, PostAlerts, RecordHealth
from crawlers.health.config import HealthThresholds
from pipelines.health_history import site_item_counts
from tiequan.storage.connect import StorageError, short_error


def percent(value: float) -> str:
    return f"{value * 100:.1f}%"


class HealthCheck(BaseScrapyMonitor):
    """A monitor that leaves a one-line Chinese summary for the run record."""

    check_id: ClassVar[str] = ""
    summary = ""

    @property
    def thresholds(self) -> HealthThresholds:
        return HealthThresholds.from_settings(self.crawler.settings)

    def stat(self, key: str) -> int:
        return int(self.data.stats.get(key) or 0)

    @property
    def requests(self) -> int:
        return self.stat("downloader/request_count")

    def verdict(self, ok: bool, summary: str) -> None:
        self.summary = summary
        self.assertTrue(ok, msg=summary)


@monitors.name("item_count")
class ItemCountTrendMonitor(HealthCheck):
    """Items against the median of the site's last finished runs."""

    check_id = "item_count"

    @monitors.name("item_count_against_recent_runs")
    def test_item_count_against_recent_runs(self) -> None:
        settings = self.crawler.settings
        uri = settings.get("TIEQUAN_MONGO_URI")
        limits = self.thresholds
        if not uri:
            self.summary = "未配置数据库地址，未与历史运行比较"
            self.skipTest(self.summary)
        try:
            counts = site_item_counts(
                uri,
                self.data.spider.name,
                limits.runs_compared,
                settings.get("TIEQUAN_RUN_ID"),
                limits.db_timeout_ms,
            )
        except (PyMongoError, StorageError) as exc:  # StorageError: unreachable at connect
            self.summary = f"读取历史运行失败，未比较：{short_error(exc)}"
            self.skipTest(self.summary)
        items = self.stat("item_scraped_count")
        if not counts:
            self.summary = f"条目 {items}；尚无正常结束的历史运行可比较"
            self.skipTest(self.summary)
        median = statistics.median(counts)
        floor = median * limits.min_items_ratio
        self.verdict(
            items >= floor,
            f"条目 {items}，近 {len(counts)} 次正常运行的中位数 {median:g}"
            f"（下限为其 {percent(limits.min_items_ratio)}，即 {floor:g}）",
        )


# Fewer events than this never alert: one 429 among a small site's ten requests is noise.
MIN_EVENTS = 3


class RateCheck(HealthCheck):
    """A share of the requests that must stay at or under a threshold."""

    what: ClassVar[str] = ""

    def counted(self) -> int:
        raise NotImplementedError

    def total(self) -> int:
        return self.requests

    def limit(self) -> float:
        raise NotImplementedError

    def check_rate(self) -> None:
        count, total, limit = self.counted(), self.total(), self.limit()
        rate = count / total if total else 0.0
        self.verdict(
            rate <= limit or count < MIN_EVENTS,
            f"{self.what} {count} 次 / 请求 {total} 次 = {percent(rate)}（上限 {percent(limit)}）",
        )


@monitors.name("error_rate")
class ErrorRateMonitor(RateCheck):
    check_id = "error_rate"
    what = "错误"

    def counted(self) -> int:
        return sum(
            self.stat(k)
            for k in ("log_count/ERROR", "spider_exceptions/count", "store/errors", "refer/errors")
        )

    def limit(self) -> float:
        return self.thresholds.max_error_rate

    @monitors.name("error_rate_within_limit")
    def test_error_rate(self) -> None:
        self.check_rate()


@monitors.name("retry_rate")
class RetryRateMonitor(RateCheck):
    check_id = "retry_rate"
    what = "重试"

    def counted(self) -> int:
        return self.stat("retry/count")

    def limit(self) -> float:
        return self.thresholds.max_retry_rate

    @monitors.name("retry_rate_within_limit")
    def test_retry_rate(self) -> None:
        self.check_rate()


@monitors.name("http_429")
class TooManyRequestsMonitor(RateCheck):
    check_id = "http_429"
    what = "429（请求过于频繁）响应"

    def counted(self) -> int:
        return self.stat("downloader/response_status_count/429")

    def total(self) -> int:
        return self.stat("downloader/response_count")

    def limit(self) -> float:
        return self.thresholds.max_429_rate

    @monitors.name("rate_limited_share_within_limit")
    def test_429_rate(self) -> None:
        self.check_rate()


@monitors.name("robots_blocked")
class RobotsBlockMonitor(RateCheck):
    """Requests robots.txt forbade (RobotsTxtMiddleware's stat): a share of all attempted."""

    check_id = "robots_blocked"
    what = "被 robots.txt 禁止的请求"

    def counted(self) -> int:
        return self.stat("robotstxt/forbidden")

    def total(self) -> int:
        return self.requests + self.counted()

    def limit(self) -> float:
        return self.thresholds.max_robots_share

    @monitors.name("robots_share_within_limit")
    def test_robots_share(self) -> None:
        self.check_rate()


class CrawlHealthSuite(MonitorSuite):
    """Run when each spider closes (SPIDERMON_SPIDER_CLOSE_MONITORS)."""

    monitors: ClassVar[list[Any]] = [
        ItemCountTrendMonitor,
        FieldCoverageMonitor,
        ErrorRateMonitor,
        RetryRateMonitor,
        TooManyRequestsMonitor,
        RobotsBlockMonitor,
        FinishReasonMonitor,
    ]
    monitors_finished_actions: ClassVar[list[Any]] = [RecordHealth]
    monitors_failed_actions: ClassVar[list[Any]] = [PostAlerts, MailAlerts]
