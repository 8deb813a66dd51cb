"""What `tiequan lexicon` does (tiequan.cli.lexicon_cmd registers the sub-commands)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from pymongo.database import Database

from tiequan.cli.exit_codes import EXIT_REJECTED, EXIT_USAGE
from tiequan.cli.leads_cmd import fail
from tiequan.models.lexicon import ANALYST_NOTE, LexiconChange, LexiconError, field_error
from tiequan.models.lexicon_desk import LexiconDesk
from tiequan.models.lexicon_gate import Judgement, LexiconRefused
from tiequan.storage.connect import open_database
from tiequan.timefmt import local_time
from tiequan.web.accounts import ROLE_ADMIN, ROLE_ANALYST, ROLES, Accounts

EDITORS = (ROLE_ANALYST, ROLE_ADMIN)
Action = Callable[[LexiconDesk, argparse.Namespace], int]


def run(args: argparse.Namespace) -> int:
    action: Action = ACTIONS[args.action]
    with open_database() as db:
        try:
            return action(LexiconDesk(db), args)
        except LexiconRefused as exc:
            return fail(f"tiequan lexicon: {exc}", EXIT_REJECTED)
        except LexiconError as exc:
            return fail(f"tiequan lexicon: {exc}", EXIT_USAGE)


def authorise(db: Database[dict[str, Any]], username: str) -> Accounts:
    """The accounts, once ``username`` is known to be an analyst or an admin."""
    accounts = Accounts(db)
    user = accounts.get(username)
    if user is None:
        raise field_error("by", username, "账号不存在或已停用")
    if user.role not in EDITORS:
        allowed = "、".join(ROLES[r] for r in EDITORS)
        raise field_error("by", username, f"只有{allowed}可以修改词库（此账号是{user.role_label}）")
    return accounts


def report(accounts: Accounts, by: str, result: tuple[LexiconChange, Judgement]) -> int:
    change, judgement = result
    refusals = [r.message() for r in judgement.refusals]
    detail = {"version": change.version, **change.spec.to_doc(), "reason": change.reason,
              "figures": change.figures, "refusals": refusals}  # fmt: skip
    accounts.audit(f"lexicon_{change.action}", by, by=by, detail=detail)
    forced = f"（门槛未通过，强制修改：{'；'.join(refusals)}）" if refusals else ""
    what = f"{change.spec.category} 词条“{change.spec.term}”"
    print(f"词库版本 {change.version}：已{change.action_name} {what}{forced}")
    print(f"  {change.figures}")
    return 0


def _add(desk: LexiconDesk, args: argparse.Namespace) -> int:
    accounts = authorise(desk.db, args.by)
    result = desk.add(
        args.category, args.term, by=args.by, reason=args.reason, weight=args.weight,
        article=args.article, severity=args.severity, variants=args.variant,
        exceptions=args.exception, force=args.force,
    )  # fmt: skip
    return report(accounts, args.by, result)


def _remove(desk: LexiconDesk, args: argparse.Namespace) -> int:
    accounts = authorise(desk.db, args.by)
    result = desk.remove(args.category, args.term, by=args.by, reason=args.reason, force=args.force)
    return report(accounts, args.by, result)


def _list(desk: LexiconDesk, args: argparse.Namespace) -> int:
    overlay = desk.store.overlay()
    print(f"词库版本 {overlay.version}（0：只有随系统发布的词库文件）")
    if args.category:
        lexicons = desk.lexicons()
        if args.category not in lexicons:
            raise field_error("category", args.category, f"可选：{'、'.join(sorted(lexicons))}")
        for term in lexicons[args.category].terms:
            mark = "（分析人员）" if term.note == ANALYST_NOTE else ""
            print(f"  {term.term}\t{term.weight:g}\t{term.article}\t{term.severity}{mark}")
        return 0
    for spec in overlay.added.values():
        print(f"  + {spec.category}\t{spec.term}\t{spec.weight:g}\t{spec.article}\t{spec.severity}")
    for (category, _key), removed in overlay.removed.items():
        print(f"  - {category}\t{removed}")
    if overlay.empty:
        print("  分析人员尚未增删词条")
    return 0


def _test(desk: LexiconDesk, args: argparse.Namespace) -> int:
    found = desk.test(args.text)
    if not found:
        print("没有命中任何词条或规则")
    for finding in found:
        claims = "、".join(dict.fromkeys(finding.matched)) or "—"
        print(f"{finding.category}\t得分 {finding.score:.2f}\t命中：{claims}\t{finding.article}")
    return 0


def _suggest(desk: LexiconDesk, args: argparse.Namespace) -> int:
    if args.accept or args.reject:
        if not args.category:
            raise field_error("category", args.category, "采纳或不采纳须用 --category 指明类别")
        accounts = authorise(desk.db, args.by)
        if args.accept:
            result = desk.accept(
                args.category, args.accept, by=args.by, reason=args.reason, force=args.force
            )
            return report(accounts, args.by, result)
        change = desk.reject(args.category, args.reject, by=args.by, reason=args.reason)
        print(f"已记录不采纳：{change.spec.category} “{change.spec.term}”，以后不再建议")
        return 0
    found = desk.suggestions(args.days, args.limit)
    if not found:
        print(f"最近 {args.days} 天确认的线索中，没有词库漏检的共同短语")
    for s in found:
        print(f"{s.category}\t“{s.phrase}”\t得分 {s.score:.1f}\t漏检确认 {s.positives}/"
              f"{s.positive_total}，对照 {s.background}/{s.background_total}")  # fmt: skip
        for example in s.examples:
            print(f"    {example.lead_id}：{example.snippet}")
    return 0


def _history(desk: LexiconDesk, args: argparse.Namespace) -> int:
    changes = desk.store.history(args.limit)
    if not changes:
        print("词库还没有修改记录")
    for c in changes:
        forced = "，强制" if c.forced else ""
        print(f"{local_time(c.at)} 版本 {c.version} {c.action_name} {c.spec.category} "
              f"“{c.spec.term}”（{c.by}：{c.reason}{forced}）{c.figures}")  # fmt: skip
    return 0


ACTIONS: dict[str, Action] = {
    "list": _list,
    "add": _add,
    "remove": _remove,
    "test": _test,
    "suggest": _suggest,
    "history": _history,
}
