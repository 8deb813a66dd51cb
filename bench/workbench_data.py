"""A fresh store of realistic leads for bench/workbench.py, written by the project's own code.

Leads come from ``LeadQueue.record`` (the sweep's path) over listings whose shops, licences,
addresses, platforms and categories vary; each listing is stored too (the lead page reads
it) with one evidence set. Statuses, claims and due dates are then set the way the
lifecycle would leave them, spread over the last 90 days.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.database import Database

from tiequan.leads.lifecycle import FINAL, STATUSES, load_lifecycle
from tiequan.leads.queue import LeadQueue
from tiequan.party.creditcode import check_digit
from tiequan.referral import load_categories
from tiequan.storage.store import EVIDENCE, Store

PLATFORMS = (("demo_shop", "示例商城"), ("grass_mall", "草原优选"), ("wulan_market", "乌兰集市"))
COUNTIES = (
    ("159902", "塔拉浩特市"), ("159921", "东乌兰旗"), ("159922", "西乌兰旗"),
    ("159923", "查干诺尔县"), ("159924", "巴彦锡勒旗"), ("159925", "额尔敦区"),
    ("440300", "深圳市"),
)  # fmt: skip
SOURCES = ("crawler", "crawler", "crawler", "tip", "higher-bureau")
SEVERITIES = ("提醒告诫", "立案", "移送公安")
REVIEWERS = tuple(f"reviewer{i}" for i in range(1, 6))
TEXT = (
    "本店商品经国家认证，喝一周瘦八斤，纤体速效，无效退款。",
    "祖传秘方，根治各种疑难杂症，三天见效，全国包邮。",
    "正品保证，假一赔十，限时特价，欢迎咨询客服。",
)


def _credit_code(division: str, n: int) -> str:
    body = f"92{division}MA{n:07d}"[:17].ljust(17, "0")
    return body + check_digit(body)


def fill(db: Database[dict[str, Any]], leads: int, seed: int = 20261201) -> list[str]:
    """Write ``leads`` leads (with listings and evidence sets); returns their ids."""
    rng = random.Random(seed)
    queue, store = LeadQueue(db), Store(db)
    queue.ensure_indexes()
    categories = [c.id for c in load_categories() if c.online]
    now = datetime.now(UTC).replace(microsecond=0)
    by_day: dict[int, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    listings: list[dict[str, Any]] = []
    for n in range(leads):
        division, county = rng.choice(COUNTIES)
        platform, platform_name = rng.choice(PLATFORMS)
        category = rng.choice(categories)
        shop = f"{county}第{n}号店"
        for k in range(1 + (rng.random() < 0.2)):  # one lead in five has two listings
            item_id = f"{n}-{k}"
            listing = {
                "platform": platform, "platform_name": platform_name, "kind": "product",
                "url": f"https://{platform}.example/item/{item_id}", "item_id": item_id,
                "title": f"{rng.choice(('纤体', '特效', '正品', '秘制'))}商品 {item_id}",
                "description": rng.choice(TEXT), "text": rng.choice(TEXT),
                "price": round(rng.uniform(5, 500), 2), "shop_name": shop,
                "shop_url": f"https://{platform}.example/shop/{n}",
                "licence": {
                    "credit_code": _credit_code(division, n), "name": f"{county}某某商行{n}",
                    "address": f"内蒙古自治区乌兰塔拉盟{county}团结大街{n % 300}号", "url": None,
                },
                "captured_at": now.isoformat(), "evidence_id": f"EV-{item_id}",
            }  # fmt: skip
            finding = {
                "category": category, "score": round(rng.uniform(0.5, 0.99), 4),
                "article": "《广告法》第二十八条", "spans": [[0, 4]],
                "explanation": "宣传内容疑似虚假或违法。", "matched": ["瘦八斤", "根治"],
                "severity": rng.choice(SEVERITIES),
                # What the stacker read (the active-learning order sorts by it).
                "signals": {"rules": round(rng.random(), 4), "model": round(rng.random(), 4),
                            "threshold": 0.5},
            }  # fmt: skip
            by_day.setdefault(rng.randrange(90), []).append((listing, finding))
            listings.append(listing)
    for day, pairs in sorted(by_day.items()):
        queue.record(pairs, run_id=f"R{day:03d}", now=now - timedelta(days=day, minutes=day))
    store.record_listings([dict(x) for x in listings], run_id="R000")
    ids = _spread_statuses(db, rng, now)
    _evidence(db, ids)
    return ids


def _spread_statuses(db: Database[dict[str, Any]], rng: random.Random, now: datetime) -> list[str]:
    lifecycle = load_lifecycle()
    writes, ids = [], []
    for doc in db.leads.find({}, {"created_at": 1, "party_key": 1, "listings.platform": 1}):
        ids.append(doc["_id"])
        status = rng.choices(STATUSES, weights=[40, 15, 8, 10, 5, 3, 12, 7])[0]
        status_at = doc["created_at"] + timedelta(hours=rng.randrange(1, 24 * 30))
        status_at = min(status_at, now)
        fields: dict[str, Any] = {
            "status": status,
            "status_at": status_at,
            "due_at": None if status in FINAL else lifecycle.due_at(status, status_at),
            "source": rng.choice(SOURCES),
            "claimed_by": rng.choice(REVIEWERS) if status != STATUSES[0] else None,
        }
        writes.append(UpdateOne({"_id": doc["_id"]}, {"$set": fields}))
    for start in range(0, len(writes), 1000):
        db.leads.bulk_write(writes[start : start + 1000], ordered=False)
    return ids


def _evidence(db: Database[dict[str, Any]], ids: list[str]) -> None:
    docs = []
    for lead in db.leads.find({}, {"party_key": 1, "category": 1, "listings": 1}):
        for entry in lead.get("listings") or []:
            docs.append(
                {
                    "_id": entry.get("evidence_id") or f"EV-{entry['item_id']}",
                    "lead_ids": [lead["_id"]],
                    "platform": entry["platform"],
                    "item_id": entry["item_id"],
                    "run_id": "R000",
                    "captured_at": entry.get("first_seen_at") or datetime.now(UTC),
                    "url": entry.get("url"),
                    "categories": [lead["category"]],
                    "party_key": lead["party_key"],
                    "artefacts": [],
                    "notes": [],
                }
            )
    for start in range(0, len(docs), 1000):
        db[EVIDENCE].insert_many(docs[start : start + 1000], ordered=False)
