"""Officers' comments on a lead: who wrote what, when. Append-only, like the audit log."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from tiequan.storage.store import COMMENTS, utcnow

MAX_COMMENT = 1000  # characters


class CommentError(ValueError):
    """A comment that cannot be stored; the message is for the officer (Chinese)."""


@dataclass(frozen=True)
class Comment:
    id: str
    lead_id: str
    author: str
    role: str
    text: str
    at: datetime

    def to_doc(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "lead_id": self.lead_id,
            "author": self.author,
            "role": self.role,
            "text": self.text,
            "at": self.at,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Comment:
        at = doc["at"]
        return cls(
            id=str(doc["_id"]),
            lead_id=str(doc["lead_id"]),
            author=str(doc["author"]),
            role=str(doc.get("role") or ""),
            text=str(doc["text"]),
            at=at if at.tzinfo else at.replace(tzinfo=UTC),
        )


def clean_comment(text: str) -> str:
    """The comment as it will be stored, or CommentError when it is empty or too long."""
    value = text.replace("\r\n", "\n").strip()
    if not value:
        raise CommentError("评论内容不能为空")
    if len(value) > MAX_COMMENT:
        raise CommentError(f"评论不能超过 {MAX_COMMENT} 字（当前 {len(value)} 字）")
    return value


class CommentStore:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self.coll = db[COMMENTS]

    def add(
        self, lead_id: str, author: str, role: str, text: str, now: datetime | None = None
    ) -> Comment:
        comment = Comment(
            id=f"C{secrets.token_hex(8)}",
            lead_id=lead_id,
            author=author,
            role=role,
            text=clean_comment(text),
            at=now or utcnow(),
        )
        self.coll.insert_one(comment.to_doc())
        return comment

    def for_lead(self, lead_id: str) -> list[Comment]:
        """A lead's comments, oldest first."""
        cursor = self.coll.find({"lead_id": lead_id}).sort([("at", 1), ("_id", 1)])
        return [Comment.from_doc(d) for d in cursor]
