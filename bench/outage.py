"""How long the writers of a sweep wait on a database that is away, with and without the breaker.

Usage: .venv/bin/python bench/outage.py [--batches 5] [--no-write]

A store-stage BatchWriter with a real pymongo client pointed at a closed port writes
``--batches`` batches of 10 listings, in the worker thread as in a sweep. "Before" is the
behaviour before the circuit breaker: every batch waits out the server-selection timeout
(5 s then); "breaker" is today's: TIEQUAN_DB_TIMEOUT (2 s) once, then straight to the spool.
Writes section "outage" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import logging
import platform
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pymongo import MongoClient  # noqa: E402
from scrapy.utils.test import get_crawler  # noqa: E402

from bench.report import write_section  # noqa: E402
from pipelines.batch import BatchWriter  # noqa: E402
from pipelines.config import PipelineConfig  # noqa: E402
from pipelines.store import _write_listings  # noqa: E402
from tiequan.storage.breaker import CircuitBreaker  # noqa: E402


def _listing(i: int) -> dict[str, Any]:
    return {"platform": "bench", "item_id": str(i), "title": "t", "captured_at": "now"}


def run(batches: int, timeout_s: float, reset: bool) -> float:
    """Seconds to write ``batches`` batches to a closed port; ``reset``: no breaker."""
    with socket.socket() as sock, tempfile.TemporaryDirectory() as home:
        sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        port = sock.getsockname()[1]
        client: MongoClient[dict[str, Any]] = MongoClient(
            f"mongodb://127.0.0.1:{port}/?directConnection=true",
            serverSelectionTimeoutMS=round(timeout_s * 1000),
        )
        config = PipelineConfig(
            mongo_uri=None, home=Path(home), run_id="R1", batch_size=10, config_dir=None,
            min_score=0.5, db_timeout_seconds=timeout_s,
        )  # fmt: skip
        crawler = get_crawler()
        assert crawler.stats is not None
        breaker = CircuitBreaker("bench", probe_seconds=5.0)
        writer: BatchWriter[dict[str, Any]] = BatchWriter(
            "store", config, crawler.stats, _write_listings, dict, breaker=breaker
        )
        writer.db = client["bench"]
        started = time.perf_counter()
        for b in range(batches):
            writer.write_batch([_listing(b * 10 + i) for i in range(10)])
            if reset:
                breaker.reset()
        elapsed = time.perf_counter() - started
        assert crawler.stats.get_value("db/spooled") == batches * 10
        client.close()
        return elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the breaker's warnings, once per batch here
    before = run(args.batches, 5.0, reset=True)
    after = run(args.batches, 2.0, reset=False)
    body = "\n".join(
        [
            f"Command: `.venv/bin/python bench/outage.py --batches {args.batches}`",
            f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; "
            "a store-stage writer against a closed port (connections refused).",
            "",
            "| variant | batches of 10 | seconds in all | seconds per batch |",
            "|---|---|---|---|",
            f"| before: every batch waits the 5 s timeout | {args.batches} | {before:.1f} | "
            f"{before / args.batches:.2f} |",
            f"| circuit breaker, TIEQUAN_DB_TIMEOUT=2 | {args.batches} | {after:.1f} | "
            f"{after / args.batches:.2f} |",
        ]
    )
    print(body)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "outage", "Writes during a database outage", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
