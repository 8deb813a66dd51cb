"""The lead queue: findings become leads, reviewers claim them, one lead per listing+category.

A lead's ``_id`` is its short id ("XS" + hex of a hash of platform|item_id|category), so it
is the same on every sweep and every machine. Uniqueness rests on the ``lead_key`` index
over (platform, item_id, category); the id only names the lead.
"""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from tiequan.referral import Categories, load_categories
from tiequan.storage.bulk import DUPLICATE_KEY, bulk_upsert
from tiequan.storage.store import LEADS, SCHEMA_VERSION, Store, utcnow

log = logging.getLogger(__name__)

STATUS_PENDING = "待研判"
STATUS_REVIEWING = "研判中"
SOURCE_CRAWLER = "crawler"
ID_PREFIX = "XS"
ID_LENGTHS = (10, 16, 24)  # longer ids only when a shorter one is already another lead's
CLAIM_ORDER = [("score", -1), ("created_at", 1), ("_id", 1)]
LIST_ORDER = [("created_at", -1), ("score", -1), ("_id", 1)]
_FIELD = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z0-9_]+)*$")

LeadKey = tuple[str, str, str]


class LeadNotFound(KeyError):
    """No lead has this id."""


@dataclass
class RecordResult:
    new: int = 0
    seen_again: int = 0
    new_ids: list[str] = field(default_factory=list)


def make_lead_id(platform: str, item_id: str, category: str, length: int = 10) -> str:
    digest = hashlib.sha256(f"{platform}|{item_id}|{category}".encode()).hexdigest()
    return ID_PREFIX + digest[:length].upper()


def normalise_lead_id(lead_id: str) -> str:
    return lead_id.strip().upper()


def _as_dict(obj: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    return dict(obj)


class LeadQueue:
    def __init__(self, db: Database[dict[str, Any]], categories: Categories | None = None) -> None:
        self.db = db
        self.coll: Collection[dict[str, Any]] = db[LEADS]
        self._categories = categories

    @property
    def categories(self) -> Categories:
        if self._categories is None:
            self._categories = load_categories()
        return self._categories

    def ensure_indexes(self) -> None:
        Store(self.db).ensure_indexes()

    def record(self, pairs: builtins.list[tuple[Any, Any]], run_id: str) -> RecordResult:
        """Turn (listing, finding) pairs into leads in one bulk write; re-sightings only
        update last_seen_at, seen_count and run_ids."""
        best: dict[LeadKey, tuple[dict[str, Any], dict[str, Any]]] = {}
        for listing_obj, finding_obj in pairs:
            listing, finding = _as_dict(listing_obj), _as_dict(finding_obj)
            if finding["category"] not in self.categories:
                raise ValueError(f"unknown category {finding['category']!r} in finding")
            key = (str(listing["platform"]), str(listing["item_id"]), finding["category"])
            # Two findings of one category on one listing in a batch: keep the stronger.
            if key not in best or finding.get("score", 0) > best[key][1].get("score", 0):
                best[key] = (listing, finding)
        items = builtins.list(best.items())
        result = RecordResult()
        now = utcnow()
        slow = self._record_fast(items, run_id, now, result)
        pending = slow
        for length in ID_LENGTHS:
            if not pending:
                break
            ops = [self._upsert_op(*items[i], run_id, now, length) for i in pending]
            outcome = bulk_upsert(self.coll, ops)
            result.new_ids += [outcome.upserted[j] for j in sorted(outcome.upserted)]
            result.seen_again += outcome.matched
            pending = [pending[j] for j in outcome.id_conflicts]
            if pending:
                log.warning(
                    "%d lead id(s) of length %d already taken; lengthening", len(pending), length
                )
        if pending:
            raise RuntimeError(f"could not allocate ids for {len(pending)} lead(s)")
        result.new = len(result.new_ids)
        return result

    def _record_fast(
        self,
        items: builtins.list[tuple[LeadKey, tuple[dict[str, Any], dict[str, Any]]]],
        run_id: str,
        now: Any,
        result: RecordResult,
    ) -> builtins.list[int]:
        """Plain inserts and one multi-update for the usual case; returns what needs upserts.

        Upserts through the unique key cost several times an insert on the embedded
        server, so leads whose short id is free are inserted, leads already stored under
        their short id get one update_many, and only id collisions and races (both rare)
        are left to the upsert path.
        """
        by_id = {make_lead_id(*key, ID_LENGTHS[0]): i for i, (key, _) in enumerate(items)}
        stored = {
            doc["_id"]: (doc.get("platform"), doc.get("item_id"), doc.get("category"))
            for doc in self.coll.find(
                {"_id": {"$in": builtins.list(by_id)}}, {"platform": 1, "item_id": 1, "category": 1}
            )
        }
        seen = [lead_id for lead_id, i in by_id.items() if stored.get(lead_id) == items[i][0]]
        fresh = [i for lead_id, i in by_id.items() if lead_id not in stored]
        slow = [i for lead_id, i in by_id.items() if lead_id in stored and lead_id not in seen]
        if seen:
            updated = self.coll.update_many({"_id": {"$in": seen}}, self._seen_update(run_id, now))
            result.seen_again += updated.matched_count
        if fresh:
            docs = [self._new_lead(*items[i], run_id, now, ID_LENGTHS[0]) for i in fresh]
            for doc in docs:
                doc.update(last_seen_at=now, last_run_id=run_id, seen_count=1, run_ids=[run_id])
            try:
                self.coll.insert_many(docs, ordered=False)
                result.new_ids += [doc["_id"] for doc in docs]
            except BulkWriteError as exc:
                failed = {e["index"] for e in exc.details.get("writeErrors", [])}
                if any(e.get("code") != DUPLICATE_KEY for e in exc.details["writeErrors"]):
                    raise
                result.new_ids += [d["_id"] for j, d in enumerate(docs) if j not in failed]
                slow += [fresh[j] for j in sorted(failed)]  # raced another writer: upsert
        return slow

    @staticmethod
    def _seen_update(run_id: str, now: Any) -> dict[str, Any]:
        return {
            "$set": {"last_seen_at": now, "last_run_id": run_id},
            "$inc": {"seen_count": 1},
            "$addToSet": {"run_ids": run_id},
        }

    def _upsert_op(
        self,
        key: LeadKey,
        pair: tuple[dict[str, Any], dict[str, Any]],
        run_id: str,
        now: Any,
        id_length: int,
    ) -> UpdateOne:
        platform, item_id, category = key
        created = self._new_lead(key, pair, run_id, now, id_length)
        for name in ("platform", "item_id", "category"):
            del created[name]  # the filter supplies them on insert
        return UpdateOne(
            {"platform": platform, "item_id": item_id, "category": category},
            {"$setOnInsert": created, **self._seen_update(run_id, now)},
            upsert=True,
        )

    def _new_lead(
        self,
        key: LeadKey,
        pair: tuple[dict[str, Any], dict[str, Any]],
        run_id: str,
        now: Any,
        id_length: int,
    ) -> dict[str, Any]:
        platform, item_id, category = key
        listing, finding = pair
        cat = self.categories.get(category)
        licence = listing.get("licence") or {}
        party = None
        if any(licence.get(k) for k in ("credit_code", "name", "address")):
            party = {
                "credit_code": licence.get("credit_code"),
                "name": licence.get("name"),
                "address": licence.get("address"),
                "licence_url": licence.get("url"),
            }
        return {
            "_id": make_lead_id(platform, item_id, category, id_length),
            "platform": platform,
            "item_id": item_id,
            "category": category,
            "schema": SCHEMA_VERSION,
            "source": SOURCE_CRAWLER,
            "status": STATUS_PENDING,
            "claimed_by": None,
            "claimed_at": None,
            "created_at": now,
            "first_run_id": run_id,
            "platform_name": listing.get("platform_name") or platform,
            "title": listing.get("title") or "",
            "url": listing.get("url") or "",
            "shop_name": listing.get("shop_name"),
            "party": party,
            "listing": {
                k: listing.get(k)
                for k in ("kind", "url", "final_url", "price", "shop_url", "captured_at")
            },
            "category_name": cat.name,
            "score": float(finding.get("score", 0.0)),
            "article": finding.get("article") or "",
            "matched": builtins.list(finding.get("matched") or []),
            "spans": [builtins.list(s) for s in finding.get("spans") or []],
            "explanation": finding.get("explanation") or "",
            "severity": finding.get("severity") or "",
            # Set when the claim was read from a product image: {"url", "text"}.
            "image": finding.get("image"),
            "lead_unit": cat.lead_unit,
            "lead_unit_key": cat.lead_unit_key,
            "co_units": builtins.list(cat.co_units),
            "co_unit_keys": builtins.list(cat.co_unit_keys),
        }

    def _unit_filter(self, unit: str) -> str:
        name = self.categories.unit_name(unit)
        if name is None:
            raise ValueError(f"未知单位：{unit}")
        return name

    def _query(self, status: str | None, category: str | None, unit: str | None) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if status:
            query["status"] = status
        if category:
            query["category"] = category
        if unit:
            query["lead_unit"] = self._unit_filter(unit)
        return query

    def claim(
        self, reviewer: str, category: str | None = None, unit: str | None = None
    ) -> dict[str, Any] | None:
        """Atomically take the best unclaimed pending lead (highest score, then oldest)."""
        query = self._query(STATUS_PENDING, category, unit)
        query["claimed_by"] = None
        return self.coll.find_one_and_update(
            query,
            {"$set": {"status": STATUS_REVIEWING, "claimed_by": reviewer, "claimed_at": utcnow()}},
            sort=CLAIM_ORDER,
            return_document=ReturnDocument.AFTER,
        )

    def release(self, lead_id: str, reviewer: str) -> bool:
        """Give a claimed lead back to the queue; False if ``reviewer`` does not hold it."""
        lead_id = normalise_lead_id(lead_id)
        doc = self.coll.find_one_and_update(
            {"_id": lead_id, "status": STATUS_REVIEWING, "claimed_by": reviewer},
            {"$set": {"status": STATUS_PENDING, "claimed_by": None, "claimed_at": None}},
        )
        if doc is None and self.coll.count_documents({"_id": lead_id}, limit=1) == 0:
            raise LeadNotFound(lead_id)
        return doc is not None

    def get(self, lead_id: str) -> dict[str, Any] | None:
        return self.coll.find_one({"_id": normalise_lead_id(lead_id)})

    def counts_by(self, field_name: str) -> dict[Any, int]:
        """Number of leads per value of a field, largest first."""
        if not _FIELD.match(field_name):
            raise ValueError(f"bad field name {field_name!r}")
        pipeline: builtins.list[dict[str, Any]] = [
            {"$group": {"_id": f"${field_name}", "n": {"$sum": 1}}},
            {"$sort": {"n": -1, "_id": 1}},
        ]
        return {row["_id"]: row["n"] for row in self.coll.aggregate(pipeline)}

    def list(
        self,
        status: str | None = None,
        category: str | None = None,
        unit: str | None = None,
        limit: int = 50,
    ) -> builtins.list[dict[str, Any]]:
        """Leads matching the filters (unit = lead unit, key or Chinese name), newest first."""
        cursor = self.coll.find(self._query(status, category, unit)).sort(LIST_ORDER)
        return builtins.list(cursor.limit(max(0, limit)))
