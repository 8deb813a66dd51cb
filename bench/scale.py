"""Per-worker rates of distributed runs: 1 and 2 crawl workers, 1 and 2 detection workers.

Usage: .venv/bin/python bench/scale.py [--scale 4] [--no-write]

One run of the benchmark, on this machine, against one sandbox mall (a separate process),
one redis-server on a free loopback port and one embedded database server:

1. the baseline: a single-process ``tiequan sweep`` of the mall (crawl and detection in
   one process), in its own database;
2. for n = 1 and 2: a distributed run seeded by ``tiequan sweep --distributed`` (detection in
   workers), crawled by n ``tiequan worker`` processes started together (crawl pages/s:
   the run's pages over the time until the last crawl worker exits), then its detection
   queue drained by n ``tiequan detect-worker`` processes (listings/s: the listings staged
   over the time until the last detection worker exits). Each run has its own database,
   so no run skips pages a former one stored.

Writes BENCHMARKS.md (section "scale"), the per-worker rates to bench/results/scale.json and
the capacity table of bench/capacity.py built from them. The per-worker rates of the
capacity model are the two-worker runs' totals over two (on two cores the workers share
the machine with Redis, the database and the sandbox: the conservative figure).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench.capacity import RATES, Night, Rates, plan, table  # noqa: E402
from bench.memory import SETTINGS, Model, sites_dir  # noqa: E402  # its sweep settings
from bench.report import write_section  # noqa: E402
from tiequan.cli.demo_cmd import start_sandbox  # noqa: E402
from tiequan.cli.sandbox_cmd import DEFAULT_SEED  # noqa: E402
from tiequan.distributed.state import RunKeys, RunState  # noqa: E402
from tiequan.storage.embedded import EmbeddedServer  # noqa: E402

SITE = "sandbox_mall"
TIMEOUT_S = 3600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (make system-deps installs it)")
    port = free_port()
    cmd = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
           "--appendonly", "no", "--dir", str(directory)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)  # nosec B603 # fixed argv
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if client.ping():
                return proc, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.terminate()
    sys.exit("redis-server did not answer within 10 s")


@dataclass
class Step:
    label: str
    workers: int
    units: int  # pages (crawl) or listings (detection)
    seconds: float

    @property
    def rate(self) -> float:
        return self.units / self.seconds if self.seconds else 0.0

    @property
    def per_worker(self) -> float:
        return self.rate / self.workers


class Bench:
    def __init__(self, tmp: Path, mongo_uri: str, redis_url: str, base_url: str) -> None:
        self.tmp, self.mongo_uri, self.redis_url = tmp, mongo_uri, redis_url
        self.base_url = base_url
        self.sites = sites_dir(tmp)

    def env(self, db: str) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "TIEQUAN_HOME": str(self.tmp / "home"),
            "TIEQUAN_MONGO_URI": self.mongo_uri,
            "TIEQUAN_DB": db,
            "TIEQUAN_REDIS_URL": self.redis_url,
            "TIEQUAN_DETECTION": "workers",
        }

    def tiequan(self, args: list[str], db: str) -> list[str]:
        cmd = [sys.executable, "-m", "tiequan", *args]
        for key, value in SETTINGS.items():
            cmd += ["-s", f"{key}={value}"]
        return cmd

    def together(self, cmds: list[list[str]], db: str) -> float:
        """Start the processes at once; seconds until the last one exits."""
        started = time.monotonic()
        procs = [
            subprocess.Popen(c, cwd=ROOT, env=self.env(db), stdout=subprocess.DEVNULL)  # nosec B603
            for c in cmds
        ]
        for proc in procs:
            if proc.wait(timeout=TIMEOUT_S) != 0:
                raise RuntimeError(f"{' '.join(cmds[0][2:4])} exited with {proc.returncode}")
        return time.monotonic() - started

    def single(self) -> Step:
        report = self.tmp / "single.json"
        args = ["sweep", "--site", SITE, "--sites-dir", str(self.sites),
                "--base-url", self.base_url, "--report", str(report)]  # fmt: skip
        seconds = self.together([self.tiequan(args, "scale_single")], "scale_single")
        pages = json.loads(report.read_text(encoding="utf-8"))["sites"][SITE]["pages"]
        return Step("single-process sweep (baseline)", 1, int(pages), seconds)

    def distributed(self, n: int) -> tuple[Step, Step, float]:
        db = f"scale_{n}"
        run_id = f"scale-{n}-{os.getpid()}"
        args = ["sweep", "--distributed", "--site", SITE, "--sites-dir", str(self.sites),
                "--base-url", self.base_url, "--run-id", run_id]  # fmt: skip
        subprocess.run(  # nosec B603
            self.tiequan(args, db), cwd=ROOT, env=self.env(db), stdout=subprocess.DEVNULL,
            check=True, timeout=300,
        )  # fmt: skip
        state = RunState(redis.Redis.from_url(self.redis_url), run_id, 3600)
        crawl_s = self.together([self.tiequan(["worker", "--run-id", run_id], db)] * n, db)
        stats = state.stats(SITE)
        pages = int(stats.get("response_received_count", 0))
        items = int(stats.get("item_scraped_count", 0))
        dedup = dedup_bytes(state.server, run_id)
        detect_s = self.together([self.tiequan(["detect-worker", "--run-id", run_id], db)] * n, db)
        return (
            Step(f"{n} crawl worker{'s' * (n > 1)}", n, pages, crawl_s),
            Step(f"{n} detection worker{'s' * (n > 1)}", n, items, detect_s),
            dedup,
        )


def dedup_bytes(server: redis.Redis, run_id: str) -> float:
    """Redis bytes per fingerprint of the run's duplicate filter (a set by default)."""
    key = RunKeys(run_id).dupefilter(SITE)
    size = int(server.memory_usage(key) or 0)
    kind = server.type(key)
    count = int(server.scard(key)) if kind in (b"set", "set") else 0
    return size / count if count else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=4.0, help="sandbox scale (780 pages each)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tiequan-scale-") as name:
        tmp = Path(name)
        os.environ.setdefault("TIEQUAN_MODEL_DIR", str(tmp / "models"))
        model = Model.trained()
        redis_proc, redis_url = start_redis(tmp)
        sandbox, base_url = start_sandbox(tmp / "url", DEFAULT_SEED, args.scale)
        try:
            with EmbeddedServer(tmp / "db") as server:
                for db in ("scale_single", "scale_1", "scale_2"):
                    model.make_live_at(server.uri, db)
                bench = Bench(tmp, server.uri, redis_url, base_url)
                single = bench.single()
                print(f"{single.label}: {single.rate:.1f} pages/s", flush=True)
                steps: list[Step] = [single]
                dedup = 0.0
                for n in (1, 2):
                    crawl, detect, dedup = bench.distributed(n)
                    steps += [crawl, detect]
                    print(f"{crawl.label}: {crawl.rate:.1f} pages/s; "
                          f"{detect.label}: {detect.rate:.1f} listings/s", flush=True)  # fmt: skip
        finally:
            sandbox.terminate()
            redis_proc.terminate()
    two_crawl, two_detect = steps[3], steps[4]
    rates = {
        "measured": f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {os.cpu_count()} cores",
        "per_worker": {
            "crawl_pages_s": round(two_crawl.per_worker, 2),
            "detect_listings_s": round(two_detect.per_worker, 2),
        },
        "pages_per_listing": round(steps[1].units / max(1, steps[2].units), 3),
        "dedup_bytes_per_page": round(dedup, 1),
        "steps": [
            {"label": s.label, "units": s.units, "seconds": round(s.seconds, 1)} for s in steps
        ],
    }
    rows = [
        f"| {s.label} | {s.units:,} | {s.seconds:.0f} | {s.rate:.1f} | {s.per_worker:.1f} |"
        f" {s.rate / single.rate:.2f} |"
        for s in steps
    ]
    nights = [Night(n, 40, 2.0, 8) for n in (10**6, 5 * 10**6, 2 * 10**7)]
    capacity = [plan(Rates.from_dict(rates), night) for night in nights]
    text = "\n".join([
        "Command: `.venv/bin/python bench/scale.py`",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; load average at start "
        f"{load:.1f}; sandbox mall at scale {args.scale:g}, one redis-server, one embedded "
        "database server, AutoThrottle off, 16 concurrent requests, OCR and screenshots off.",
        "",
        "| step | pages (crawl) or listings (detection) | seconds | per second | per worker |"
        " vs the single-process sweep's pages/s |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "Capacity (`.venv/bin/python bench/capacity.py`, from bench/results/scale.json; 40 sites "
        "at 2 pages/s each, an 8-hour night):",
        "",
        table(Rates.from_dict(rates), capacity, [2, 8]),
    ])  # fmt: skip
    print(text)
    if not args.no_write:
        RATES.parent.mkdir(parents=True, exist_ok=True)
        RATES.write_text(json.dumps(rates, indent=2) + "\n", encoding="utf-8")
        write_section(ROOT / "BENCHMARKS.md", "scale", "Scale-out: per-worker rates", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
