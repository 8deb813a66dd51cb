"""A bulk action on a whole filter: ``LeadQueue.apply_many`` against one ``apply`` per lead.

Usage: .venv/bin/python bench/bulk.py [--leads 10000] [--action dismiss] [--no-write]

Two databases on one embedded server are seeded alike (``insert_many`` of leads cloned
from one the recorder made, and their stored listings). In the same run the action is
applied to every lead of one by a loop of ``apply`` and to the other's by ``apply_many``;
the two end states are compared before the ratio is printed. Writes the "bulk_apply"
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
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
from pymongo.database import Database  # noqa: E402

from bench.report import write_section  # noqa: E402
from tiequan.leads.bulk import BATCH  # noqa: E402
from tiequan.leads.queue import CLAIM_ORDER, LeadQueue, make_lead_id  # noqa: E402
from tiequan.storage.embedded import EmbeddedServer  # noqa: E402
from tiequan.storage.listings import listing_id  # noqa: E402
from tiequan.storage.store import AUDIT, LABELS, LEADS, LISTINGS, Store  # noqa: E402

REASONS = {"dismiss": "店铺已关闭", "confirm": None, "claim": None, "admonish": None}


def template_listing(item_id: str) -> dict[str, Any]:
    return {
        "platform": "demo_shop",
        "kind": "product",
        "url": f"https://shop.example/item/{item_id}",
        "item_id": item_id,
        "title": f"纤体速效茶 第{item_id}款 七天见效",
        "description": "喝一周瘦八斤，不节食不运动，无效退款。" * 4,
        "text": "纯天然草本配方，添加左旋肉碱，三天排油。" * 8,
        "price": 39.9,
        "shop_name": "小美保健专营店",
        "shop_url": "https://shop.example/shop/xiaomei",
        "licence": None,
        "captured_at": "2024-06-01T02:00:00+08:00",
        "evidence_id": None,
    }


def template(db: Database[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One lead as the recorder writes it, and its stored listing."""
    queue = LeadQueue(db)
    queue.ensure_indexes()
    item = template_listing("0")
    Store(db).record_listings([item], run_id="bench")
    found = {
        "category": "slimming_aphrodisiac",
        "score": 0.9,
        "article": "《食品安全法》第七十三条",
        "spans": [[0, 4]],
        "explanation": "普通食品宣称减肥功效，疑似非法添加。",
        "matched": ["瘦八斤", "纤体速效"],
        "severity": "立案",
    }
    queue.record([(item, found)], run_id="bench")
    lead, stored = db[LEADS].find_one(), db[LISTINGS].find_one()
    assert lead is not None and stored is not None
    return lead, stored


def seed(
    db: Database[dict[str, Any]], lead: dict[str, Any], stored: dict[str, Any], n: int
) -> None:
    LeadQueue(db).ensure_indexes()
    leads, listings = [], []
    for i in range(n):
        item_id = f"b{i}"
        party = f"shop:demo_shop:/shop/bench{i}"
        doc = copy.deepcopy(lead)
        doc.update(_id=make_lead_id(party, doc["category"]), party_key=party)
        doc["score"] = round(0.5 + (i % 500) / 1000, 3)
        for entry in doc["listings"]:
            entry.update(item_id=item_id, url=f"https://shop.example/item/{item_id}")
        leads.append(doc)
        text = copy.deepcopy(stored)
        text.update(_id=listing_id("demo_shop", item_id), item_id=item_id)
        listings.append(text)
    for start in range(0, n, 1000):
        db[LEADS].insert_many(leads[start : start + 1000])
        db[LISTINGS].insert_many(listings[start : start + 1000])


def state(db: Database[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {name: list(db[name].find().sort([("_id", 1)])) for name in (LEADS, AUDIT, LABELS)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--action", choices=sorted(REASONS), default="dismiss")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    reason = REASONS[args.action]
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="tiequan-bench-") as tmp:
        server = EmbeddedServer(Path(tmp) / "db")
        client: MongoClient[dict[str, Any]] = MongoClient(server.start(), tz_aware=True)
        try:
            lead, stored = template(client["bench_template"])
            started = time.perf_counter()
            for name in ("bench_loop", "bench_bulk"):
                seed(client[name], lead, stored, args.leads)
            seeded = time.perf_counter() - started
            loop_q, bulk_q = LeadQueue(client["bench_loop"]), LeadQueue(client["bench_bulk"])

            started = time.perf_counter()
            preview = bulk_q.apply_many({}, args.action, "bench", reason, dry_run=True, now=now)
            dry = time.perf_counter() - started

            started = time.perf_counter()
            for doc in loop_q.coll.find({}, {"_id": 1}).sort(CLAIM_ORDER):
                loop_q.apply(doc["_id"], args.action, "bench", reason=reason, now=now)
            loop = time.perf_counter() - started

            started = time.perf_counter()
            result = bulk_q.apply_many({}, args.action, "bench", reason, now=now)
            batched = time.perf_counter() - started

            assert len(preview.applied) == len(result.applied) == args.leads, result.reasons()
            same = state(client["bench_loop"]) == state(client["bench_bulk"])
            assert same, "apply_many and the loop of apply left different data"
        finally:
            client.close()
            server.stop()
    n = args.leads
    body = "\n".join(
        [
            f"Command: `.venv/bin/python bench/bulk.py --leads {n} --action {args.action}`",
            f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; "
            f"{os.cpu_count()} cores shared with other work; embedded SecantusDB; batches of "
            f"{BATCH}; seeding both databases ({n} leads and listings each): {seeded:.1f} s.",
            "",
            "| variant | leads | seconds | ms per lead |",
            "|---|---:|---:|---:|",
            f"| one `apply` per lead (apply_many before) | {n} | {loop:.1f} | "
            f"{1000 * loop / n:.2f} |",
            f"| `apply_many` in batches | {n} | {batched:.1f} | {1000 * batched / n:.2f} |",
            f"| `apply_many` dry run (the preview) | {n} | {dry:.1f} | {1000 * dry / n:.2f} |",
            "",
            f"Ratio loop / apply_many: **{loop / batched:.1f}×**. Both leave the same leads, "
            "audit records and labels (compared in the run).",
        ]
    )
    print(body)
    if not args.no_write:
        title = "Bulk actions: apply_many against one apply per lead"
        write_section(ROOT / "BENCHMARKS.md", "bulk_apply", title, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
