"""Run one crawl in its own Python process (a Twisted reactor starts once per process).

Usage: [sys.executable, "-c", CRAWL_SCRIPT, site, base_url, feed.jsonl, stats.json, log, overrides]
"""

from __future__ import annotations

CRAWL_SCRIPT = """
import json, sys
from scrapy.crawler import AsyncCrawlerProcess
from scrapy.utils.project import get_project_settings

name, base_url, feed, stats_path, log_path, overrides = sys.argv[1:7]
settings = get_project_settings()
settings.setdict(json.loads(overrides), priority="cmdline")
settings.set("LOG_FILE", log_path, priority="cmdline")
settings.set("FEEDS", {feed: {"format": "jsonlines", "overwrite": True}}, priority="cmdline")
process = AsyncCrawlerProcess(settings)
crawler = process.create_crawler(name)
process.crawl(crawler, base_url=base_url)
process.start()
with open(stats_path, "w", encoding="utf-8") as fh:
    json.dump(crawler.stats.get_stats(), fh, default=str)
"""
