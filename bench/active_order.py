"""The active-learning queue order beside the score order, at 10,000 leads.

Usage: .venv/bin/python bench/active_order.py [--leads 10000] [--repeat 20]

Fills a fresh embedded database (bench/workbench_data.py, whose findings carry signals),
then times ``views.search_page`` (what the queue page reads) sorted by ``learn``
(informativeness, read a window at a time through its index) and by ``score``: the first
page and page 50 by number, p50 and p95 in ms. Writes section "active_order" of
BENCHMARKS.md (``--no-write``: only print it).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pymongo import MongoClient  # noqa: E402

from bench.report import write_section  # noqa: E402
from bench.workbench import Timing, timed  # noqa: E402
from bench.workbench_data import fill  # noqa: E402
from tiequan.leads.queue import LeadQueue  # noqa: E402
from tiequan.storage.embedded import EmbeddedServer  # noqa: E402
from tiequan.web import views  # noqa: E402

DEEP_PAGE = 50
TITLE = "Queue order: active learning beside the score order"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp) / "db")
        client: MongoClient[dict[str, Any]] = MongoClient(server.start(), tz_aware=True)
        try:
            db = client[f"bench_active_{uuid.uuid4().hex[:8]}"]
            fill(db, args.leads)
            queue = LeadQueue(db)
            rows = []
            for sort in ("learn", "score"):
                for page in (1, DEEP_PAGE):
                    f = views.QueueFilter.from_params({"sort": sort, "page": str(page)})
                    ms = timed(functools.partial(views.search_page, queue, f), args.repeat)
                    rows.append(Timing(f"sort={sort}, page {page}", ms, ms).row())
        finally:
            client.close()
            server.stop()
    # The score order is the baseline: the same page of the same leads, in the same run.
    baseline = {name.split(", ")[1]: p50 for name, p50, *_ in rows if name.startswith("sort=score")}
    lines = [
        f"Command: `.venv/bin/python bench/active_order.py --leads {args.leads} "
        f"--repeat {args.repeat}`",
        f"{args.leads} leads, embedded SecantusDB, {args.repeat} reads each "
        f"({platform.machine()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}); `views.search_page`, no HTTP.",
        "",
        "| read | p50 ms | p95 ms | p50 / score order's p50 |",
        "|---|---:|---:|---:|",
        *(
            f"| {name} | {p50:.1f} | {p95:.1f} | {p50 / baseline[name.split(', ')[1]]:.2f} |"
            for name, p50, p95, _bare, _ratio in rows
        ),
        "",
        "The active order pages by number: leads written before it existed have no key, and a"
        " read past a cursor would never reach them.",
    ]
    body = "\n".join(lines) + "\n"
    print(body)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "active_order", TITLE, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
