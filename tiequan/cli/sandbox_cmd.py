"""`tiequan sandbox`: serve the local sandbox platforms, export their truth, score leads."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

DEFAULT_SEED = 20220101
DEFAULT_PORT = 8700


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("sandbox", help="本地沙箱平台（测试、演示、评测）")
    cmds = p.add_subparsers(dest="sandbox_command", required=True)

    serve = cmds.add_parser("serve", help="启动沙箱站点，直到 Ctrl-C / SIGTERM")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    _world_args(serve)
    serve.add_argument("--url-file", type=Path, help="write the base URL here once listening")
    serve.add_argument(
        "--layout",
        choices=("standard", "price_moved"),
        default="standard",
        help="the mall's item pages; price_moved hides one template's price from the profile",
    )
    serve.set_defaults(func=run_serve)

    truth = cmds.add_parser("truth", help="导出沙箱真值（JSON）")
    truth.add_argument("--out", type=Path, required=True, help="output JSON file")
    _world_args(truth)
    truth.set_defaults(func=run_truth)

    score = cmds.add_parser("score", help="按真值给线索打分")
    source = score.add_mutually_exclusive_group()
    source.add_argument(
        "--leads",
        type=Path,
        help="JSONL with site (or platform), item_id, category per line",
    )
    source.add_argument(
        "--run", help="score the crawler leads of this sweep run (default: the latest run)"
    )
    _world_args(score)
    score.add_argument("--json", action="store_true", help="print the report as JSON")
    score.set_defaults(func=run_score)


def _world_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--scale", type=float, default=1.0)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_serve(args: argparse.Namespace) -> int:
    from tiequan.sandbox.server import SandboxServer

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _sig, _frame: stop.set())
    srv = SandboxServer(host=args.host, port=args.port, seed=args.seed, scale=args.scale)
    srv.layout = args.layout
    try:
        srv.start()
    except OSError as exc:
        print(f"tiequan sandbox serve: 无法监听 {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    try:
        if args.url_file:
            _write_atomic(args.url_file, srv.base_url + "\n")
        print(f"沙箱已启动: {srv.base_url} (seed={args.seed}, scale={args.scale})", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
        signal.signal(signal.SIGTERM, previous)
    print("沙箱已停止", flush=True)
    return 0


def run_truth(args: argparse.Namespace) -> int:
    from tiequan.sandbox.truth import build_truth

    truth = build_truth(seed=args.seed, scale=args.scale)
    data = [t.to_dict() for t in truth]
    _write_atomic(args.out, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    violating = sum(1 for t in truth if t.categories)
    print(f"已写出 {len(truth)} 条真值（违法 {violating} 条）到 {args.out}")
    return 0


def read_leads(path: Path) -> list[tuple[str, str, str]]:
    """(site, item_id, category) from a JSONL file; raises ValueError naming the line."""
    leads: list[tuple[str, str, str]] = []
    with path.open(encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                site = row.get("site") or row["platform"]
                leads.append((str(site), str(row["item_id"]), str(row["category"])))
            except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as exc:
                raise ValueError(f"{path}:{no}: bad lead line ({exc!r})") from exc
    return leads


def run_score(args: argparse.Namespace) -> int:
    from tiequan.sandbox.truth import build_truth, format_score, score_leads
    from tiequan.storage.connect import StorageError
    from tiequan.sweep.score import leads_from_database

    try:
        if args.leads:
            leads, title = read_leads(args.leads), f"沙箱评分（{args.leads}）"
        else:
            run_id, leads = leads_from_database(args.run)
            title = f"沙箱评分（批次 {run_id or '全部'}）"
    except (OSError, ValueError, StorageError) as exc:
        print(f"tiequan sandbox score: {exc}", file=sys.stderr)
        return 2
    report = score_leads(leads, build_truth(seed=args.seed, scale=args.scale))
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print(title)
        print(format_score(report, category_names()))
    return 0


def category_names() -> dict[str, str]:
    from tiequan.referral.categories import load_categories

    return {c.id: c.name for c in load_categories()}
