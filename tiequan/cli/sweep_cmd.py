"""`tiequan sweep`: crawl → detect → store → refer for one or all sites."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crawlers.profiles import ProfileError
from tiequan.cli.exit_codes import EXIT_FAULT, EXIT_REJECTED, EXIT_STOPPED, EXIT_USAGE


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("sweep", help="巡查：抓取、检测、入库、生成线索")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--site", action="append", metavar="NAME", help="site profile (repeatable)")
    which.add_argument("--all", action="store_true", help="every profile in the sites directory")
    p.add_argument(
        "--base-url",
        type=base_url,
        help="override every selected profile's base_url (sandbox runs)",
    )
    p.add_argument("--sites-dir", type=Path, help="directory of site profiles (config/sites)")
    p.add_argument("--report", type=Path, help="where to write the JSON run report")
    p.add_argument(
        "--run-id", type=run_id, help="the run id to record under (the scheduler chooses it)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="keep the crawl frontier in the database and continue an unfinished crawl",
    )
    p.add_argument(
        "--distributed",
        action="store_true",
        help="seed the run into Redis (TIEQUAN_REDIS_URL) for `tiequan worker` processes",
    )
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


def base_url(value: str) -> str:
    """``--base-url``: an http(s) address with a host, checked before any profile loads."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(
            f"应为 http:// 或 https:// 开头的网址（如 http://127.0.0.1:8000），实际为 {value!r}"
        )
    return value


def run_id(value: str) -> str:
    """``--run-id``: letters, digits, ``-`` and ``_`` (it names files and a document)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        raise argparse.ArgumentTypeError(f"运行编号只能含字母、数字、- 和 _，实际为 {value!r}")
    return value


def parse_settings(pairs: list[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"tiequan sweep: -s expects NAME=VALUE, got {pair!r}")
        result[name] = value
    return result


def run(args: argparse.Namespace) -> int:
    from tiequan.sweep.report import format_summary, outage_note
    from tiequan.sweep.runner import SweepError, SweepOptions, run_sweep

    options = SweepOptions(
        sites=[] if args.all else list(args.site),
        base_url=args.base_url,
        sites_dir=args.sites_dir,
        report_path=args.report,
        progress_interval=args.progress,
        log_level=args.log_level,
        settings=parse_settings(args.set),
        run_id=args.run_id,
        resume=args.resume,
    )
    if args.distributed:
        return seed(options)
    try:
        report = run_sweep(options)
    except (SweepError, ProfileError) as exc:
        print(f"tiequan sweep: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(format_summary(report))
    note = outage_note(report)
    if note:
        print(f"tiequan sweep: 警告：{note}", file=sys.stderr)
    return exit_code(report)


def exit_code(report: dict[str, Any]) -> int:
    """4 when a signal stopped a site early (what it captured is saved, the run is not
    complete); 3 when records were lost (a database outage and the spool failing too; an
    outage whose records were all spooled is 0, with a warning); 1 when errors left a run
    without items; else 0 (``tiequan.cli.exit_codes``)."""
    if (report.get("database") or {}).get("lost"):
        return EXIT_FAULT
    if any(site.get("finish_reason") == "shutdown" for site in report["sites"].values()):
        return EXIT_STOPPED
    return EXIT_REJECTED if report["totals"]["errors"] and not report["totals"]["items"] else 0


def seed(options: Any) -> int:
    """``--distributed``: the run goes into Redis; workers crawl it."""
    from redis.exceptions import RedisError

    from tiequan.distributed.seed import seed_run
    from tiequan.distributed.state import RunStateError
    from tiequan.settings import SettingError, distributed_settings
    from tiequan.sweep.runner import SweepError

    try:
        seeded = seed_run(options, distributed_settings())
    except (SweepError, ProfileError, RunStateError, SettingError) as exc:
        print(f"tiequan sweep: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RedisError as exc:
        print(f"tiequan sweep: Redis 不可用：{exc}", file=sys.stderr)
        return EXIT_USAGE
    queued = "，".join(f"{site} {n}" for site, n in sorted(seeded.requests.items()))
    print(f"分布式批次 {seeded.run_id} 已入队：起始请求 {queued}；复查 {seeded.revisits} 条")
    print(f"在各节点运行 tiequan worker --run-id {seeded.run_id} 开始抓取")
    if seeded.detection == "workers":
        print(f"并运行 tiequan detect-worker --run-id {seeded.run_id} 进行检测、固证与线索移送")
    return 0
