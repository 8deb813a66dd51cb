"""One crawl in its own process (a Twisted reactor runs once per process); prints JSON stats."""

from __future__ import annotations

import argparse
import cProfile
import json
import sys
import time

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", required=True)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--bare", action="store_true", help="no item pipelines")
    parser.add_argument("--mongo-uri")
    parser.add_argument("--run-id", default="bench")
    parser.add_argument("--profile", help="write a cProfile of the crawl to this file")
    args = parser.parse_args()

    settings = Settings()
    settings.setmodule("crawlers.settings", priority="project")
    overrides = {
        "LOG_LEVEL": "WARNING",
        "LOG_INSTALL_ROOT_HANDLER": False,
        # Measure the pipeline's cost, not politeness: no throttling in either variant.
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_DELAY": 0,
        "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
        "TIEQUAN_RUN_ID": args.run_id,
        "TIEQUAN_PROGRESS_INTERVAL": 0,
        # Image OCR downloads and reads images, a cost of its own: bench/ocr.py measures it.
        "TIEQUAN_OCR_ENABLED": False,
        # Screenshots of flagged pages are browser work of their own, like OCR.
        "TIEQUAN_EVIDENCE_SCREENSHOTS": False,
    }
    if args.bare:
        overrides["ITEM_PIPELINES"] = {}
    elif args.mongo_uri:
        overrides["TIEQUAN_MONGO_URI"] = args.mongo_uri
    for key, value in overrides.items():
        settings.set(key, value, priority="cmdline")

    process = CrawlerProcess(settings)
    crawler = process.create_crawler(process.spider_loader.load(args.site))
    process.crawl(crawler, base_url=args.base_url)
    profiler = cProfile.Profile() if args.profile else None
    t0 = time.perf_counter()
    # CPU of this process (every thread: reactor, detection, writers), not of the sandbox
    # or database servers: what the pipelines cost per page on a shared machine.
    cpu0 = time.process_time()
    if profiler is not None:
        profiler.enable()
    process.start()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    cpu_s = time.process_time() - cpu0
    elapsed = time.perf_counter() - t0
    assert crawler.stats is not None
    stats = crawler.stats.get_stats()
    json.dump(
        {
            "pages": stats.get("response_received_count", 0),
            "items": stats.get("item_scraped_count", 0),
            "leads_new": stats.get("leads/new", 0),
            "store_write_ms": stats.get("store/write_ms", 0),
            "refer_write_ms": stats.get("refer/write_ms", 0),
            "detect_ms": stats.get("detector/ms", 0),
            "detect_load_ms": stats.get("detector/load_ms", 0),
            "elapsed_s": elapsed,
            "cpu_s": cpu_s,
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
