"""`tiequan leads export`: referral forms and extraction records per lead, or the ledger.

    tiequan leads export ID [ID…] --output DIR [--forms referral,extraction]
    tiequan leads export --ledger --output FILE.xlsx [--from D] [--to D] [--status S] …
    tiequan leads export --jsonl FILE.jsonl [--from D] [--to D] [--status S] …

Registered by tiequan.cli.leads_cmd; its helpers are imported when the command runs
(the two modules import each other).
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path
from typing import Any

from detectors.base import CATEGORY_IDS
from tiequan.leads.lifecycle import STATUSES

DEFAULT_FORMS = "referral,extraction"


def register_export(sub: Any) -> None:
    """Add `export` to the `leads` sub-parsers."""
    p = sub.add_parser(
        "export",
        help="导出文书：案件线索移送单、电子数据提取笔录（DOCX），线索台账（XLSX）",
    )
    p.add_argument("lead_ids", metavar="ID", nargs="*", help="线索编号（导出移送单和提取笔录）")
    p.add_argument("--output", type=Path, help="输出目录（文书）或 .xlsx 文件（台账）")
    p.add_argument(
        "--forms", default=DEFAULT_FORMS, help=f"导出哪些文书，逗号分隔（默认 {DEFAULT_FORMS}）"
    )
    p.add_argument("--ledger", action="store_true", help="导出线索台账（XLSX）")
    p.add_argument(
        "--jsonl",
        type=Path,
        metavar="FILE",
        help="导出 JSONL：每条线索的每个商品一行，供其他系统读取（筛选项同台账）",
    )
    p.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="台账/JSONL：发现日期起")
    p.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="台账/JSONL：发现日期止")
    p.add_argument("--status", help="台账/JSONL：状态，如 待研判、已移送")
    p.add_argument("--category", metavar="CATEGORY", help="台账/JSONL：类别编号")
    p.add_argument("--unit", help="台账/JSONL：牵头单位（单位代码或中文名称）")
    p.add_argument("--bureau", metavar="KEY", help="台账/JSONL：属地局代码；none 为未能确定管辖")
    p.add_argument(
        "--run", dest="run_id", metavar="RUN_ID", help="台账/JSONL：只含该巡查批次的线索"
    )
    p.add_argument("--evidence-dir", type=Path, help="证据文件目录（默认 $TIEQUAN_HOME/evidence）")
    p.set_defaults(func=_export)


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"日期格式有误：{option} {value}（应为 YYYY-MM-DD）") from None


_LEDGER_ONLY = ("date_from", "date_to", "status", "category", "unit", "bureau", "run_id")
_OPTION = {"date_from": "--from", "date_to": "--to", "run_id": "--run"}


def _check_args(args: argparse.Namespace) -> str | None:
    """A Chinese error for arguments that do not fit together, else None."""
    if args.jsonl is not None:
        if args.ledger or args.lead_ids or args.output is not None:
            return "--jsonl 单独使用：不能同时指定线索编号、--ledger 或 --output"
        if args.jsonl.is_dir():
            return f"JSONL 输出路径是一个目录：{args.jsonl}"
        return None
    if args.output is None:
        return "请用 --output 指定输出目录（文书）或 .xlsx 文件（台账），或用 --jsonl 导出 JSONL"
    if args.ledger and args.lead_ids:
        return "导出台账时不能同时指定线索编号；请分两次导出"
    if not args.ledger and not args.lead_ids:
        return "请指定线索编号，或用 --ledger 导出台账、--jsonl 导出 JSONL"
    if args.ledger:
        if args.output.suffix.lower() != ".xlsx":
            return f"台账文件须以 .xlsx 结尾：{args.output}"
        if args.output.is_dir():
            return f"台账输出路径是一个目录：{args.output}"
        return None
    used = [_OPTION.get(k, f"--{k}") for k in _LEDGER_ONLY if getattr(args, k) is not None]
    if used:
        return f"{'、'.join(used)} 只用于 --ledger 台账或 --jsonl 导出"
    if args.output.exists() and not args.output.is_dir():
        return f"输出路径不是目录：{args.output}"
    return None


def _ledger_filter(queue: Any, args: argparse.Namespace) -> Any:
    from tiequan.documents.ledger import LedgerFilter
    from tiequan.party import load_jurisdictions

    start = parse_day(args.date_from, "--from")
    end = parse_day(args.date_to, "--to")
    if start and end and start > end:
        raise ValueError(f"--from {start} 晚于 --to {end}")
    if args.status is not None and args.status not in STATUSES:
        raise ValueError(f"未知状态：{args.status}（可选：{'、'.join(STATUSES)}）")
    if args.category is not None and args.category not in CATEGORY_IDS:
        raise ValueError(f"未知类别：{args.category}（可选：{', '.join(CATEGORY_IDS)}）")
    unit = None
    if args.unit is not None:
        unit = queue.categories.unit_name(args.unit)
        if unit is None:
            raise ValueError(f"未知单位：{args.unit}")
    if args.bureau is not None and args.bureau != "none":
        jurisdictions = load_jurisdictions()
        keys = [b.key for b in (jurisdictions.league, *jurisdictions.bureaus)]
        if args.bureau not in keys:
            raise ValueError(f"未知属地局代码：{args.bureau}（可选：{', '.join(keys)}、none）")
    return LedgerFilter(start, end, args.status, args.category, unit, args.bureau, args.run_id)


def _export(args: argparse.Namespace) -> int:
    from tiequan.cli.leads_cmd import fail, run_with_queue

    problem = _check_args(args)
    if problem:
        return fail(f"参数有误：{problem}")

    def action(queue: Any, a: argparse.Namespace) -> int:
        from tiequan.documents.export import (
            export_forms,
            export_lead_listings,
            export_ledger,
            parse_forms,
        )
        from tiequan.evidence.artefacts import default_root
        from tiequan.evidence.files import evidence_files

        try:
            if a.jsonl is not None:
                ledger_filter = _ledger_filter(queue, a)
                leads, lines = export_lead_listings(queue.db, a.jsonl, ledger_filter)
                print(
                    f"线索商品 JSONL 已导出：{a.jsonl}（{leads} 条线索，{lines} 行；"
                    f"{ledger_filter.describe()}）"
                )
                return 0
            if a.ledger:
                ledger_filter = _ledger_filter(queue, a)
                rows = export_ledger(queue.db, a.output, ledger_filter)
                print(f"线索台账已导出：{a.output}（{rows} 条；{ledger_filter.describe()}）")
                return 0
            forms = parse_forms(a.forms)
            store = evidence_files(queue.db, a.evidence_dir or default_root())
            result = export_forms(queue.db, a.lead_ids, a.output, store=store, forms=forms)
        except OSError as exc:
            return fail(f"无法写入文件：{exc}", 2)
        for path in result.files:
            print(path)
        print(f"已导出 {len(result.lead_ids)} 条线索的 {len(result.files)} 份文书到 {a.output}")
        return 0

    return run_with_queue(args, action)
