"""`tiequan leads`: the review queue — list, show, claim, decide, history, overdue."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from detectors.base import CATEGORY_IDS
from tiequan.cli.exit_codes import EXIT_FAULT, EXIT_USAGE
from tiequan.cli.leads_export_cmd import register_export
from tiequan.cli.leads_import_cmd import register_import
from tiequan.leads.format import render_detail, render_history, render_table, to_jsonable
from tiequan.leads.lifecycle import ACTIONS, TransitionError
from tiequan.leads.model import Case, filled
from tiequan.leads.queue import LeadNotFound, LeadQueue, normalise_lead_id
from tiequan.referral import CategoriesError
from tiequan.storage.connect import StorageError, open_database
from tiequan.storage.embedded import EmbeddedServerError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("leads", help="线索队列：查看、认领、研判、移送、办结")
    sub = parser.add_subparsers(dest="leads_command", required=True)

    p = sub.add_parser("list", help="列出线索")
    p.add_argument("--status", help="状态，如 待研判、研判中")
    p.add_argument("--category", choices=CATEGORY_IDS, metavar="CATEGORY", help="类别编号")
    p.add_argument("--unit", help="牵头单位（单位代码或中文名称）")
    p.add_argument("--limit", type=int, default=50, help="最多显示条数（默认 50）")
    p.add_argument("--all", action="store_true", help="列出全部，不限条数")
    p.add_argument("--json", action="store_true", help="输出 JSON")
    p.set_defaults(func=_list)

    p = sub.add_parser("show", help="查看一条线索")
    p.add_argument("lead_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="输出 JSON")
    p.set_defaults(func=_show)

    p = sub.add_parser("claim", help="认领下一条待研判线索")
    p.add_argument("--reviewer", required=True, help="研判人员姓名")
    p.add_argument("--category", choices=CATEGORY_IDS, metavar="CATEGORY", help="只认领该类别")
    p.add_argument("--unit", help="只认领该牵头单位的线索")
    p.set_defaults(func=_claim)

    p = sub.add_parser("release", help="退回已认领的线索")
    p.add_argument("lead_id", metavar="ID")
    p.add_argument("--reviewer", required=True, help="研判人员姓名")
    p.set_defaults(func=_release)

    for name in ("confirm", "refer", "admonish", "police", "dismiss", "close", "reopen", "return"):
        action = ACTIONS[name]
        p = sub.add_parser(name, help=f"{action.label}（→ {action.target}）")
        p.add_argument("lead_id", metavar="ID")
        p.add_argument("--by", required=True, help="操作人员（姓名或单位）")
        p.add_argument("--reason", help="理由" + ("（必填）" if action.needs_reason else ""))
        if action.needs_outcome:
            p.add_argument("--outcome", required=True, help="承办单位反馈的处理结果")
        p.set_defaults(func=_decide, action_name=name)

    p = sub.add_parser("history", help="查看线索的流转记录")
    p.add_argument("lead_id", metavar="ID")
    p.set_defaults(func=_history)

    p = sub.add_parser("reroute", help="按现行属地与类别配置重新分派线索")
    p.add_argument("lead_ids", metavar="ID", nargs="*", help="线索编号")
    p.add_argument("--all", action="store_true", help="重新分派全部线索")
    p.add_argument("--by", default="配置更新", help="操作人员（默认：配置更新）")
    p.add_argument("--dry-run", action="store_true", help="只列出将改派的线索，不写入")
    p.set_defaults(func=_reroute)

    p = sub.add_parser("overdue", help="列出超期未办的线索")
    p.add_argument("--limit", type=int, default=200, help="最多显示条数（默认 200）")
    p.set_defaults(func=_overdue)

    register_export(sub)
    register_import(sub)


def fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


def print_json(value: Any) -> None:
    print(json.dumps(to_jsonable(value), ensure_ascii=False, indent=2))


def run_with_queue(args: argparse.Namespace, action: Any) -> int:
    """Open the database, run ``action(queue, args)`` and map failures to Chinese errors."""
    try:
        with open_database() as db:
            return int(action(LeadQueue(db), args))
    except (StorageError, EmbeddedServerError) as exc:
        return fail(f"数据库不可用：{exc}", EXIT_FAULT)
    except CategoriesError as exc:
        return fail(f"类别配置有误：{exc}", EXIT_USAGE)
    except LeadNotFound as exc:
        return fail(f"找不到线索：{exc.args[0]}")
    except TransitionError as exc:
        return fail(str(exc))
    except ValueError as exc:
        return fail(f"参数有误：{exc}")


def _list(args: argparse.Namespace) -> int:
    if args.limit < 1 and not args.all:
        return fail(f"参数有误：--limit {args.limit}（应为正整数，或用 --all）", EXIT_USAGE)

    def action(queue: LeadQueue, a: argparse.Namespace) -> int:
        filters = {"status": a.status, "category": a.category, "unit": a.unit}
        limit = None if a.all else a.limit
        leads = queue.list(**filters, limit=limit)
        if a.json:
            print_json(leads)
        else:
            print(render_table([Case.from_doc(d) for d in leads]))
        if limit is not None and len(leads) == limit:
            total = queue.count(**filters)
            if total > limit:
                # On stderr, so that --json output stays one JSON document.
                print(f"只显示了 {limit} 条，共 {total} 条；用 --all 列出全部", file=sys.stderr)
        return 0

    return run_with_queue(args, action)


def _reroute(args: argparse.Namespace) -> int:
    if args.all == bool(args.lead_ids):
        return fail("参数有误：请指定线索编号，或用 --all 重新分派全部线索", EXIT_USAGE)

    def action(queue: LeadQueue, a: argparse.Namespace) -> int:
        ids = None if a.all else a.lead_ids
        result = queue.reroute(ids, a.by, dry_run=a.dry_run)
        verb = "将改派" if a.dry_run else "已改派"
        for change in result.changed:
            print(
                f"{change.lead_id}（{change.status}）：{change.before.describe()} → "
                f"{change.after.describe()}"
            )
        for lead_id in result.conflicts:
            print(f"{lead_id}：刚被他人修改，未改派，请重试", file=sys.stderr)
        print(f"已检查 {result.checked} 条线索，{verb} {len(result.changed)} 条")
        return 1 if result.conflicts else 0

    return run_with_queue(args, action)


def _show(args: argparse.Namespace) -> int:
    def action(queue: LeadQueue, a: argparse.Namespace) -> int:
        lead = queue.get(a.lead_id)
        if lead is None:
            raise LeadNotFound(normalise_lead_id(a.lead_id))
        if a.json:
            print_json(lead)
        else:
            print(render_detail(Case.from_doc(lead)))
        return 0

    return run_with_queue(args, action)


def _claim(args: argparse.Namespace) -> int:
    def action(queue: LeadQueue, a: argparse.Namespace) -> int:
        lead = queue.claim(a.reviewer, category=a.category, unit=a.unit)
        if lead is None:
            print("没有可认领的待研判线索。")
            return 0
        print(f"{a.reviewer} 已认领线索 {lead['_id']}：\n")
        print(render_detail(Case.from_doc(lead)))
        return 0

    return run_with_queue(args, action)


def _release(args: argparse.Namespace) -> int:
    def action(queue: LeadQueue, a: argparse.Namespace) -> int:
        if not queue.release(a.lead_id, a.reviewer):
            return fail(f"线索 {normalise_lead_id(a.lead_id)} 不在 {a.reviewer} 名下，无法退回。")
        print(f"线索 {normalise_lead_id(a.lead_id)} 已退回待研判队列。")
        return 0

    return run_with_queue(args, action)


def _decide(args: argparse.Namespace) -> int:
    def action(queue: LeadQueue, a: argparse.Namespace) -> int:
        case = Case.from_doc(
            queue.apply(
                a.lead_id, a.action_name, a.by, reason=a.reason, outcome=getattr(a, "outcome", None)
            )
        )
        print(f"线索 {case.id} 已{ACTIONS[a.action_name].label}，当前状态：{case.status}。")
        referral = case.referral if case.status == "已移送" else None
        if filled(referral):
            bureau = referral.bureau or "未能确定管辖，请人工指定"
            units = "、".join(u for u in referral.units or () if u)
            print(f"移送至：{units}；属地：{bureau}")
        return 0

    return run_with_queue(args, action)


def _history(args: argparse.Namespace) -> int:
    def action(queue: LeadQueue, a: argparse.Namespace) -> int:
        lead_id = normalise_lead_id(a.lead_id)
        if queue.get(lead_id) is None:
            raise LeadNotFound(lead_id)
        print(render_history(lead_id, queue.history(lead_id)))
        return 0

    return run_with_queue(args, action)


def _overdue(args: argparse.Namespace) -> int:
    def action(queue: LeadQueue, a: argparse.Namespace) -> int:
        cases = [Case.from_doc(d) for d in queue.overdue(limit=a.limit)]
        print(render_table(cases, empty="没有超期线索。"))
        return 0

    return run_with_queue(args, action)
