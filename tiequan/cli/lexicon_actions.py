"""What `tiequan lexicon` does (tiequan.cli.lexicon_cmd registers the sub-commands)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pymongo.database import Database

from detectors.config import ConfigError, default_config_dir
from detectors.engine import Detector
from tiequan.cli.exit_codes import EXIT_REJECTED, EXIT_USAGE
from tiequan.cli.leads_cmd import fail
from tiequan.leads.labels import LabelStore
from tiequan.models.gate import ModelsConfigError, load_models_config
from tiequan.models.lexicon import (
    ADD,
    ANALYST_NOTE,
    REMOVE,
    LexiconError,
    LexiconStore,
    TermSpec,
    field_error,
    new_term,
    rules_in_force,
)
from tiequan.models.lexicon_gate import LexiconRefused, apply_change, live_base
from tiequan.models.registry import RegistryError
from tiequan.models.suggest import benign_texts, suggest
from tiequan.storage.connect import open_database
from tiequan.storage.store import utcnow
from tiequan.timefmt import local_time
from tiequan.web.accounts import ROLE_ADMIN, ROLE_ANALYST, ROLES, Accounts

EDITORS = (ROLE_ANALYST, ROLE_ADMIN)
Action = Callable[[Database[dict[str, Any]], argparse.Namespace], int]


def run(args: argparse.Namespace) -> int:
    action: Action = ACTIONS[args.action]
    with open_database() as db:
        try:
            return action(db, args)
        except LexiconRefused as exc:
            return fail(f"tiequan lexicon: {exc}", EXIT_REJECTED)
        except (LexiconError, RegistryError, ModelsConfigError, ConfigError) as exc:
            return fail(f"tiequan lexicon: {exc}", EXIT_USAGE)


def authorise(db: Database[dict[str, Any]], username: str) -> Accounts:
    accounts = Accounts(db)
    user = accounts.get(username)
    if user is None:
        raise field_error("by", username, "账号不存在或已停用")
    if user.role not in EDITORS:
        allowed = "、".join(ROLES[r] for r in EDITORS)
        raise field_error("by", username, f"只有{allowed}可以修改词库（此账号是{user.role_label}）")
    return accounts


def change(db: Database[dict[str, Any]], action: str, spec: TermSpec,
           args: argparse.Namespace) -> int:  # fmt: skip
    accounts = authorise(db, args.by)
    store = LexiconStore(db)
    done, judgement = apply_change(
        store, live_base(db), action, spec, by=args.by,
        reason=args.reason, config=load_models_config(), force=args.force,
    )  # fmt: skip
    refusals = [r.message() for r in judgement.refusals]
    detail = {"version": done.version, "action": action, **spec.to_doc(),
              "reason": done.reason, "figures": done.figures, "refusals": refusals}  # fmt: skip
    accounts.audit(f"lexicon_{action}", args.by, by=args.by, detail=detail)
    forced = f"（门槛未通过，强制修改：{'；'.join(refusals)}）" if refusals else ""
    print(
        f"词库版本 {done.version}：已{done.action_name} {spec.category} 词条“{spec.term}”{forced}"
    )
    print(f"  {done.figures}")
    return 0


def _add(db: Database[dict[str, Any]], args: argparse.Namespace) -> int:
    lexicons = {lex.category: lex for lex in _rules(db).lexicons}
    spec = new_term(
        lexicons, args.category, args.term, weight=args.weight, article=args.article,
        severity=args.severity, variants=args.variant, exceptions=args.exception,
    )  # fmt: skip
    return change(db, ADD, spec, args)


def _remove(db: Database[dict[str, Any]], args: argparse.Namespace) -> int:
    return change(db, REMOVE, TermSpec(args.category, args.term.strip()), args)


def _rules(db: Database[dict[str, Any]]) -> Detector:
    return rules_in_force(LexiconStore(db).overlay())


def _list(db: Database[dict[str, Any]], args: argparse.Namespace) -> int:
    overlay = LexiconStore(db).overlay()
    print(f"词库版本 {overlay.version}（0：只有随系统发布的词库文件）")
    if args.category:
        lexicons = {lex.category: lex for lex in rules_in_force(overlay).lexicons}
        if args.category not in lexicons:
            raise field_error("category", args.category, "没有这个类别的词库")
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


def _test(db: Database[dict[str, Any]], args: argparse.Namespace) -> int:
    found = _rules(db).detect(args.text, min_score=0.0)
    if not found:
        print("没有命中任何词条或规则")
        return 0
    for finding in found:
        claims = "、".join(dict.fromkeys(finding.matched)) or "—"
        print(f"{finding.category}\t得分 {finding.score:.2f}\t命中：{claims}\t{finding.article}")
    return 0


def _suggest(db: Database[dict[str, Any]], args: argparse.Namespace) -> int:
    store = LexiconStore(db)
    if args.accept or args.reject:
        if not args.category:
            raise field_error("category", args.category, "采纳或不采纳须指明类别")
        if not args.by:
            raise field_error("by", args.by, "采纳或不采纳须指明操作账号")
    if args.accept:
        lexicons = {lex.category: lex for lex in _rules(db).lexicons}
        args.reason = args.reason or "采纳词库建议"
        return change(db, ADD, new_term(lexicons, args.category, args.accept), args)
    if args.reject:
        authorise(db, args.by)
        spec = TermSpec(args.category, args.reject.strip())
        store.reject(spec, by=args.by, reason=args.reason or "不采纳")
        print(f"已记录不采纳：{spec.category} “{spec.term}”，以后不再建议")
        return 0
    since = utcnow() - timedelta(days=args.days)
    found = suggest(
        LabelStore(db).iter(since=since), _rules(db),
        benign_texts(default_config_dir()), rejected=store.rejected(), limit=args.limit,
    )  # fmt: skip
    if not found:
        print(f"最近 {args.days} 天确认的线索中，没有词库漏检的共同短语")
        return 0
    for s in found:
        print(f"{s.category}\t“{s.phrase}”\t得分 {s.score:.1f}\t漏检确认 {s.positives}/"
              f"{s.positive_total}，对照 {s.background}/{s.background_total}")  # fmt: skip
        for example in s.examples:
            print(f"    {example.lead_id}：{example.snippet}")
    return 0


def _history(db: Database[dict[str, Any]], args: argparse.Namespace) -> int:
    changes = LexiconStore(db).history(args.limit)
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
