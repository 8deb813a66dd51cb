"""Cases: one lead per party and category, collecting every listing and every night.

A listing seen again adds a sighting (and that night's evidence set) to its case, never a
new lead. A case's ``_id`` is "XS" + hex of a hash of party_key|category, so it is the
same on every sweep and machine; uniqueness rests on the ``lead_case_key`` index.

Writes are one ``insert_many`` for new cases and one unordered ``bulk_write`` of
read-modify-write updates for known ones. Each update is guarded by the version it read;
an update that lost a race to another writer is re-read and re-applied.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from tiequan.leads.learning import lead_informativeness
from tiequan.leads.lifecycle import STATUS_PENDING, Lifecycle
from tiequan.party import Party, party_from_listing
from tiequan.referral import Categories
from tiequan.storage.bulk import DUPLICATE_KEY, is_id_conflict
from tiequan.storage.store import LEADS, SCHEMA_VERSION, utcnow

log = logging.getLogger(__name__)

ID_PREFIX = "XS"
ID_LENGTHS = (10, 16, 24)  # a longer id only when the shorter one is another case's
SOURCES = ("crawler", "tip", "higher-bureau")
SEVERITY_RANK = {"提醒告诫": 0, "立案": 1, "移送公安": 2}
_SEVERITY_WEIGHT = {"提醒告诫": 0.0, "立案": 0.05, "移送公安": 0.2}
_RETRIES = 5
# Finding fields kept per listing in a case, and copied to the case from its strongest one.
FINDING_FIELDS = (
    "score", "severity", "article", "explanation", "matched", "spans", "image", "finding_type",
    "model_version", "signals",
)  # fmt: skip
_LISTING_FIELDS = ("url", "final_url", "title", "shop_name", "price", "kind", "platform_name")

CaseKey = tuple[str, str]  # (party_key, category)
ListingKey = tuple[str, str]  # (platform, item_id)


def make_lead_id(party_key: str, category: str, length: int = ID_LENGTHS[0]) -> str:
    digest = hashlib.sha256(f"{party_key}|{category}".encode()).hexdigest()
    return ID_PREFIX + digest[:length].upper()


def case_score(finding_score: float, listings: int, nights: int, severity: str) -> float:
    """The case's priority: its strongest finding, raised by breadth, duration and severity.

    1 − (1 − finding)(1 − listings)(1 − nights)(1 − severity), with the listing term
    0.1·log2(n) up to 0.3, the night term 0.04 per night after the first up to 0.2, and
    the severity term 0 / 0.05 / 0.2 for 提醒告诫 / 立案 / 移送公安.
    """
    s_listings = min(0.3, 0.1 * math.log2(max(1, listings)))
    s_nights = min(0.2, 0.04 * max(0, nights - 1))
    s_severity = _SEVERITY_WEIGHT.get(severity, 0.0)
    rest = (1.0 - finding_score) * (1.0 - s_listings) * (1.0 - s_nights) * (1.0 - s_severity)
    return round(min(1.0, max(0.0, 1.0 - rest)), 4)


class LeadRoute(NamedTuple):
    """Where a recorded case stands: its category and the unit that leads it."""

    category: str
    lead_unit: str | None


@dataclass
class RecordResult:
    new: int = 0
    seen_again: int = 0  # sightings added to cases that already existed
    new_ids: list[str] = field(default_factory=list)
    case_ids: list[str] = field(default_factory=list)  # every case touched, new or not
    routes: dict[str, LeadRoute] = field(default_factory=dict)  # by case id, as written

    def touched(self, doc: Mapping[str, Any]) -> None:
        self.case_ids.append(doc["_id"])
        self.routes[doc["_id"]] = LeadRoute(str(doc["category"]), doc.get("lead_unit"))


@dataclass
class _Case:
    key: CaseKey
    party: Party
    sightings: dict[ListingKey, tuple[dict[str, Any], dict[str, Any]]]


def _as_dict(obj: Any) -> dict[str, Any]:
    to_dict = getattr(obj, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else dict(obj)


class CaseRecorder:
    """Turns (listing, finding) pairs into cases in ``coll`` (the ``leads`` collection)."""

    def __init__(
        self,
        coll: Collection[dict[str, Any]],
        categories: Categories,
        lifecycle: Lifecycle,
        party_of: Callable[[Mapping[str, Any]], Party] = party_from_listing,
    ) -> None:
        self.coll = coll
        self.categories = categories
        self.lifecycle = lifecycle
        self.party_of = party_of

    def record(
        self,
        pairs: Iterable[tuple[Any, Any]],
        run_id: str,
        *,
        now: datetime,
        source: str = "crawler",
        source_ref: str | None = None,
    ) -> RecordResult:
        if source not in SOURCES:
            raise ValueError(f"unknown lead source {source!r}; expected one of {SOURCES}")
        cases = self._group(pairs)
        result = RecordResult()
        if not cases:
            return result
        pending = dict(cases)
        for _attempt in range(_RETRIES):
            stored = self._load(list(pending))
            fresh = {k: c for k, c in pending.items() if k not in stored}
            known = {k: c for k, c in pending.items() if k in stored}
            raced = self._insert(fresh, run_id, now, source, source_ref, result)
            lost = self._update(known, stored, run_id, now, result)
            pending = {k: pending[k] for k in (*raced, *lost)}
            if not pending:
                break
            log.info("re-applying %d case write(s) that raced another writer", len(pending))
        if pending:
            raise RuntimeError(f"could not record {len(pending)} case(s) after {_RETRIES} tries")
        result.new = len(result.new_ids)
        return result

    def _group(self, pairs: Iterable[tuple[Any, Any]]) -> dict[CaseKey, _Case]:
        cases: dict[CaseKey, _Case] = {}
        for listing_obj, finding_obj in pairs:
            listing, finding = _as_dict(listing_obj), _as_dict(finding_obj)
            category = finding.get("category")
            if category not in self.categories:
                raise ValueError(f"unknown category {category!r} in finding")
            party = self.party_of(listing)
            key = (party.key, str(category))
            case = cases.setdefault(key, _Case(key, party, {}))
            lkey = (str(listing["platform"]), str(listing["item_id"]))
            seen = case.sightings.get(lkey)
            # Two findings of one category on one listing: keep the stronger.
            if seen is None or finding.get("score", 0) > seen[1].get("score", 0):
                case.sightings[lkey] = (listing, finding)
        return cases

    def _load(self, keys: list[CaseKey]) -> dict[CaseKey, dict[str, Any]]:
        query = {
            "party_key": {"$in": sorted({k[0] for k in keys})},
            "category": {"$in": sorted({k[1] for k in keys})},
        }
        wanted = set(keys)
        found: dict[CaseKey, dict[str, Any]] = {}
        for doc in self.coll.find(query):
            key = (doc["party_key"], doc["category"])
            if key in wanted:
                found[key] = doc
        return found

    def _insert(
        self,
        cases: dict[CaseKey, _Case],
        run_id: str,
        now: datetime,
        source: str,
        source_ref: str | None,
        result: RecordResult,
    ) -> list[CaseKey]:
        """Insert new cases; returns the keys another writer inserted first."""
        raced: list[CaseKey] = []
        todo = list(cases)
        for length in ID_LENGTHS:
            if not todo:
                break
            docs = [self._new_doc(cases[k], run_id, now, source, source_ref, length) for k in todo]
            taken_ids: list[CaseKey] = []
            try:
                self.coll.insert_many(docs, ordered=False)
                failed: dict[int, dict[str, Any]] = {}
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise
                failed = {e["index"]: e for e in errors}
            for i, key in enumerate(todo):
                if i not in failed:
                    result.new_ids.append(docs[i]["_id"])
                    result.touched(docs[i])
                elif is_id_conflict(failed[i]):
                    taken_ids.append(key)  # maybe an id collision: lengthen and retry
                else:
                    raced.append(key)  # the same case, inserted by another writer
            # An _id conflict can also be the same case inserted by a racing writer.
            if taken_ids:
                stored = self._load(taken_ids)
                raced += [k for k in taken_ids if k in stored]
                todo = [k for k in taken_ids if k not in stored]
                if todo:
                    log.warning("%d lead id(s) of length %d taken; lengthening", len(todo), length)
            else:
                todo = []
        if todo:
            raise RuntimeError(f"could not allocate ids for {len(todo)} case(s)")
        return raced

    def _new_doc(
        self,
        case: _Case,
        run_id: str,
        now: datetime,
        source: str,
        source_ref: str | None,
        id_length: int,
    ) -> dict[str, Any]:
        party_key, category = case.key
        cat = self.categories.get(category)
        listings = [_listing_entry(listing, finding, run_id, now) for listing, finding in
                    case.sightings.values()]  # fmt: skip
        doc: dict[str, Any] = {
            "_id": make_lead_id(party_key, category, id_length),
            "schema": SCHEMA_VERSION,
            "party_key": party_key,
            "category": category,
            "category_name": cat.name,
            "party": case.party.to_doc(),
            "jurisdiction": case.party.jurisdiction.to_doc(),
            "source": source,
            "source_ref": source_ref,
            "lead_unit": cat.lead_unit,
            "lead_unit_key": cat.lead_unit_key,
            "co_units": list(cat.co_units),
            "co_unit_keys": list(cat.co_unit_keys),
            "status": STATUS_PENDING,
            "status_at": now,
            "due_at": self.lifecycle.due_at(STATUS_PENDING, now),
            "claimed_by": None,
            "claimed_at": None,
            "created_at": now,
            "first_run_id": run_id,
            "run_ids": [run_id],
            "listings": listings,
            "evidence_count": sum(1 for e in listings if e.get("evidence_id")),
            "followups": [],
            "version": 1,
            "write_token": None,  # nosec B105 # a lease token field, not a password
        }
        doc.update(summarise(listings, nights=1))
        return doc

    def _update(
        self,
        cases: dict[CaseKey, _Case],
        stored: dict[CaseKey, dict[str, Any]],
        run_id: str,
        now: datetime,
        result: RecordResult,
    ) -> list[CaseKey]:
        """Merge sightings into stored cases; returns the keys whose write lost a race."""
        if not cases:
            return []
        token = secrets.token_hex(8)
        ops: list[UpdateOne] = []
        added = 0
        for key, case in cases.items():
            doc = stored[key]
            listings = {(e["platform"], e["item_id"]): e for e in doc.get("listings", [])}
            new_evidence = 0
            for lkey, (listing, finding) in case.sightings.items():
                entry = listings.get(lkey)
                fresh = _listing_entry(listing, finding, run_id, now)
                if entry is None:
                    listings[lkey] = fresh
                    new_evidence += bool(fresh.get("evidence_id"))
                    continue
                runs = list(entry.get("run_ids") or [entry.get("last_run_id")])
                if run_id not in runs:
                    runs.append(run_id)
                    new_evidence += bool(fresh.get("evidence_id"))
                entry.update({k: fresh[k] for k in (*FINDING_FIELDS, *_LISTING_FIELDS)})
                entry.update(
                    last_seen_at=now,
                    last_run_id=run_id,
                    run_ids=runs,
                    seen_count=len(runs),
                    evidence_id=fresh.get("evidence_id") or entry.get("evidence_id"),
                )
                if entry.get("state") != "online":  # flagged again after a takedown
                    entry.update(state="online", state_at=now)
            run_ids = list(doc.get("run_ids", []))
            if run_id not in run_ids:
                run_ids.append(run_id)
            entries = list(listings.values())
            fields = summarise(entries, nights=len(run_ids))
            fields.update(
                listings=entries,
                run_ids=run_ids,
                party=_merged_party(doc.get("party"), case.party.to_doc()),
                evidence_count=int(doc.get("evidence_count", 0)) + new_evidence,
                write_token=token,
            )
            if doc.get("jurisdiction", {}).get("bureau_key") is None:
                fields["jurisdiction"] = case.party.jurisdiction.to_doc()
            ops.append(
                UpdateOne(
                    {"_id": doc["_id"], "version": doc.get("version", 1)},
                    {"$set": fields, "$inc": {"version": 1}},
                )
            )
            added += len(case.sightings)
        self.coll.bulk_write(ops, ordered=False)
        ids = [stored[k]["_id"] for k in cases]
        written = {
            d["_id"]
            for d in self.coll.find({"_id": {"$in": ids}, "write_token": token}, {"_id": 1})
        }
        lost = [k for k in cases if stored[k]["_id"] not in written]
        for key in cases:
            if stored[key]["_id"] in written:
                result.touched(stored[key])
                result.seen_again += len(cases[key].sightings)
        return lost


def _listing_entry(
    listing: Mapping[str, Any], finding: Mapping[str, Any], run_id: str, now: datetime
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "platform": str(listing["platform"]),
        "item_id": str(listing["item_id"]),
        **{k: listing.get(k) for k in _LISTING_FIELDS},
        "captured_at": listing.get("captured_at"),
        "first_seen_at": now,
        "last_seen_at": now,
        "seen_count": 1,
        "last_run_id": run_id,
        "run_ids": [run_id],
        "evidence_id": listing.get("evidence_id"),
        "state": "online",
        "state_at": now,
    }
    entry["platform_name"] = entry.get("platform_name") or entry["platform"]
    entry.update(
        score=float(finding.get("score", 0.0)),
        severity=finding.get("severity") or "",
        article=finding.get("article") or "",
        explanation=finding.get("explanation") or "",
        matched=list(finding.get("matched") or []),
        spans=[list(s) for s in finding.get("spans") or []],
        # Set when the claim was read from a product image: {"url", "text"}.
        image=finding.get("image"),
        # "claim" (违法宣传) or "price_fraud" (价格欺诈).
        finding_type=finding.get("type") or finding.get("kind") or "claim",
        # The stored detector model that made the finding (labels keep it for retraining).
        model_version=finding.get("model_version") or None,
        # Rule score, model probability and threshold behind ``score`` (active learning).
        signals=finding.get("signals") or None,
    )
    return entry


def summarise(listings: list[dict[str, Any]], *, nights: int) -> dict[str, Any]:
    """Case-level fields derived from its listings: the strongest one shown, the score."""
    best = max(listings, key=lambda e: (e.get("score", 0.0), e.get("last_seen_at")))
    max_severity = max(
        (e.get("severity") or "" for e in listings), key=lambda s: SEVERITY_RANK.get(s, -1)
    )
    finding_score = float(best.get("score", 0.0))
    return {
        "listing_count": len(listings),
        "night_count": nights,
        "first_seen_at": min(e["first_seen_at"] for e in listings),
        "last_seen_at": max(e["last_seen_at"] for e in listings),
        "finding_score": finding_score,
        "max_severity": max_severity,
        "score": case_score(finding_score, len(listings), nights, max_severity),
        # The strongest listing, shown in lists and at the top of the detail view.
        "platform": best["platform"],
        "platform_name": best.get("platform_name") or best["platform"],
        "item_id": best["item_id"],
        "title": best.get("title") or "",
        "url": best.get("url") or "",
        "shop_name": best.get("shop_name"),
        **{k: best.get(k) for k in FINDING_FIELDS if k != "score"},
        "severity": max_severity,
        "informativeness": lead_informativeness(finding_score, best.get("signals")),
    }


def _merged_party(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """Keep what was known about the party; fill gaps from the newest sighting."""
    merged = dict(old or {})
    for key, value in new.items():
        if merged.get(key) in (None, "") and value not in (None, ""):
            merged[key] = value
    return merged


def upgrade_legacy_leads(
    coll: Collection[dict[str, Any]], party_of: Callable[[Mapping[str, Any]], Party]
) -> int:
    """Turn schema-1 leads (one per listing and category) into cases; returns how many.

    Each becomes the case of its listing's party with that one listing; its status,
    claims and history fields are kept. Two legacy leads of one party and category
    become one case: the first keeps its id, the others are merged into it and removed.
    """
    upgraded = 0
    for doc in list(coll.find({"party_key": {"$exists": False}})):
        listing = {
            **(doc.get("listing") or {}),
            **{
                k: doc.get(k)
                for k in ("platform", "item_id", "title", "url", "shop_name", "platform_name")
            },
        }
        listing["licence"] = doc.get("party")  # fmt: skip
        party = party_of(listing)
        seen = doc.get("created_at") or utcnow()
        entry = _listing_entry(listing, doc, doc.get("first_run_id") or "", seen)
        entry.update(last_seen_at=doc.get("last_seen_at") or seen, run_ids=doc.get("run_ids", []))
        entry["seen_count"] = len(entry["run_ids"]) or 1
        twin = coll.find_one({"party_key": party.key, "category": doc["category"]})
        if twin is not None:
            entries = [*twin.get("listings", []), entry]
            runs = sorted({*twin.get("run_ids", []), *entry["run_ids"]})
            coll.update_one(
                {"_id": twin["_id"]},
                {"$set": {**summarise(entries, nights=len(runs)), "listings": entries,
                          "run_ids": runs, "listing_count": len(entries)}},
            )  # fmt: skip
            coll.delete_one({"_id": doc["_id"]})
        else:
            fields = summarise([entry], nights=len(entry["run_ids"]) or 1)
            fields.update(
                party_key=party.key,
                party=party.to_doc(),
                jurisdiction=party.jurisdiction.to_doc(),
                listings=[entry],
                schema=SCHEMA_VERSION,
                status_at=doc.get("claimed_at") or seen,
                due_at=None,
                evidence_count=0,
                followups=[],
                version=1,
            )
            coll.update_one({"_id": doc["_id"]}, {"$set": fields, "$unset": {"listing": ""}})
        upgraded += 1
    if upgraded:
        log.warning("upgraded %d lead(s) from schema 1 to cases", upgraded)
    return upgraded


def migrate_legacy_leads(db: Database[dict[str, Any]]) -> int:
    """Migration 0001-leads-to-cases (tiequan.storage.migrations): schema-1 leads become
    cases; returns how many leads it changed."""
    return upgrade_legacy_leads(db[LEADS], party_from_listing)
