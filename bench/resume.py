"""Resume after a crash: a resumed sweep's time against a full re-sweep, same run.

Usage: .venv/bin/python bench/resume.py [--site sandbox_mall] [--scale 1.0] [--kill-at 0.5]
Three `tiequan sweep` processes of one site, each into a database of its own:
1. an ordinary full sweep (what a re-sweep after a crash costs, and the pages/s baseline);
2. a full sweep with the durable frontier on (its cost in pages/s);
3. a durable sweep SIGKILLed once ``--kill-at`` of the listings are stored, then
   `tiequan sweep --resume`: the resumed run's time.
Writes the figures to BENCHMARKS.md (section "resume").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import MongoClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from detectors.combine import ListingDetector  # noqa: E402
from tiequan.cli.demo_cmd import start_sandbox  # noqa: E402
from tiequan.cli.sandbox_cmd import DEFAULT_SEED  # noqa: E402
from tiequan.settings import environment  # noqa: E402
from tiequan.storage.embedded import EmbeddedServer  # noqa: E402

DURABLE = ("-s", "TIEQUAN_DURABLE_FRONTIER=true")
FAST = [
    "AUTOTHROTTLE_ENABLED=False",
    "DOWNLOAD_DELAY=0",
    "CONCURRENT_REQUESTS=16",
    "CONCURRENT_REQUESTS_PER_DOMAIN=16",
    "TIEQUAN_OCR_ENABLED=False",
    "TIEQUAN_EVIDENCE_SCREENSHOTS=False",
]


class Bench:
    def __init__(self, site: str, base_url: str, mongo_uri: str, home: Path) -> None:
        self.site = site
        self.base_url = base_url
        self.mongo_uri = mongo_uri
        self.home = home

    def argv(self, run_id: str, *extra: str) -> list[str]:
        settings = [a for kv in FAST for a in ("-s", kv)]
        return [sys.executable, "-m", "tiequan", "sweep", "--site", self.site, "--base-url",
                self.base_url, "--progress", "0", "--run-id", run_id, "--report",
                str(self.home / f"{run_id}.json"), *settings, *extra]  # fmt: skip

    def env(self, db: str) -> dict[str, str]:
        # The classifier trained (or loaded) once by main(), not again in a sweep.
        models = str(environment().model_dir.resolve())
        return dict(os.environ, TIEQUAN_MONGO_URI=self.mongo_uri, TIEQUAN_DB=db,
                    TIEQUAN_HOME=str(self.home), PYTHONPATH=str(ROOT),
                    TIEQUAN_MODEL_DIR=models)  # fmt: skip

    def sweep(self, db: str, run_id: str, *extra: str) -> dict[str, Any]:
        t0 = time.perf_counter()
        subprocess.run(self.argv(run_id, *extra), env=self.env(db), cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        wall = time.perf_counter() - t0
        report: dict[str, Any] = json.loads((self.home / f"{run_id}.json").read_text("utf-8"))
        report["wall_s"] = wall
        report["rate"] = report["totals"]["pages"] / report["elapsed_s"]
        return report

    def killed(self, db: str, run_id: str, listings: int) -> tuple[float, int]:
        """A durable sweep SIGKILLed once ``listings`` are stored: (seconds, stored)."""
        client: MongoClient[dict[str, Any]] = MongoClient(self.mongo_uri)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            self.argv(run_id, "--resume"), env=self.env(db), cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            while proc.poll() is None and client[db].captures.count_documents({}) < listings:
                time.sleep(0.1)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return time.perf_counter() - t0, client[db].captures.count_documents({})
        finally:
            client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--site", default="sandbox_mall")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--kill-at", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    ListingDetector.from_config()  # train (or load) the classifier before any timing
    with tempfile.TemporaryDirectory(prefix="tiequan-bench-") as tmp:
        db_server = EmbeddedServer(Path(tmp) / "db")
        mongo_uri = db_server.start()
        proc, base_url = start_sandbox(Path(tmp) / "url", DEFAULT_SEED, args.scale)
        bench = Bench(args.site, base_url, mongo_uri, Path(tmp) / "home")
        try:
            fulls: list[dict[str, Any]] = []
            durables: list[dict[str, Any]] = []
            for i in range(args.rounds):
                # Alternate the order so drift on a shared machine hits both variants.
                for durable_first in [i % 2 == 1, i % 2 == 0]:
                    if durable_first:
                        durables.append(bench.sweep(f"b_durable{i}", f"durable{i}", *DURABLE))
                    else:
                        fulls.append(bench.sweep(f"b_full{i}", f"full{i}"))
            full = min(fulls, key=lambda r: r["wall_s"])
            durable = min(durables, key=lambda r: r["wall_s"])
            items = int(full["totals"]["items"])
            killed_s, stored = bench.killed("b_resume", "killed", round(items * args.kill_at))
            resumed = bench.sweep("b_resume", "resumed", "--resume")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            db_server.stop()

    assert resumed["resumed"], "the second run did not resume"
    cost = 1 - statistics.median(r["rate"] for r in durables) / statistics.median(
        r["rate"] for r in fulls
    )
    ratio = resumed["wall_s"] / full["wall_s"]
    lines = [
        f"Command: `.venv/bin/python bench/resume.py --site {args.site} --scale {args.scale}"
        f" --kill-at {args.kill_at} --rounds {args.rounds}`",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()},"
        f" Python {platform.python_version()}, {os.cpu_count()} cores shared with other work;"
        " sandbox in its own process, embedded SecantusDB; each sweep a `tiequan sweep`"
        " process into a fresh database; AutoThrottle off, 16 concurrent requests; OCR and"
        " screenshots off (bench/ocr.py, bench/crawl.py).",
        "",
        "| sweep | pages | listings stored | crawl s (report) | process s | pages/s |",
        "|---|---|---|---|---|---|",
        f"| full, ordinary frontier (the re-sweep) | {full['totals']['pages']} |"
        f" {full['totals']['items']} | {full['elapsed_s']:.1f} | {full['wall_s']:.1f} |"
        f" {full['rate']:.1f} |",
        f"| full, durable frontier (`TIEQUAN_DURABLE_FRONTIER`) | {durable['totals']['pages']} |"
        f" {durable['totals']['items']} | {durable['elapsed_s']:.1f} | {durable['wall_s']:.1f} |"
        f" {durable['rate']:.1f} |",
        f"| durable, SIGKILLed | – | {stored} | – | {killed_s:.1f} | – |",
        f"| `--resume` of the killed one | {resumed['totals']['pages']} |"
        f" {resumed['totals']['items']} | {resumed['elapsed_s']:.1f} | {resumed['wall_s']:.1f} |"
        f" {resumed['rate']:.1f} |",
        "",
        f"Resumed / full re-sweep (process time): **{ratio:.2f}**. Durable frontier cost:"
        f" {cost * 100:.0f}% of pages/s (median of {args.rounds} rounds each; the table shows"
        " each variant's fastest round). Pages/s per round: ordinary "
        + ", ".join(f"{r['rate']:.1f}" for r in fulls)
        + "; durable "
        + ", ".join(f"{r['rate']:.1f}" for r in durables)
        + f". Listings the killed sweep had stored whose pages were not yet marked done (the"
        f" frontier's write lag): {resumed['totals']['items'] + stored - items}, fetched and"
        " checked again by the resumed sweep, not stored again.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "resume", "Resume after a crash", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
