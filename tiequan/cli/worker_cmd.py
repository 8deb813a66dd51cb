"""`tiequan worker`: one crawl worker of a distributed run (tiequan.distributed)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from crawlers.profiles import ProfileError
from tiequan.cli.exit_codes import EXIT_STOPPED, EXIT_USAGE
from tiequan.cli.sweep_cmd import parse_settings, run_id


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "worker", help="分布式抓取节点：从 Redis 共享队列取请求，直到批次完成"
    )
    p.add_argument(
        "--run-id", type=run_id, help="the distributed run to work on (default: the last seeded)"
    )
    p.add_argument("--progress", type=float, default=0.0, metavar="SECONDS",
                   help="progress line interval, 0 to turn off")  # fmt: skip
    p.add_argument("--log-level", default="WARNING", help="Scrapy log level (default WARNING)")
    p.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                   help="extra Scrapy setting (after the run's own)")  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from tiequan.distributed.state import RunStateError
    from tiequan.distributed.worker import WorkerOptions, run_worker
    from tiequan.settings import SettingError, distributed_settings
    from tiequan.sweep.report import format_summary
    from tiequan.sweep.runner import SweepError

    options = WorkerOptions(
        run_id=args.run_id,
        log_level=args.log_level,
        progress_interval=args.progress,
        settings=parse_settings(args.set),
    )
    try:
        result = run_worker(options, distributed_settings())
    except (RunStateError, SweepError, ProfileError, SettingError) as exc:
        print(f"tiequan worker: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RedisError as exc:
        print(f"tiequan worker: Redis 不可用：{exc}", file=sys.stderr)
        return EXIT_USAGE
    for site, done in sorted(result.sites.items()):
        print(
            f"节点 {result.worker} · {site}：页面 {done['pages']}，条目 {done['items']}，"
            f"收回失联节点请求 {done['requeued']}"
        )
    if result.report is not None:
        print(f"批次 {result.run_id} 已完成，由本节点记录")
        print(format_summary(result.report))
    elif result.run_done and result.detecting:
        print(f"批次 {result.run_id} 抓取已完成；检测节点（tiequan detect-worker）检测完毕后记录")
    elif result.run_done:
        print(f"批次 {result.run_id} 已完成（由其他节点记录）")
    else:
        print(f"批次 {result.run_id} 尚未完成：本节点提前停止，其请求已交还队列", file=sys.stderr)
        return EXIT_STOPPED
    return 0
