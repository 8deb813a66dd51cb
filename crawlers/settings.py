"""Scrapy project settings for tiequan (scrapy.cfg: default = crawlers.settings).

Spiders are not modules here: ProfileSpiderLoader builds one per site profile.
Per-site politeness comes from the profile (spider-level custom_settings).
"""

from __future__ import annotations

from crawlers.browser import CHROMIUM_ARGS
from tiequan.settings import CRAWL_DEFAULTS

BOT_NAME = "tiequan"
SPIDER_LOADER_CLASS = "crawlers.spiderloader.ProfileSpiderLoader"
SPIDER_MODULES: list[str] = []
NEWSPIDER_MODULE = "crawlers.spiders"
TIEQUAN_SITES_DIR = None  # None: $TIEQUAN_SITES_DIR, else <repo>/config/sites

USER_AGENT = (
    "Mozilla/5.0 (compatible; tiequan-supervision/0.1; "
    "market-regulation network transaction monitoring)"
)
# The deployment's contact (a URL or e-mail address), added to USER_AGENT by every spider;
# None: the environment variable TIEQUAN_CONTACT, if set (crawl_settings.deployment_user_agent).
TIEQUAN_CONTACT = None
ROBOTSTXT_OBEY = True

CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 0.5
DOWNLOAD_TIMEOUT = 30
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0

RETRY_ENABLED = True
RETRY_TIMES = 4
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
RETRY_BACKOFF_BASE = 1.0
RETRY_BACKOFF_MAX = 30.0
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawlers.middlewares.BackoffRetryMiddleware": 550,
    "pipelines.recrawl.RecrawlMiddleware": 560,  # conditional item-page requests
}
# Evidence fixing (450) sits after detection, which decides what is flagged, and before
# the store stage, so the raw page bytes it clears never reach the database.
ITEM_PIPELINES = {
    "pipelines.recrawl.RecrawlPipeline": 50,  # unchanged listings skip OCR, detect, evidence
    "pipelines.validate.ValidatePipeline": 100,
    "pipelines.resume.ResumePipeline": 150,  # only in a resumed crawl (pipelines.frontier)
    "pipelines.dedup.DedupPipeline": 200,
    "pipelines.images.ImageTextPipeline": 350,
    "pipelines.detect.DetectPipeline": 400,
    "pipelines.evidence.EvidencePipeline": 450,
    "pipelines.store.StorePipeline": 500,
    "pipelines.refer.ReferPipeline": 600,
    "pipelines.followup.FollowupPipeline": 650,  # only when the runner wrote a plan
}
EXTENSIONS = {
    "crawlers.extensions.ProgressExtension": 500,
    "crawlers.health.extension.HealthMonitor": 510,
    "crawlers.memtrace.MemoryTrace": 520,  # only with TIEQUAN_TRACEMALLOC
}
# Crawl health (crawlers.health): Spidermon's monitors run as each spider closes; field
# coverage rules come per profile (crawlers.health.config.health_settings).
SPIDERMON_ENABLED = True
SPIDERMON_SPIDER_CLOSE_MONITORS = ["pipelines.health.CrawlHealthSuite"]
SPIDERMON_ADD_FIELD_COVERAGE = True
SPIDERMON_FIELD_COVERAGE_SKIP_NONE = True  # a selector that found nothing leaves None
SPIDERMON_FIELD_COVERAGE_SKIP_IF_NO_ITEM = True  # no items: the item-count monitor says so
SPIDERMON_DICT_FIELDS_COVERAGE_LEVELS = 1  # Listing.extra, not what lies inside its values
SPIDERMON_FIELD_COVERAGE_RULES: dict[str, float] = {}
SPIDERMON_EXPECTED_FINISH_REASONS = ["finished"]
# tiequan's own settings: every TIEQUAN_* name, its default and its meaning are declared
# in tiequan/settings.py (CRAWL); each component parses its own in from_crawler.
globals().update(CRAWL_DEFAULTS)

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
DOWNLOAD_HANDLERS = {
    "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
    "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
}
PLAYWRIGHT_BROWSER_TYPE = "chromium"
# executable_path is filled in when a browser profile's spider is built
# (ProfileSpider.update_settings), so a missing Chromium only fails browser crawls.
PLAYWRIGHT_LAUNCH_OPTIONS = {"headless": True, "args": list(CHROMIUM_ARGS)}
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 30_000
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 4

LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
