"""A lease in the database: one document naming the active scheduler and its expiry.

The holder renews it on every heartbeat; anyone else may take it once it has expired.
Taking and renewing are one conditional ``find_one_and_update`` (upsert): when another
holder's unexpired lease is there, the upsert's insert collides on ``_id`` and fails,
so two processes can never both hold it. Expiry is read against the caller's clock:
machines sharing a database need synchronised clocks (NTP), with a skew well below the
lease length.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from tiequan.storage.store import utcnow

log = logging.getLogger(__name__)

LEASES = "scheduler_lease"
LEASE_ID = "scheduler"


def new_holder_id() -> str:
    """``host:pid:random``: unique per process, readable in `tiequan scheduler list`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class LeaseState:
    holder: str
    expires_at: datetime
    acquired_at: datetime
    renewed_at: datetime
    term: int  # how many times the lease changed hands

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> LeaseState:
        return cls(
            holder=str(doc["holder"]),
            expires_at=doc["expires_at"],
            acquired_at=doc.get("acquired_at") or doc["expires_at"],
            renewed_at=doc.get("renewed_at") or doc["expires_at"],
            term=int(doc.get("term", 0)),
        )

    def live(self, now: datetime | None = None) -> bool:
        return self.expires_at > (now or utcnow())


class Lease:
    """The scheduler lease as seen by one holder."""

    def __init__(
        self,
        collection: Collection[dict[str, Any]],
        holder: str,
        seconds: float,
        name: str = LEASE_ID,
    ) -> None:
        self.collection = collection
        self.holder = holder
        self.seconds = seconds
        self.name = name

    def acquire(self) -> bool:
        """Take the lease if it is free, expired or already ours; True when we hold it."""
        now = utcnow()
        mine_or_free = {
            "_id": self.name,
            "$or": [{"holder": self.holder}, {"expires_at": {"$lte": now}}],
        }
        update = {
            "$set": {
                "holder": self.holder,
                "expires_at": now + timedelta(seconds=self.seconds),
                "renewed_at": now,
            },
        }
        try:
            doc = self.collection.find_one_and_update(
                mine_or_free, update, upsert=True, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError:
            return False
        if doc is None or doc.get("holder") != self.holder:
            return False
        if doc.get("acquired_by") != self.holder:
            # Newly ours: mark the hand-over (a renewal leaves these alone).
            self.collection.update_one(
                {"_id": self.name, "holder": self.holder},
                {"$set": {"acquired_by": self.holder, "acquired_at": now}, "$inc": {"term": 1}},
            )
            log.info("scheduler lease taken by %s", self.holder)
        return True

    def renew(self) -> bool:
        """Extend our lease; False when it is no longer ours (another holder took it)."""
        now = utcnow()
        result = self.collection.update_one(
            {"_id": self.name, "holder": self.holder},
            {"$set": {"expires_at": now + timedelta(seconds=self.seconds), "renewed_at": now}},
        )
        return result.matched_count == 1

    def release(self) -> None:
        """Give the lease up now, so a standby need not wait for it to expire."""
        self.collection.update_one(
            {"_id": self.name, "holder": self.holder},
            {"$set": {"expires_at": utcnow()}, "$unset": {"acquired_by": ""}},
        )

    def state(self) -> LeaseState | None:
        doc = self.collection.find_one({"_id": self.name})
        return LeaseState.from_doc(doc) if doc else None
