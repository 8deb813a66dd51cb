"""`tiequan runs`: the run history of the sweeps, scheduled or started by hand."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict
from datetime import datetime
from typing import Any


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("runs", help="运行记录：每次巡查的结果、用量与结束原因")
    p.add_argument("--site", type=site_name, help="只看该站点（配置名称）")
    p.add_argument("--failed", action="store_true", help="只看未完成的运行（失败、终止、停止）")
    p.add_argument("--limit", type=int, default=30, help="最多显示条数（默认 30）")
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
    from tiequan.sweep.history import find_runs, render_runs

    with open_database() as db:
        records = find_runs(db, site=args.site, failed=args.failed, limit=max(1, args.limit))
    if args.json:
        rows = [asdict(r) for r in records]
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=_jsonable))
    else:
        print(render_runs(records))
    return 0
