"""Server-side sessions in MongoDB: the cookie holds a random token, the store its hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from tiequan.storage.store import WEB_SESSIONS, utcnow

COOKIE = "tq_session"
LOGIN_COOKIE = "tq_login"  # the login form's CSRF token, before there is a session
IDLE = timedelta(hours=8)
# A request moves the expiry (a write) only when it last moved this long ago, so a session
# lasts IDLE after its last request give or take this.
EXTEND_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Session:
    id: str  # the token's hash, the document's _id
    username: str
    csrf: str
    flash: str | None = None

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf, str(token))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Sessions:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self.coll: Collection[dict[str, Any]] = db[WEB_SESSIONS]

    def create(self, username: str) -> str:
        """A new session; returns the cookie token (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        self.coll.insert_one(
            {
                "_id": _hash(token),
                "user_id": username,
                "csrf": secrets.token_urlsafe(32),
                "created_at": now,
                "expires_at": now + IDLE,
                "flash": None,
            }
        )
        return token

    def get(self, token: str | None, now: datetime | None = None) -> Session | None:
        if not token:
            return None
        now = now or utcnow()
        doc = self.coll.find_one({"_id": _hash(token)})
        if doc is None:
            return None
        expires = doc["expires_at"]
        expires = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
        if expires <= now:
            self.coll.delete_one({"_id": doc["_id"]})
            return None
        if expires - now < IDLE - EXTEND_EVERY:
            self.coll.update_one({"_id": doc["_id"]}, {"$set": {"expires_at": now + IDLE}})
        return Session(doc["_id"], doc["user_id"], doc["csrf"], doc.get("flash"))

    def set_flash(self, session: Session, message: str | None) -> None:
        self.coll.update_one({"_id": session.id}, {"$set": {"flash": message}})

    def delete(self, session: Session) -> None:
        self.coll.delete_one({"_id": session.id})

    def delete_user(self, username: str) -> None:
        self.coll.delete_many({"user_id": username})
