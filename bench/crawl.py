"""Crawl throughput: the full sweep pipeline against bare Scrapy, same spider, same run.

Usage: .venv/bin/python bench/crawl.py [--site sandbox_mall] [--rounds 3] [--scale 3.0]
Writes the figures to BENCHMARKS.md (section "crawl"). Target (issue 14): full >= 85% of bare,
static pages.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pymongo import MongoClient  # noqa: E402

from bench.report import write_section  # noqa: E402
from detectors.config import default_config_dir  # noqa: E402
from tiequan.cli.demo_cmd import start_sandbox  # noqa: E402
from tiequan.cli.sandbox_cmd import DEFAULT_SEED  # noqa: E402
from tiequan.models.registry import LIVE, Registry  # noqa: E402
from tiequan.models.training import record_corpus_model  # noqa: E402
from tiequan.settings import environment  # noqa: E402
from tiequan.storage.embedded import EmbeddedServer  # noqa: E402


def crawl_once(
    site: str, base_url: str, *, bare: bool, mongo_uri: str, run_id: str
) -> dict[str, float]:
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "_crawl_once.py"),
        "--site",
        site,
        "--base-url",
        base_url,
        "--run-id",
        run_id,
        "--mongo-uri",
        mongo_uri,
    ]
    if bare:
        cmd.append("--bare")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    result["rate"] = result["pages"] / result["elapsed_s"]
    result["cpu_per_1000"] = 1000 * result["cpu_s"] / result["pages"]
    return result


def make_live(mongo_uri: str) -> None:
    """The corpus classifier (trained once, cached), live in the bench's database: a crawl
    only loads the live model, it never trains one."""
    record, files = record_corpus_model(default_config_dir(), trained_by="bench")
    env = environment()
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    with client:
        registry = Registry(client[env.db_name], env.model_dir)
        registry.register(record, files)
        registry.set_alias(LIVE, record.version, by="bench", reason="吞吐基准")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--site", default="sandbox_mall")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tiequan-bench-") as tmp:
        # The crawls' evidence, spool and model files go here, not into ./var.
        os.environ["TIEQUAN_HOME"] = str(Path(tmp) / "home")
        db_server = EmbeddedServer(Path(tmp) / "db")
        mongo_uri = db_server.start()
        make_live(mongo_uri)
        proc, base_url = start_sandbox(Path(tmp) / "url", DEFAULT_SEED, args.scale)
        bare: list[dict[str, float]] = []
        full: list[dict[str, float]] = []
        try:
            for i in range(args.rounds):
                # Alternate the order so drift on a shared machine hits both variants.
                order = [True, False] if i % 2 == 0 else [False, True]
                for is_bare in order:
                    r = crawl_once(
                        args.site, base_url, bare=is_bare, mongo_uri=mongo_uri, run_id=f"bench-{i}"
                    )
                    (bare if is_bare else full).append(r)
                    label = "bare" if is_bare else "full"
                    print(
                        f"round {i + 1} {label}: {r['pages']:.0f} pages in {r['elapsed_s']:.2f} s"
                        f" = {r['rate']:.1f} pages/s, {r['cpu_per_1000']:.2f} CPU s per 1000 pages",
                        flush=True,
                    )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            db_server.stop()

    bare_rate = statistics.median(r["rate"] for r in bare)
    full_rate = statistics.median(r["rate"] for r in full)
    ratio = full_rate / bare_rate
    bare_cpu = statistics.median(r["cpu_per_1000"] for r in bare)
    full_cpu = statistics.median(r["cpu_per_1000"] for r in full)
    verdict = "meets" if ratio >= 0.85 else "MISSES"
    lines = [
        f"Command: `.venv/bin/python bench/crawl.py --site {args.site} --rounds {args.rounds}"
        f" --scale {args.scale}`",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()},"
        f" Python {platform.python_version()}; load average {load_before:.1f} at the start,"
        f" {os.getloadavg()[0]:.1f} at the end; sandbox served from a separate process,"
        " embedded SecantusDB; AutoThrottle off, 16 concurrent requests in both variants;"
        " image OCR (stage 350) off in both, measured by bench/ocr.py; evidence screenshots"
        " off too (browser work of their own), the evidence WARCs on.",
        "",
        "| variant | pages (last round) | median pages/s | median CPU s per 1000 pages |",
        "|---|---|---|---|",
        f"| bare Scrapy (same spider, no item pipelines) | {bare[-1]['pages']:.0f} |"
        f" {bare_rate:.1f} | {bare_cpu:.2f} |",
        f"| full sweep (validate, dedup, detect, evidence, store, refer, follow-up) "
        f"| {full[-1]['pages']:.0f} |"
        f" {full_rate:.1f} | {full_cpu:.2f} |",
        "",
        f"Ratio full / bare: **{ratio:.2f}** ({verdict} the 0.85 target); CPU of the crawl"
        f" process (all its threads, not the sandbox or database servers), full / bare:"
        f" {full_cpu / bare_cpu:.2f}.",
        "",
        "Per round, pages/s (round 1 of the full sweep inserts every listing and lead; later"
        " rounds see them again): bare "
        + ", ".join(f"{r['rate']:.1f}" for r in bare)
        + "; full "
        + ", ".join(f"{r['rate']:.1f}" for r in full)
        + ". Database write time of the last full round: listings "
        f"{full[-1].get('store_write_ms', 0) / 1000:.1f} s, leads "
        f"{full[-1].get('refer_write_ms', 0) / 1000:.1f} s (in worker threads).",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "crawl", "Crawl throughput (static pages)", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
