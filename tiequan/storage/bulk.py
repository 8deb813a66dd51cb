"""Duplicate-key errors of unordered bulk writes: which index a write collided on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

DUPLICATE_KEY = 11000


def is_id_conflict(error: Mapping[str, Any]) -> bool:
    """True when a duplicate-key write error is on ``_id`` (not on a unique business key)."""
    pattern = error.get("keyPattern")
    if isinstance(pattern, dict):
        return list(pattern) == ["_id"]
    return "index: _id_ " in str(error.get("errmsg", ""))


def insert_new(coll: Collection[dict[str, Any]], docs: list[dict[str, Any]]) -> int:
    """Insert ``docs``, keeping any already there under the same ``_id`` (so a replayed
    write is harmless); returns how many were new. Other write errors are raised."""
    if not docs:
        return 0
    try:
        coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if exc.details.get("writeConcernErrors") or not all(
            e.get("code") == DUPLICATE_KEY and is_id_conflict(e) for e in errors
        ):
            raise
        return len(docs) - len(errors)
    return len(docs)
