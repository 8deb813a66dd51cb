"""`tiequan evidence`: a lead's evidence sets, its manifest, and re-hashing the artefacts."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pymongo.database import Database

from tiequan.cli.exit_codes import EXIT_FAULT, EXIT_OK, EXIT_REJECTED, EXIT_USAGE
from tiequan.evidence.artefacts import ArtefactError, ArtefactStore, EvidenceFiles, default_root
from tiequan.evidence.capture import shanghai_time
from tiequan.evidence.files import evidence_files, uses_gridfs
from tiequan.evidence.manifest import (
    KIND_LABELS,
    LeadNotFound,
    evidence_sets,
    find_lead,
    manifest_bytes,
    verify,
    write_manifest,
)
from tiequan.evidence.orphans import DEFAULT_MIN_AGE_SECONDS, find_orphans, prune_orphans
from tiequan.leads.model import Case
from tiequan.referral import CategoriesError
from tiequan.referral.categories import load_categories
from tiequan.storage.connect import StorageError, open_database, resolve_home
from tiequan.storage.embedded import EmbeddedServerError

PURPOSE_LABELS = {"detection": "检测固证", "followup": "下架复查"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("evidence", help="电子证据：查看、生成清单、核验")
    parser.add_argument(
        "--evidence-dir", type=Path, help="证据文件目录（默认 $TIEQUAN_HOME/evidence）"
    )
    sub = parser.add_subparsers(dest="evidence_command", required=True)

    p = sub.add_parser("show", help="查看一条线索的证据集")
    p.add_argument("lead_id", metavar="LEAD")
    p.set_defaults(func=_show)

    p = sub.add_parser("manifest", help="生成线索的证据清单（JSON），并记录其哈希值")
    p.add_argument("lead_id", metavar="LEAD")
    p.add_argument("--output", type=Path, help="另存清单到此文件")
    p.set_defaults(func=_manifest)

    p = sub.add_parser(
        "verify",
        help="重新计算证据文件哈希值，报告改动或缺失；--orphans 列出无记录引用的证据文件",
        description="退出码：0 无异常；1 有改动、缺失或孤立文件；2 参数有误；3 数据库不可用。",
    )
    p.add_argument("lead_id", metavar="LEAD", nargs="?", help="只核验该线索（默认全部证据集）")
    p.add_argument(
        "--orphans", action="store_true", help="列出没有任何记录引用的证据文件（不重新计算哈希）"
    )
    p.add_argument("--prune", action="store_true", help="与 --orphans 同用：删除这些孤立文件")
    p.add_argument(
        "--min-age",
        type=float,
        default=DEFAULT_MIN_AGE_SECONDS / 60,
        metavar="MINUTES",
        help=f"--prune 只删除写入超过此分钟数的文件（默认 {DEFAULT_MIN_AGE_SECONDS // 60}）",
    )
    p.set_defaults(func=_verify)


def _fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


def _store(args: argparse.Namespace, db: Database[Any]) -> EvidenceFiles:
    """The evidence files (TIEQUAN_EVIDENCE_STORE): GridFS in ``db``, or the directory."""
    return evidence_files(db, args.evidence_dir or default_root())


def _run(args: argparse.Namespace, action: Callable[[Database[Any]], int]) -> int:
    try:
        with open_database() as db:
            return int(action(db))
    except (StorageError, EmbeddedServerError) as exc:
        return _fail(f"数据库不可用：{exc}", EXIT_FAULT)
    except LeadNotFound as exc:
        return _fail(f"找不到线索：{exc.args[0]}")
    except ArtefactError as exc:
        return _fail(f"证据文件异常：{exc}", 2)
    except OSError as exc:
        return _fail(f"无法读写证据文件：{exc}", 2)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def _category_names() -> dict[str, str]:
    try:
        return {c.id: c.name for c in load_categories()}
    except (CategoriesError, OSError):
        return {}  # the ids are shown instead


def render_sets(case: Case, sets: list[dict[str, Any]], store: EvidenceFiles) -> str:
    party = (case.party.label if case.party else None) or case.party_key or "未识别主体"
    category = case.category_name or case.category or ""
    lines = [f"线索 {case.id}｜{category}｜{party}", f"证据集共 {len(sets)} 组"]
    names = _category_names() if sets else {}
    for doc in sets:
        lines.append("")
        purpose = PURPOSE_LABELS.get(str(doc.get("purpose")), str(doc.get("purpose")))
        lines.append(f"证据集 {doc['_id']}（{purpose}，批次 {doc.get('run_id')}）")
        lines.append(f"  采集时间：{shanghai_time(doc.get('captured_at'))}")
        if doc.get("title"):
            lines.append(f"  页面标题：{doc['title']}")
        lines.append(f"  请求网址：{doc.get('requested_url')}")
        lines.append(f"  最终网址：{doc.get('final_url')}（HTTP {doc.get('status')}）")
        if doc.get("categories"):
            lines.append(f"  涉及类别：{'、'.join(names.get(c, c) for c in doc['categories'])}")
        lines.append("  证据文件：")
        for a in doc.get("artefacts", []):
            kind = KIND_LABELS.get(str(a.get("kind")), str(a.get("kind")))
            lines.append(f"    - {kind} {a.get('name')}（{_size(int(a.get('size') or 0))}）")
            lines.append(f"      SHA-256 {a.get('sha256')}")
            lines.append(f"      {store.location(str(a.get('sha256')))}")
        for note in doc.get("notes", []):
            lines.append(f"  备注：{note}")
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    def action(db: Database[Any]) -> int:
        lead = find_lead(db, args.lead_id)
        sets = evidence_sets(db, lead)
        print(render_sets(lead, sets, _store(args, db)))
        return 0

    return _run(args, action)


def _manifest(args: argparse.Namespace) -> int:
    def action(db: Database[Any]) -> int:
        store = _store(args, db)
        manifest, artefact = write_manifest(db, store, args.lead_id)
        if args.output is not None:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_bytes(manifest_bytes(manifest))
        count = len(manifest["evidence_sets"])
        files = sum(len(s["artefacts"]) for s in manifest["evidence_sets"])
        print(
            f"线索 {manifest['lead_id']} 的证据清单已生成：{count} 组证据集，{files} 个证据文件。"
        )
        print(f"清单 SHA-256 {artefact.sha256}")
        print(f"清单文件：{store.location(artefact.sha256)}")
        if args.output is not None:
            print(f"另存为：{args.output}")
        return 0

    return _run(args, action)


def _verify(args: argparse.Namespace) -> int:
    if args.prune and not args.orphans:
        return _fail("--prune 须与 --orphans 同用", EXIT_USAGE)
    if args.orphans and args.lead_id:
        return _fail("--orphans 核查整个证据目录，不能指定线索", EXIT_USAGE)
    if not 0 <= args.min_age <= 10 * 365 * 24 * 60:
        return _fail(f"--min-age 应为不小于 0 的分钟数，收到 {args.min_age:g}", EXIT_USAGE)
    if args.orphans:
        return _run(args, lambda db: _orphans(db, args))

    def action(db: Database[Any]) -> int:
        result = verify(db, _store(args, db), args.lead_id)
        scope = f"线索 {find_lead(db, args.lead_id).id}" if args.lead_id else "全部证据集"
        for problem in result.problems:
            print(problem.describe())
        print(
            f"核验{scope}：{result.sets} 组证据集，{result.checked} 个证据文件"
            f"（{result.files} 个不同文件），异常 {len(result.problems)} 个。"
        )
        return 1 if result.problems else 0

    return _run(args, action)


def _age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} 分钟前写入"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} 小时前写入"
    return f"{seconds / 86400:.1f} 天前写入"


def _orphans(db: Database[Any], args: argparse.Namespace) -> int:
    if uses_gridfs():
        return _fail(
            "--orphans 只核查证据目录；证据文件存于 GridFS（TIEQUAN_EVIDENCE_STORE）", EXIT_USAGE
        )
    store = ArtefactStore(args.evidence_dir or default_root())
    spool = resolve_home() / "spool"
    scan = find_orphans(db, store, spool_dir=spool)
    for orphan in scan.orphans:
        what = "未写完的临时文件" if orphan.leftover else "无记录引用的证据文件"
        print(f"{what}：{orphan.path}（{_size(orphan.size)}，{_age(orphan.age_seconds)}）")
    for path in scan.unknown:
        print(f"证据目录中的不明文件（不会删除）：{path}")
    summary = (
        f"证据目录 {store.root}：{scan.files} 个文件，其中 {len(scan.orphans)} 个无记录引用"
        f"（共 {_size(scan.orphan_bytes)}）"
    )
    if not args.prune:
        hint = "；加 --prune 可删除" if scan.orphans else ""
        print(f"{summary}{hint}。")
        return EXIT_REJECTED if scan.orphans or scan.unknown else EXIT_OK
    prune_orphans(db, scan, min_age_seconds=args.min_age * 60, spool_dir=spool)
    for orphan in scan.kept_young:
        print(f"未删除（写入不足 {args.min_age:g} 分钟，可能属于正在进行的采集）：{orphan.path}")
    for orphan in scan.kept_referenced:
        print(f"未删除（核查期间已有记录引用）：{orphan.path}")
    freed = _size(sum(o.size for o in scan.removed))
    print(f"{summary}；已删除 {len(scan.removed)} 个（{freed}）。")
    left = len(scan.orphans) - len(scan.removed) - len(scan.kept_referenced)
    return EXIT_REJECTED if left or scan.unknown else EXIT_OK
