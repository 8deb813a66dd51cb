"""Listings and their captures: one document per listing, one capture per sighting.

Each sweep sees most listings unchanged. Rewriting them costs an update per listing
(about 2.5 ms each on the embedded server, five times an insert), so a listing document
is written only when it is new or its content changed, and every sighting is an
append-only ``captures`` document instead. Captures are what later evidence sets and
takedown follow-ups hang on: what was seen, when, in which run, with which body hash.

A capture's ``_id`` is derived from the listing, the run and the capture time, so writing
the same batch twice (a spool replay) stores each sighting once. Captures are written
before the listings: a write cut short leaves a capture whose listing is missing, which
the listing's next sighting writes, never a listing without the capture of its run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from tiequan.storage.bulk import DUPLICATE_KEY, insert_new

# Per-capture facts: they differ every night without the listing having changed.
CAPTURE_FIELDS = (
    "captured_at", "url", "final_url", "status", "body_sha256", "evidence_id", "etag",
    "last_modified",
)  # fmt: skip
_NOT_CONTENT = frozenset({"_id", "run_id", *CAPTURE_FIELDS})


@dataclass(frozen=True)
class ListingWrite:
    new: int = 0
    changed: int = 0
    unchanged: int = 0


def listing_id(platform: str, item_id: str) -> str:
    return f"{platform}:{item_id}"


def capture_id(key: str, run_id: str | None, captured_at: object) -> str:
    """``CP`` + 24 hex of sha256(listing id|run id|capture time): one per sighting."""
    digest = hashlib.sha256(f"{key}|{run_id}|{captured_at}".encode()).hexdigest()
    return f"CP{digest[:24]}"


def content_sha256(record: dict[str, Any]) -> str:
    content = {k: v for k, v in record.items() if k not in _NOT_CONTENT}
    blob = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def write_listings(
    listings: Collection[dict[str, Any]],
    captures: Collection[dict[str, Any]],
    records: list[dict[str, Any]],
    *,
    run_id: str | None,
    now: datetime,
    schema: int,
) -> ListingWrite:
    latest: dict[str, dict[str, Any]] = {}
    for record in records:  # the same listing twice in one batch: the last capture wins
        latest[listing_id(str(record["platform"]), str(record["item_id"]))] = record
    if not latest:
        return ListingWrite()
    hashes = {key: content_sha256(record) for key, record in latest.items()}
    known = {
        doc["_id"]: doc.get("content_sha256")
        for doc in listings.find({"_id": {"$in": list(latest)}}, {"content_sha256": 1})
    }
    new = [key for key in latest if key not in known]
    changed = [key for key in latest if key in known and known[key] != hashes[key]]

    def run_of(key: str) -> str | None:
        return run_id or latest[key].get("run_id")

    def content(key: str) -> dict[str, Any]:
        fields = {k: v for k, v in latest[key].items() if k not in ("_id", "run_id")}
        fields.update(
            content_sha256=hashes[key], last_changed_at=now, last_changed_run_id=run_of(key),
            schema=schema,
        )  # fmt: skip
        return fields

    status = {key: "new" for key in new}
    status.update({key: "changed" for key in changed})
    insert_new(
        captures,
        [
            {
                "_id": capture_id(key, run_of(key), record.get("captured_at")),
                "listing_id": key,
                "platform": record["platform"],
                "item_id": record["item_id"],
                "run_id": run_of(key),
                **{name: record.get(name) for name in CAPTURE_FIELDS},
                # The prices of this sighting: the price history (tiequan.storage.prices).
                "price": record.get("price"),
                "original_price": record.get("original_price"),
                "content_sha256": hashes[key],
                "change": status.get(key, "unchanged"),
                "recorded_at": now,
                "schema": schema,
            }
            for key, record in latest.items()
        ],
    )
    raced = _insert_new(listings, [
        {"_id": key, **content(key), "first_seen_at": now, "first_run_id": run_of(key)}
        for key in new
    ])  # fmt: skip
    if raced:  # another writer inserted it first: ours is an update now
        changed += raced
        ids = [capture_id(k, run_of(k), latest[k].get("captured_at")) for k in raced]
        captures.update_many({"_id": {"$in": ids}}, {"$set": {"change": "changed"}})
    if changed:
        listings.bulk_write(
            [UpdateOne({"_id": key}, {"$set": content(key)}) for key in changed], ordered=False
        )
    n_new = len(new) - len(raced)
    return ListingWrite(
        new=n_new, changed=len(changed), unchanged=len(latest) - n_new - len(changed)
    )


def _insert_new(coll: Collection[dict[str, Any]], docs: list[dict[str, Any]]) -> list[str]:
    """Insert, returning the ids that lost a race to a concurrent writer."""
    if not docs:
        return []
    try:
        coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors) or exc.details.get(
            "writeConcernErrors"
        ):
            raise
        return [str(docs[e["index"]]["_id"]) for e in errors]
    return []
