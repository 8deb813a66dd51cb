"""`tiequan runs`: the run history of the sweeps, scheduled or started by hand.

One line a run; `tiequan runs --show RUN_ID` gives one run in full (errors by kind,
health alerts, which run it continued, the spool, why each site ended).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict
from datetime import datetime
from typing import Any

from tiequan.cli.exit_codes import EXIT_REJECTED
from tiequan.cli.sweep_cmd import run_id


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("runs", help="运行记录：每次巡查的结果、用量与结束原因")
    p.add_argument("--site", type=site_name, help="只看该站点（配置名称）")
    p.add_argument("--failed", action="store_true", help="只看未完成的运行（失败、终止、停止）")
    p.add_argument("--limit", type=int, default=30, help="最多显示条数（默认 30）")
    p.add_argument(
        "--show", type=run_id, metavar="RUN_ID", help="显示一次运行的全部信息（含健康告警）"
    )
    p.add_argument("--json", action="store_true", help="输出 JSON")
    p.set_defaults(func=_runs)


def site_name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
        raise argparse.ArgumentTypeError(
            f"站点配置名称应为小写字母、数字和下划线，实际为 {value!r}"
        )
    return value


def _jsonable(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _runs(args: argparse.Namespace) -> int:
    from tiequan.storage.connect import open_database
    from tiequan.sweep.history import find_run, find_runs, render_run, render_runs

    with open_database() as db:
        if args.show:
            record = find_run(db, args.show)
            records = [record] if record is not None else []
        else:
            records = find_runs(db, site=args.site, failed=args.failed, limit=max(1, args.limit))
    if args.show and not records:
        print(
            f"tiequan runs: 没有运行记录 {args.show}（tiequan runs 列出最近的运行）",
            file=sys.stderr,
        )
        return EXIT_REJECTED
    if args.json:
        rows: Any = [asdict(r) for r in records]
        print(json.dumps(rows[0] if args.show else rows, ensure_ascii=False, indent=2,
                         default=_jsonable))  # fmt: skip
    elif args.show:
        print(render_run(records[0]))
    else:
        print(render_runs(records))
    return 0
