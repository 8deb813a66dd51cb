"""The aggregation pipelines behind tiequan.leads.stats, each run by the database.

Every stage used here (``$facet``, ``$lookup``, ``$dateToString`` with a time zone, ``$last``
after ``$sort``, ``$ifNull`` with several arguments) is supported by the embedded server;
tests/test_dashboard.py runs them there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.database import Database

from tiequan.leads.lifecycle import (
    ACTIONS,
    FINAL,
    STATUS_ADMONISHED,
    STATUS_CLOSED,
    STATUS_CONFIRMED,
    STATUS_DISMISSED,
    STATUS_POLICE,
    STATUS_REFERRED,
)
from tiequan.storage.store import AUDIT, LEADS, RUNS

CONFIRMED_STATUSES = (
    STATUS_CONFIRMED,
    STATUS_REFERRED,
    STATUS_ADMONISHED,
    STATUS_POLICE,
    STATUS_CLOSED,
)
DISMISSED_STATUSES = (STATUS_DISMISSED,)
# The actions that settle a lead: confirm, refer, admonish, police, dismiss, close. A unit's
# 退回移送 lands on 已确认 too, but it hands the decision back to a reviewer: not a decision.
DECISION_ACTIONS = tuple(
    name
    for name, a in ACTIONS.items()
    if a.target in (*CONFIRMED_STATUSES, *DISMISSED_STATUSES) and name != "return"
)
CONFIRMING_ACTIONS = tuple(a for a in DECISION_ACTIONS if ACTIONS[a].target in CONFIRMED_STATUSES)
# What a reviewer decides; 办结 is the unit's report of its outcome, not a reviewer's work.
REVIEW_ACTIONS = tuple(a for a in DECISION_ACTIONS if a != "close")
RUN_TOTALS = ("pages", "items", "findings", "leads_new", "errors")
RUNS_SHOWN = 30
OVERDUE_SHOWN = 20
UNRESOLVED = "未能确定管辖"
NO_UNIT = "未指定牵头单位"
NO_SEVERITY = "未标注"
UNKNOWN_PARTY = "未识别主体"
Rows = list[dict[str, Any]]


def day_of(path: str) -> dict[str, Any]:
    """The Asia/Shanghai calendar day of a stored time, as YYYY-MM-DD."""
    return {"$dateToString": {"format": "%Y-%m-%d", "date": path, "timezone": "Asia/Shanghai"}}


def count_by(key: Any, label: Any = None) -> Rows:
    """Stages counting documents per ``key``, with the first ``label`` seen for each."""
    return [
        {"$group": {"_id": key, "label": {"$first": label or key}, "n": {"$sum": 1}}},
        {"$sort": {"n": -1, "_id": 1}},
    ]


def per_day(key: str, when: str) -> Rows:
    return [{"$group": {"_id": {"key": key, "day": day_of(when)}, "n": {"$sum": 1}}}]


def facets(db: Database[dict[str, Any]], collection: str, pipeline: Rows) -> dict[str, Rows]:
    """The one document a pipeline ending in ``$facet`` gives (an empty one for no input)."""
    found = next(iter(db[collection].aggregate(pipeline)), None) or {}
    return {str(name): list(rows) for name, rows in found.items()}


def between(field: str, since: datetime, until: datetime) -> dict[str, Any]:
    return {"$match": {field: {"$gte": since, "$lt": until}}}


def lead_rows(db: Database[dict[str, Any]], since: datetime, until: datetime) -> dict[str, Rows]:
    """The leads found in [since, until) (by ``created_at``), counted six ways in one read."""
    party = {"$ifNull": ["$party.name", "$party.label", "$shop_name", UNKNOWN_PARTY]}
    bureau = ["$jurisdiction.bureau_key", "$jurisdiction.bureau_name"]
    return facets(
        db,
        LEADS,
        [
            between("created_at", since, until),
            {
                "$facet": {
                    "category": count_by("$category", {"$ifNull": ["$category_name", "$category"]}),
                    "days": per_day("$category", "$created_at"),
                    "unit": count_by({"$ifNull": ["$lead_unit", NO_UNIT]}),
                    "bureau": count_by(
                        {"$ifNull": [bureau[0], ""]}, {"$ifNull": [bureau[1], UNRESOLVED]}
                    ),
                    "severity": count_by({"$ifNull": ["$max_severity", "$severity", NO_SEVERITY]}),
                    "party": count_by({"$ifNull": ["$party_key", ""]}, party),
                }
            },
        ],
    )


def decision_rows(
    db: Database[dict[str, Any]], since: datetime, until: datetime
) -> dict[str, Rows]:
    """Decision records in [since, until): per action, per reviewer and day, and per
    category the leads decided and how many of them were last decided confirmed-like."""
    match = {
        "$match": {"at": {"$gte": since, "$lt": until}, "action": {"$in": list(DECISION_ACTIONS)}}
    }
    found = facets(
        db,
        AUDIT,
        [
            match,
            {
                "$facet": {
                    "actions": [{"$group": {"_id": "$action", "n": {"$sum": 1}}}],
                    "reviewers": [
                        {"$match": {"action": {"$in": list(REVIEW_ACTIONS)}}},
                        *per_day("$actor", "$at"),
                    ],
                }
            },
        ],
    )
    confirming = {"$in": ["$action", list(CONFIRMING_ACTIONS)]}
    latest: Rows = [
        match,
        {"$sort": {"at": 1, "version": 1}},
        {"$group": {"_id": "$lead_id", "action": {"$last": "$action"}}},
        {"$lookup": {"from": LEADS, "localField": "_id", "foreignField": "_id", "as": "lead"}},
        {"$unwind": "$lead"},
        {
            "$group": {
                "_id": "$lead.category",
                "label": {"$first": {"$ifNull": ["$lead.category_name", "$lead.category"]}},
                "decided": {"$sum": 1},
                "confirmed": {"$sum": {"$cond": [confirming, 1, 0]}},
            }
        },
    ]
    found["precision"] = list(db[AUDIT].aggregate(latest))
    return found


def run_rows(db: Database[dict[str, Any]], since: datetime, until: datetime) -> dict[str, Rows]:
    """The sweep runs recorded in [since, until): their totals, and the latest ones."""
    total = {name: {"$sum": {"$ifNull": [f"$totals.{name}", 0]}} for name in RUN_TOTALS}
    return facets(
        db,
        RUNS,
        [
            between("created_at", since, until),
            {
                "$facet": {
                    "totals": [{"$group": {"_id": None, "runs": {"$sum": 1}, **total}}],
                    "latest": [{"$sort": {"created_at": -1, "_id": -1}}, {"$limit": RUNS_SHOWN}],
                }
            },
        ],
    )


def overdue_rows(db: Database[dict[str, Any]], now: datetime) -> tuple[int, Rows]:
    """Open leads past the due date of their status as of ``now``: how many, and the
    most overdue ones (as LeadQueue.overdue orders them)."""
    query = {"due_at": {"$lt": now}, "status": {"$nin": sorted(FINAL)}}
    count = db[LEADS].count_documents(query)
    fields = {k: 1 for k in ("category", "category_name", "party", "shop_name", "status", "due_at")}
    cursor = db[LEADS].find(query, fields).sort([("due_at", 1), ("_id", 1)])
    return count, list(cursor.limit(OVERDUE_SHOWN))
