"""Unordered bulk upserts that survive concurrent writers racing on a unique key."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000


@dataclass
class BulkOutcome:
    upserted: dict[int, Any] = field(default_factory=dict)  # op index -> _id
    matched: int = 0
    id_conflicts: list[int] = field(default_factory=list)  # op indices whose new _id was taken


def _is_id_conflict(error: dict[str, Any]) -> bool:
    pattern = error.get("keyPattern")
    if isinstance(pattern, dict):
        return list(pattern) == ["_id"]
    return "index: _id_ " in str(error.get("errmsg", ""))


def bulk_upsert(
    coll: Collection[dict[str, Any]], ops: list[UpdateOne], retries: int = 3
) -> BulkOutcome:
    """Run ``ops`` (upserts filtered on a unique key) in one unordered bulk_write.

    Two writers upserting the same new key at once: one inserts, the other gets a
    duplicate-key error on the key's index; retrying that op now matches the winner's
    document. Ops whose ``$setOnInsert._id`` belongs to another key are reported in
    ``id_conflicts`` for the caller to resolve.
    """
    outcome = BulkOutcome()
    pending = list(range(len(ops)))
    for _attempt in range(retries + 1):
        if not pending:
            break
        batch = [ops[i] for i in pending]
        try:
            result = coll.bulk_write(batch, ordered=False)
        except BulkWriteError as exc:
            details = exc.details
            outcome.matched += int(details.get("nMatched", 0))
            for up in details.get("upserted", []):
                outcome.upserted[pending[up["index"]]] = up["_id"]
            retry: list[int] = []
            for error in details.get("writeErrors", []):
                original = pending[error["index"]]
                if error.get("code") != DUPLICATE_KEY:
                    raise
                if _is_id_conflict(error):
                    outcome.id_conflicts.append(original)
                else:
                    retry.append(original)
            if details.get("writeConcernErrors"):
                raise
            if retry:
                log.info("retrying %d upsert(s) that raced another writer", len(retry))
            pending = retry
            continue
        outcome.matched += result.matched_count
        for index, _id in (result.upserted_ids or {}).items():
            outcome.upserted[pending[index]] = _id
        pending = []
    if pending:
        raise RuntimeError(f"{len(pending)} upsert(s) still conflicting after {retries} retries")
    return outcome
