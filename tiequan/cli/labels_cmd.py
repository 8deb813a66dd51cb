"""`tiequan labels`: the reviewers' and units' decisions as training labels.

    tiequan labels export [--since YYYY-MM-DD] [--out FILE.jsonl]

One JSON object per decision (tiequan.leads.labels.Label.to_json), oldest first; to
standard output without --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, time
from pathlib import Path
from typing import IO, Any

from tiequan.cli.leads_export_cmd import parse_day
from tiequan.timefmt import shanghai


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("labels", help="研判标注：导出每次研判与办理决定，供模型再训练")
    sub = parser.add_subparsers(dest="labels_command", required=True)
    p = sub.add_parser("export", help="导出标注记录（JSONL，每个决定一行）")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="只导出该日（北京时间）起的标注")
    p.add_argument("--out", type=Path, metavar="FILE", help="输出文件（默认输出到标准输出）")
    p.set_defaults(func=_export)


def since_of(value: str | None) -> datetime | None:
    day = parse_day(value, "--since")
    return None if day is None else datetime.combine(day, time.min, tzinfo=shanghai())


def write_labels(db: Any, out: IO[str], since: datetime | None) -> int:
    from tiequan.leads.labels import LabelStore

    count = 0
    for label in LabelStore(db).iter(since=since):
        out.write(json.dumps(label.to_json(), ensure_ascii=False) + "\n")
        count += 1
    return count


def _export(args: argparse.Namespace) -> int:
    from tiequan.cli.leads_cmd import fail, run_with_queue

    if args.out is not None and args.out.is_dir():
        return fail(f"参数有误：输出路径是一个目录：{args.out}")

    def action(queue: Any, a: argparse.Namespace) -> int:
        since = since_of(a.since)
        if a.out is None:
            write_labels(queue.db, sys.stdout, since)
            return 0
        a.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = a.out.with_name(f".{a.out.name}.tmp")
        try:
            with tmp.open("w", encoding="utf-8") as out:
                count = write_labels(queue.db, out, since)
            os.replace(tmp, a.out)
        except OSError as exc:
            return fail(f"无法写入文件：{exc}", 2)
        finally:
            tmp.unlink(missing_ok=True)
        print(f"标注记录已导出：{a.out}（{count} 条）")
        return 0

    return run_with_queue(args, action)
