"""`tiequan sweep`: crawl → detect → store → refer for one or all sites."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from crawlers.profiles import ProfileError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("sweep", help="巡查：抓取、检测、入库、生成线索")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--site", action="append", metavar="NAME", help="site profile (repeatable)")
    which.add_argument("--all", action="store_true", help="every profile in the sites directory")
    p.add_argument("--base-url", help="override every selected profile's base_url (sandbox runs)")
    p.add_argument("--sites-dir", type=Path, help="directory of site profiles (config/sites)")
    p.add_argument("--report", type=Path, help="where to write the JSON run report")
    p.add_argument(
        "--progress",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="progress line interval, 0 to turn off",
    )
    p.add_argument("--log-level", default="WARNING", help="Scrapy log level (default WARNING)")
    p.add_argument(
        "-s",
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra Scrapy setting",
    )
    p.set_defaults(func=run)


def parse_settings(pairs: list[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"tiequan sweep: -s expects NAME=VALUE, got {pair!r}")
        result[name] = value
    return result


def run(args: argparse.Namespace) -> int:
    from tiequan.sweep.report import format_summary
    from tiequan.sweep.runner import SweepError, SweepOptions, run_sweep

    options = SweepOptions(
        sites=[] if args.all else list(args.site),
        base_url=args.base_url,
        sites_dir=args.sites_dir,
        report_path=args.report,
        progress_interval=args.progress,
        log_level=args.log_level,
        settings=parse_settings(args.set),
    )
    try:
        report = run_sweep(options)
    except (SweepError, ProfileError) as exc:
        print(f"tiequan sweep: {exc}", file=sys.stderr)
        return 2
    print(format_summary(report))
    return 1 if report["totals"]["errors"] and not report["totals"]["items"] else 0
