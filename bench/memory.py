"""Flat memory: peak RSS of a whole sweep's process tree, by the number of pages swept.

Usage: .venv/bin/python bench/memory.py [--pages 10000 30000 100000] [--no-write]
       [--tracemalloc DIR]

Each size is one ``tiequan sweep --site sandbox_mall`` in a child process, with its own
home (so its own embedded database server, a child of the sweep) against a sandbox served
from a separate process at the scale that gives about that many pages. The sweep's process
and all its descendants (the database server, Chromium if any) are sampled from /proc every
0.5 s; the figure is the peak of their summed RSS (shared pages counted in each process, so
an upper bound). The mall profile is copied with ``listing.max_pages`` raised, so the
search pages reach every item. Writes BENCHMARKS.md (section "memory"). Target: under 1 GB
peak, and less than 20% growth from 10k to 100k pages.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
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
from tiequan.models.registry import LIVE, ModelRecord, Registry  # noqa: E402
from tiequan.models.training import record_corpus_model  # noqa: E402
from tiequan.settings import environment  # noqa: E402
from tiequan.storage.embedded import EmbeddedServer  # noqa: E402

SITE = "sandbox_mall"
# Pages of a sandbox_mall sweep per unit of sandbox scale: 600 item pages, 30 search
# pages and about 150 licence pages (measured: 10,384 pages at scale 13.3).
PAGES_PER_SCALE = 780
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
SETTINGS = {
    "AUTOTHROTTLE_ENABLED": "False",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS": "16",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "TIEQUAN_OCR_ENABLED": "False",
    "TIEQUAN_EVIDENCE_SCREENSHOTS": "False",
}


def tree_rss(root: int) -> dict[str, int]:
    """RSS in bytes of ``root`` and every descendant, summed by command name, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The second field (the command) may hold spaces: split after its closing paren.
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [p for p, pp in parents.items() if pp == pid and p not in tree]
        tree.update(children)
        frontier.extend(children)
    by_name: dict[str, int] = {}
    for pid in tree:
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            continue
        by_name[name] = by_name.get(name, 0) + rss
    return by_name


class Sampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0
        self.peaks: dict[str, int] = {}  # by command name
        self.samples: list[tuple[float, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        while not self.done.is_set():
            by_name = tree_rss(self.pid)
            rss = sum(by_name.values())
            self.peak = max(self.peak, rss)
            for name, n in by_name.items():
                self.peaks[name] = max(self.peaks.get(name, 0), n)
            self.samples.append((time.monotonic() - start, rss))
            self.done.wait(self.interval)


@dataclass
class Result:
    target: int
    scale: float
    pages: int
    items: int
    elapsed_s: float
    peak_rss: int
    rss_at_half: int
    peaks: dict[str, int]
    db_waits: int

    @property
    def rate(self) -> float:
        return self.pages / self.elapsed_s if self.elapsed_s else 0.0


def sites_dir(tmp: Path) -> Path:
    text = (ROOT / "config" / "sites" / f"{SITE}.yaml").read_text(encoding="utf-8")
    # Every search page, so the scale sets the number of item pages; without the
    # pagination trap, which would then run to max_pages.
    text = text.replace("max_pages: 25", "max_pages: 10000")
    text = text.replace("  - /mall/browse/clearance?page=1\n", "")
    out = tmp / "sites"
    out.mkdir()
    (out / f"{SITE}.yaml").write_text(text, encoding="utf-8")
    return out


@dataclass
class Model:
    """The corpus classifier, trained once and made live in each sweep's own database
    (a sweep only loads the live model, it never trains one)."""

    record: ModelRecord
    files: dict[str, bytes]

    @classmethod
    def trained(cls) -> Model:
        return cls(*record_corpus_model(default_config_dir(), trained_by="bench"))

    def make_live(self, home: Path) -> None:
        with EmbeddedServer(home / "db") as server:
            self.make_live_at(server.uri, environment().db_name)

    def make_live_at(self, uri: str, db_name: str) -> None:
        client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
        with client:
            registry = Registry(client[db_name], environment().model_dir)
            registry.register(self.record, self.files)
            registry.set_alias(LIVE, self.record.version, by="bench", reason="基准")


def sweep(target: int, tmp: Path, sites: Path, model: Model, trace: Path | None = None) -> Result:
    scale = round(target / PAGES_PER_SCALE, 2)
    work = tmp / f"n{target}"
    work.mkdir()
    model.make_live(work / "home")
    proc, base_url = start_sandbox(work / "url", DEFAULT_SEED, scale)
    try:
        env = {**os.environ, "TIEQUAN_HOME": str(work / "home"), "PYTHONPATH": str(ROOT)}
        env.pop("TIEQUAN_MONGO_URI", None)  # the sweep starts its own embedded server
        report = work / "report.json"
        cmd = [
            sys.executable, "-m", "tiequan", "sweep", "--site", SITE, "--sites-dir", str(sites),
            "--base-url", base_url, "--report", str(report), "--progress", "60",
        ]  # fmt: skip
        for key, value in SETTINGS.items():
            cmd += ["-s", f"{key}={value}"]
        if trace is not None:
            cmd += ["-s", f"TIEQUAN_TRACEMALLOC={trace / f'tracemalloc-{target}.txt'}"]
        started = time.monotonic()
        child = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)  # nosec B603
        sampler = Sampler(child.pid)
        sampler.start()
        child.wait()
        sampler.done.set()
        sampler.join()
        elapsed = time.monotonic() - started
        if child.returncode != 0:
            raise RuntimeError(f"sweep of {target} pages exited with {child.returncode}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    data = json.loads(report.read_text(encoding="utf-8"))
    site = data["sites"][SITE]
    half = [rss for t, rss in sampler.samples if t <= elapsed / 2]
    return Result(target, scale, site["pages"], site["items"], elapsed, sampler.peak,
                  max(half, default=0), sampler.peaks, int(site.get("db_waits", 0)))  # fmt: skip


def mb(n: int) -> str:
    return f"{n / 2**20:.0f}"


def by_process(r: Result) -> str:
    return ", ".join(
        f"{name} {mb(n)}" for name, n in sorted(r.peaks.items(), key=lambda kv: -kv[1])
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--tracemalloc", type=Path, metavar="DIR",
        help="trace the sweeps' allocations (crawlers.memtrace) into DIR; implies --no-write",
    )  # fmt: skip
    args = parser.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="tiequan-memory-") as tmp:
        sites = sites_dir(Path(tmp))
        # Train (or load) the classifier once, here: no measured sweep trains it.
        os.environ.setdefault("TIEQUAN_MODEL_DIR", str(Path(tmp) / "models"))
        model = Model.trained()
        for target in args.pages:
            trace = args.tracemalloc.resolve() if args.tracemalloc else None
            r = sweep(target, Path(tmp), sites, model, trace)
            results.append(r)
            print(f"{r.pages} pages ({r.items} items) in {r.elapsed_s:.0f} s = {r.rate:.1f}"
                  f" pages/s; peak RSS {mb(r.peak_rss)} MB ({by_process(r)})",
                  flush=True)  # fmt: skip
    base = results[0]
    rows = [
        f"| {r.target:,} | {r.scale:g} | {r.pages:,} | {r.items:,} | {r.elapsed_s:.0f} |"
        f" {r.rate:.1f} | {mb(r.rss_at_half)} | {mb(r.peak_rss)} |"
        f" {(r.peak_rss / base.peak_rss - 1) * 100:+.1f}% | {by_process(r)} | {r.db_waits:,} |"
        for r in results
    ]
    last = results[-1]
    growth = (last.peak_rss / base.peak_rss - 1) * 100
    verdict = (
        "meets" if last.peak_rss < 2**30 and growth < 20 else "MISSES"
    ) + f" the targets (< 1024 MB peak, < 20% growth from {base.target:,} pages)"
    lines = [
        "Command: `.venv/bin/python bench/memory.py --pages "
        + " ".join(str(r.target) for r in results)
        + "`",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()},"
        f" {os.cpu_count()} cores, Python {platform.python_version()}; `tiequan sweep --site"
        f" {SITE}` with its own embedded database server (a child of the sweep, counted);"
        " sandbox in a separate process (not counted); AutoThrottle off, 16 concurrent"
        " requests, OCR and screenshots off, evidence WARCs on; RSS of the sweep's process"
        " tree sampled from /proc every 0.5 s (shared pages counted per process).",
        "",
        "| target pages | sandbox scale | pages | items | seconds | pages/s |"
        " RSS peak in first half (MB) | peak RSS (MB) | growth vs first | peak by process (MB) |"
        " waits for the database |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Growth of the peak from {base.pages:,} to {last.pages:,} pages: **{growth:+.1f}%**;"
        f" peak {mb(last.peak_rss)} MB: {verdict}.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write and args.tracemalloc is None:
        write_section(ROOT / "BENCHMARKS.md", "memory", "Memory of long sweeps", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
