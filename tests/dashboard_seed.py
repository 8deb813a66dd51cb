"""A small store with known figures, shared by the dashboard and monitoring-report tests.

The period is 2026-03-01 to 2026-03-10 (Asia/Shanghai). Leads L1, L2, L3 and L6 were found
in it (L6 at its first moment); L4 just before it, L5 just after. Decisions go through
LeadQueue.apply, so the audit records are the real ones.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from pymongo.database import Database

from tiequan.leads.queue import LeadQueue
from tiequan.leads.stats import Period
from tiequan.storage.store import LEADS, RUNS

CST = timezone(timedelta(hours=8))
PERIOD = Period(date(2026, 3, 1), date(2026, 3, 10))
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=CST)
SLIM, MIRACLE = "slimming_aphrodisiac", "miracle_drug"
SLIM_NAME, MIRACLE_NAME = "减肥壮阳类", "神药类"
TOP_PARTY = "塔拉浩特市甲乙保健品商行"
HOSTILE_PARTY = '$\\frac{$<script>alert(1)</script><img src=x onerror="alert(2)">'
HOSTILE_SHOP = "</textarea><svg onload=alert(3)>{{7*7}}"
DONGWULAN = "东乌兰旗市场监督管理局"
UNIT = "价格、反垄断和网络交易（广告）监督管理股"


def at(day: int, hour: int = 10, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CST)


def lead(
    lead_id: str,
    category: str,
    party: dict[str, Any],
    created: datetime,
    *,
    bureau: tuple[str, str] | None = ("dongwulan", DONGWULAN),
    severity: str = "立案",
    due: datetime | None = None,
    shop: str = "甲乙保健专营店",
) -> dict[str, Any]:
    return {
        "_id": lead_id,
        "schema": 2,
        "party_key": party["key"],
        "category": category,
        "category_name": SLIM_NAME if category == SLIM else MIRACLE_NAME,
        "party": party,
        "jurisdiction": {"bureau_key": bureau[0], "bureau_name": bureau[1]} if bureau else None,
        "lead_unit": UNIT,
        "lead_unit_key": "network_ad",
        "co_units": [],
        "status": "待研判",
        "status_at": created,
        "due_at": due or created + timedelta(days=3),
        "created_at": created,
        "max_severity": severity,
        "severity": severity,
        "shop_name": shop,
        "score": 0.9,
        "version": 1,
    }


def seed(db: Database[dict[str, Any]]) -> LeadQueue:
    p1 = {"key": "uscc:P1", "name": TOP_PARTY}
    p2 = {"key": "shop:P2"}  # no name: known by its shop's
    p3 = {"key": "shop:P3", "label": HOSTILE_PARTY}
    db[LEADS].insert_many(
        [
            lead("L1", SLIM, p1, at(2)),
            lead(
                "L2", SLIM, p1 | {"key": "uscc:P1"}, at(2, 23, 30), bureau=None, severity="提醒告诫"
            ),
            lead(
                "L3",
                MIRACLE,
                p2,
                at(5),
                bureau=("xiwulan", "西乌兰旗市场监督管理局"),
                due=at(8),
                shop=HOSTILE_SHOP,
            ),
            lead("L4", MIRACLE, p1, at(28, 23, 59, month=2)),
            lead("L5", SLIM, p3 | {"key": "shop:P5"}, at(11, 0, 0), due=at(20)),
            lead("L6", SLIM, p3, at(1, 0, 0)),
        ]
    )
    queue = LeadQueue(db)
    steps = [
        ("L6", "dismiss", "rev", at(2), "误报"),
        ("L1", "confirm", "rev", at(3), None),
        ("L2", "dismiss", "rev2", at(3, 9), "重复线索"),
        ("L6", "reopen", "rev", at(3, 11), "再看"),
        ("L1", "refer", "rev", at(4), None),
        ("L6", "confirm", "rev", at(4, 11), None),
        ("L4", "police", "rev2", at(5), "涉嫌犯罪"),
        ("L1", "close", "unit1", at(6), None),
        ("L5", "admonish", "rev", at(11, 12), None),  # after the period
    ]
    for lead_id, action, actor, when, reason in steps:
        outcome = "已责令下架" if action == "close" else None
        queue.apply(lead_id, action, actor, reason=reason, outcome=outcome, now=when)
    db[RUNS].insert_many(
        [
            run("R0", at(20, 2, month=2), pages=99, items=99, errors=9, elapsed=1.0),
            run("R1", at(2, 2), pages=10, items=8, errors=1, elapsed=12.5, findings=3, new=2),
            run("R2", at(9, 2), pages=5, items=4, errors=0, elapsed=7.25, findings=1, new=1),
        ]
    )
    return queue


def run(
    run_id: str,
    started: datetime,
    *,
    pages: int,
    items: int,
    errors: int,
    elapsed: float,
    findings: int = 0,
    new: int = 0,
) -> dict[str, Any]:
    """A run record as tiequan.sweep writes it (``started_at`` an ISO string)."""
    totals = {"pages": pages, "items": items, "dropped": 0, "findings": findings,
              "leads_new": new, "leads_seen_again": 0, "errors": errors}  # fmt: skip
    return {
        "_id": run_id,
        "run_id": run_id,
        "started_at": started.isoformat(),
        "elapsed_s": elapsed,
        "totals": totals,
        "created_at": started + timedelta(seconds=elapsed),
    }
