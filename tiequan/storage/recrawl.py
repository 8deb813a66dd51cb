"""What an incremental recrawl needs of the stored listings of one platform.

Read once per crawl, in a worker thread, into a compact index: per listing the page
validators of its last stored change (ETag, Last-Modified), the hash of the fields its page
showed, and whether detection or OCR left anything on it (only those listings are read
again in full when they turn out unchanged). The validators come from the listing
document, which holds those of the capture that last changed it: a server whose ETag
changes while the page does not simply falls back to the field hash, and no listing is
rewritten only to keep a new ETag.

Listings of an earlier sweep that this one did not see are marked ``missing_since`` (and
the mark is cleared when they are seen again). Each listing keeps the model version that
last detected it (``detector_version``): one detected by another model than the live one
is fetched and detected again, even when its page did not change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pymongo import UpdateMany
from pymongo.database import Database

from tiequan.storage.store import LISTINGS

log = logging.getLogger(__name__)

_FETCH_BATCH = 5000


def page_key(url: str) -> str:
    """A URL's path and query: the key of a page whatever host or port serves it."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True, slots=True)
class Validators:
    item_id: str
    etag: str | None
    last_modified: str | None


@dataclass
class RecrawlIndex:
    """One platform's stored listings, as far as a recrawl compares them."""

    platform: str
    pages: dict[str, Validators] = field(default_factory=dict)  # by page_key(url)
    fields: dict[str, str] = field(default_factory=dict)  # item id -> fields_sha256
    derived: set[str] = field(default_factory=set)  # item ids with findings or image texts
    missing: set[str] = field(default_factory=set)  # item ids marked missing_since
    versions: dict[str, str] = field(default_factory=dict)  # item id -> detector_version

    @property
    def item_ids(self) -> set[str]:
        return set(self.fields) | {v.item_id for v in self.pages.values()}


def load_index(db: Database[Any], platform: str) -> RecrawlIndex:
    index = RecrawlIndex(platform)
    projection = {
        "item_id": 1, "url": 1, "final_url": 1, "etag": 1, "last_modified": 1,
        "fields_sha256": 1, "findings.category": 1, "image_texts.url": 1, "missing_since": 1,
        "detector_version": 1,
    }  # fmt: skip
    cursor = db[LISTINGS].find({"platform": platform}, projection, batch_size=_FETCH_BATCH)
    for doc in cursor:
        item_id = str(doc["item_id"])
        if doc.get("fields_sha256"):
            index.fields[item_id] = str(doc["fields_sha256"])
        if doc.get("findings") or doc.get("image_texts"):
            index.derived.add(item_id)
        if doc.get("detector_version"):
            index.versions[item_id] = str(doc["detector_version"])
        if doc.get("missing_since") is not None:
            index.missing.add(item_id)
        if doc.get("etag") or doc.get("last_modified"):
            validators = Validators(item_id, doc.get("etag"), doc.get("last_modified"))
            for url in {doc.get("url"), doc.get("final_url")} - {None, ""}:
                index.pages[page_key(str(url))] = validators
    return index


def stored_listing(db: Database[Any], platform: str, item_id: str) -> dict[str, Any] | None:
    return db[LISTINGS].find_one({"platform": platform, "item_id": item_id})


def mark_missing(
    db: Database[Any],
    platform: str,
    *,
    missing: list[str],
    back: list[str],
    run_id: str,
    now: datetime,
) -> None:
    """Mark listings not seen this run (first time only); clear the mark of those back."""
    ops: list[UpdateMany] = []
    if missing:
        ops.append(
            UpdateMany(
                {"platform": platform, "item_id": {"$in": missing}, "missing_since": None},
                {"$set": {"missing_since": now, "missing_run_id": run_id}},
            )
        )
    if back:
        ops.append(
            UpdateMany(
                {"platform": platform, "item_id": {"$in": back}},
                {"$unset": {"missing_since": "", "missing_run_id": ""}},
            )
        )
    if ops:
        db[LISTINGS].bulk_write(ops, ordered=False)
