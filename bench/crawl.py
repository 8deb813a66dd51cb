"""Crawl throughput: the full sweep pipeline against bare Scrapy, same spider, same run.

Usage: .venv/bin/python bench/crawl.py [--site sandbox_mall] [--rounds 3] [--scale 3.0]
Writes the figures to BENCHMARKS.md (section "crawl"). Target: full >= 80% of bare, static pages.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from detectors.combine import ListingDetector  # noqa: E402
from tiequan.cli.demo_cmd import start_sandbox  # noqa: E402
from tiequan.cli.sandbox_cmd import DEFAULT_SEED  # noqa: E402
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
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--site", default="sandbox_mall")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    # Train (or load) the classifier once, so no round pays for training.
    ListingDetector.from_config()
    with tempfile.TemporaryDirectory(prefix="tiequan-bench-") as tmp:
        db_server = EmbeddedServer(Path(tmp) / "db")
        mongo_uri = db_server.start()
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
                        f" = {r['rate']:.1f} pages/s",
                        flush=True,
                    )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            db_server.stop()

    bare_rate = statistics.median(r["rate"] for r in bare)
    full_rate = statistics.median(r["rate"] for r in full)
    ratio = full_rate / bare_rate
    verdict = "meets" if ratio >= 0.8 else "MISSES"
    lines = [
        f"Command: `.venv/bin/python bench/crawl.py --site {args.site} --rounds {args.rounds}"
        f" --scale {args.scale}`",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()},"
        f" Python {platform.python_version()}; sandbox served from a separate process,"
        " embedded SecantusDB; AutoThrottle off, 16 concurrent requests in both variants;"
        " image OCR (stage 350) off in both, measured by bench/ocr.py; evidence screenshots"
        " off too (browser work of their own), the evidence WARCs on.",
        "",
        "| variant | pages (last round) | median pages/s |",
        "|---|---|---|",
        f"| bare Scrapy (same spider, no item pipelines) | {bare[-1]['pages']:.0f} |"
        f" {bare_rate:.1f} |",
        f"| full sweep (validate, dedup, detect, evidence, store, refer, follow-up) "
        f"| {full[-1]['pages']:.0f} |"
        f" {full_rate:.1f} |",
        "",
        f"Ratio full / bare: **{ratio:.2f}** ({verdict} the 0.80 target).",
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
