"""The Spidermon extension, as tiequan runs it (EXTENSIONS, with SPIDERMON_ENABLED)."""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Spider
from scrapy.http import Response
from spidermon.contrib.scrapy.extensions import Spidermon
from spidermon.contrib.scrapy.runners import (
    LOG_MESSAGE_HEADER,
    SpiderMonitorResult,
    SpiderMonitorRunner,
)

from crawlers.health.config import ITEM_TYPE, LICENCE_KEY
from crawlers.items import Listing


class AlertLevelResult(SpiderMonitorResult):
    """Spidermon's log of a suite, with failures at WARNING instead of ERROR, written
    through the spider's logger (Spider.log, which Spidermon calls, is deprecated).

    Scrapy counts every ERROR line in log_count/ERROR, which the run report counts as a
    crawl error (and the error-rate monitor reads); a failed monitor is an alert about the
    crawl, recorded in its own ``health`` section, not an error of it.
    """

    def log_error(self, msg: Any) -> None:
        self.log(msg, level=logging.WARNING)

    def log(self, msg: Any, level: int = logging.DEBUG) -> None:
        self.spider.logger.log(level, "[%s] %s", LOG_MESSAGE_HEADER, msg)


class AlertLevelRunner(SpiderMonitorRunner):
    def create_result(self) -> AlertLevelResult:
        return AlertLevelResult(self.spider)


class HealthMonitor(Spidermon):
    """Spidermon with the runner above, and the licence's credit code in field coverage."""

    def _run_suites(self, spider: Spider, suites: list[Any]) -> None:
        # Spidermon's own loop, with AlertLevelRunner in place of SpiderMonitorRunner.
        data = self._generate_data_for_spider(spider)
        for suite in suites:
            AlertLevelRunner(spider=spider).run(suite, **data)

    def item_scraped(self, item: Any, response: Response, spider: Spider) -> None:
        super().item_scraped(item, response, spider)
        # Spidermon descends into dict fields only; Listing.licence is a dataclass.
        if isinstance(item, Listing) and item.licence is not None and item.licence.credit_code:
            self.crawler.stats.inc_value(f"spidermon_item_scraped_count/{ITEM_TYPE}/{LICENCE_KEY}")
