"""`tiequan demo`: serve the sandbox, sweep all its sites, print the summary and the score."""

from __future__ import annotations

import argparse
import subprocess  # nosec B404 # the demo serves the sandbox in a child process
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tiequan.cli.sandbox_cmd import DEFAULT_SEED, category_names

SANDBOX_PREFIX = "sandbox_"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo", help="演示：启动沙箱市场，巡查全部沙箱站点，输出汇总与评分"
    )
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="sandbox seed")
    p.add_argument("--scale", type=float, default=1.0, help="sandbox size multiplier")
    p.add_argument("--progress", type=float, default=5.0, metavar="SECONDS")
    p.add_argument(
        "--export-top", type=int, default=20, metavar="N",
        help="为分值最高的 N 条线索导出移送单和提取笔录（默认 20，0 为全部）",
    )  # fmt: skip
    p.set_defaults(func=run)


def start_sandbox(url_file: Path, seed: int, scale: float) -> tuple[subprocess.Popen[bytes], str]:
    cmd = [
        sys.executable,
        "-m",
        "tiequan",
        "sandbox",
        "serve",
        "--port",
        "0",
        "--url-file",
        str(url_file),
        "--seed",
        str(seed),
        "--scale",
        str(scale),
    ]
    proc = subprocess.Popen(cmd)  # nosec B603 # our own interpreter and module, no shell
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if url_file.exists() and url_file.read_text().strip():
            return proc, url_file.read_text().strip()
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox server exited with code {proc.returncode}")
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("sandbox server did not report its URL within 60 s")


def run(args: argparse.Namespace) -> int:
    from crawlers.profiles import default_sites_dir, load_profiles
    from tiequan.cli.serve_cmd import DEFAULT_PORT
    from tiequan.sandbox.truth import build_truth, format_score, score_leads
    from tiequan.storage.connect import open_database
    from tiequan.sweep.report import format_summary
    from tiequan.sweep.runner import SweepOptions, run_sweep
    from tiequan.sweep.score import leads_from_database

    sites = sorted(n for n in load_profiles(default_sites_dir()) if n.startswith(SANDBOX_PREFIX))
    # No sandbox is started for a database that is not there; a first demo trains and
    # promotes a model before the sweep, which only ever loads the live one.
    with open_database() as db:
        ensure_live_model(db)
    with tempfile.TemporaryDirectory(prefix="tiequan-demo-") as tmp:
        proc, base_url = start_sandbox(Path(tmp) / "url", args.seed, args.scale)
        try:
            print(f"沙箱市场已启动：{base_url}", flush=True)
            report = run_sweep(
                SweepOptions(sites=sites, base_url=base_url, progress_interval=args.progress)
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(format_summary(report))
    print()
    run_id, leads = leads_from_database(report["run_id"])
    print(f"沙箱评分（批次 {run_id}）")
    truth = build_truth(seed=args.seed, scale=args.scale)
    print(format_score(score_leads(leads, truth), category_names()))
    if run_id:
        print()
        export_documents(run_id, args.export_top)
    print()
    print(
        f"线索研判工作台：运行 .venv/bin/tiequan serve --demo，"
        f"浏览器打开 http://127.0.0.1:{DEFAULT_PORT}/，用它打印的演示账户和一次性密码登录"
    )
    return 0


def ensure_live_model(db: Any) -> None:
    from tiequan.models.gate import load_models_config
    from tiequan.models.promotion import promote
    from tiequan.models.registry import LIVE, Registry
    from tiequan.models.training import train_from_database
    from tiequan.settings import environment

    registry = Registry(db, environment().model_dir)
    if registry.alias(LIVE) is not None:
        return
    print("还没有在用的检测模型：先训练一个（约半分钟）……", flush=True)
    record = train_from_database(db, trained_by="demo")
    promote(registry, record.version, by="demo", config=load_models_config(), reason="演示")
    print(f"模型 {record.version} 已训练并上线", flush=True)


def export_documents(run_id: str, top: int) -> None:
    """Write the run's referral forms, extraction records and ledger; say where they are."""
    from tiequan.documents.export import export_run
    from tiequan.evidence.files import evidence_files
    from tiequan.storage.connect import open_database, resolve_home

    out_dir = resolve_home() / "exports" / run_id
    with open_database() as db:
        done = export_run(db, run_id, out_dir, store=evidence_files(db), top=top or None)
    print(
        f"文书已导出到 {out_dir.resolve()}：{len(done.forms.lead_ids)} 条线索的"
        f"案件线索移送单和电子数据提取笔录（共 {len(done.forms.files)} 份），"
        f"线索台账 {done.ledger.name}（{done.ledger_rows} 条）"
    )
