"""Workbench accounts: users with roles, argon2 password hashes, lockout, and the web audit log.

Users live in the ``users`` collection; every login attempt, logout and workbench action
is appended to ``web_audit`` (the lead lifecycle's own ``audit`` records stay with
tiequan.leads, keyed by lead version).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from tiequan.storage.store import USERS, WEB_AUDIT, utcnow

ROLE_REVIEWER = "reviewer"
ROLE_ANALYST = "analyst"
ROLE_UNIT = "unit_officer"
ROLE_ADMIN = "admin"
ROLES = {
    ROLE_REVIEWER: "研判人员",
    ROLE_ANALYST: "数据分析人员",
    ROLE_UNIT: "承办单位人员",
    ROLE_ADMIN: "系统管理员",
}

MAX_FAILURES = 5  # consecutive wrong passwords before the account is locked
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = 10
_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{2,40}$")


class AccountError(ValueError):
    """A user that cannot be created or changed; the message is Chinese."""


@dataclass(frozen=True)
class User:
    username: str
    role: str
    display_name: str
    unit_key: str | None = None
    bureau_key: str | None = None

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> User:
        return cls(
            username=str(doc["username"]),
            role=str(doc["role"]),
            display_name=str(doc.get("display_name") or doc["username"]),
            unit_key=doc.get("unit_key"),
            bureau_key=doc.get("bureau_key"),
        )


ORDER_DEFAULT = "default"
ORDER_ACTIVE = "active"  # active learning: the leads whose label teaches the model most first
QUEUE_ORDERS = (ORDER_DEFAULT, ORDER_ACTIVE)


@dataclass(frozen=True)
class Preferences:
    """What a user chose for themselves, kept in their ``users`` document."""

    queue_order: str = ORDER_DEFAULT

    @classmethod
    def from_doc(cls, doc: Any) -> Preferences:
        order = doc.get("queue_order") if isinstance(doc, dict) else None
        return cls(order if order in QUEUE_ORDERS else ORDER_DEFAULT)


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    message: str  # Chinese, for the login page; the same for unknown users and bad passwords


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"密码至少 {MIN_PASSWORD} 个字符")


class Accounts:
    def __init__(self, db: Database[dict[str, Any]], hasher: PasswordHasher | None = None) -> None:
        self.users: Collection[dict[str, Any]] = db[USERS]
        self.audit_log: Collection[dict[str, Any]] = db[WEB_AUDIT]
        self.hasher = hasher or PasswordHasher()
        # Verified against when the user does not exist, so both cases take as long.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    def add(
        self,
        username: str,
        role: str,
        password: str,
        *,
        display_name: str | None = None,
        unit_key: str | None = None,
        bureau_key: str | None = None,
        by: str = "cli",
    ) -> User:
        if not _USERNAME.match(username):
            raise AccountError(f"用户名“{username}”无效：只能使用 2–40 个字母、数字、_ . -")
        if role not in ROLES:
            raise AccountError(f"未知角色“{role}”；可选：{'、'.join(ROLES)}")
        if role == ROLE_UNIT and not (unit_key or bureau_key):
            raise AccountError("承办单位人员须指定单位（--unit）或属地局（--bureau）")
        check_password_strength(password)
        now = utcnow()
        doc = {
            "username": username,
            "role": role,
            "display_name": display_name or username,
            "unit_key": unit_key,
            "bureau_key": bureau_key,
            "password_hash": self.hasher.hash(password),
            "disabled": False,
            "failures": 0,
            "locked_until": None,
            "created_at": now,
            "password_changed_at": now,
        }
        try:
            self.users.insert_one(doc)
        except DuplicateKeyError as exc:
            raise AccountError(f"用户“{username}”已存在") from exc
        self.audit("user_add", username, by=by, detail={"role": role})
        return User.from_doc(doc)

    def get(self, username: str) -> User | None:
        doc = self.users.find_one({"username": username, "disabled": False})
        return User.from_doc(doc) if doc else None

    def set_password(self, username: str, password: str, *, by: str = "cli") -> None:
        check_password_strength(password)
        result = self.users.update_one(
            {"username": username},
            {
                "$set": {
                    "password_hash": self.hasher.hash(password),
                    "password_changed_at": utcnow(),
                    "failures": 0,
                    "locked_until": None,
                }
            },
        )
        if result.matched_count == 0:
            raise AccountError(f"用户“{username}”不存在")
        self.audit("user_passwd", username, by=by)

    def disable(self, username: str, *, by: str = "cli") -> None:
        result = self.users.update_one({"username": username}, {"$set": {"disabled": True}})
        if result.matched_count == 0:
            raise AccountError(f"用户“{username}”不存在")
        self.audit("user_disable", username, by=by)

    def authenticate(
        self, username: str, password: str, *, client: str, now: datetime | None = None
    ) -> LoginResult:
        """Check a password; every attempt is audited, repeated failures lock the account."""
        now = now or utcnow()
        refused = LoginResult(None, "用户名或密码错误")
        doc = self.users.find_one({"username": username})
        if doc is None or doc.get("disabled"):
            self._verify(self._dummy_hash, password)
            self.audit("login_failed", username, client=client, detail={"why": "unknown"})
            return refused
        locked_until = doc.get("locked_until")
        if locked_until is not None and _aware(locked_until) > now:
            self.audit("login_locked", username, client=client)
            return LoginResult(None, "连续登录失败次数过多，账户已暂时锁定，请 15 分钟后再试")
        if not self._verify(doc["password_hash"], password):
            failures = int(doc.get("failures") or 0) + 1
            fields: dict[str, Any] = {"failures": failures}
            if failures >= MAX_FAILURES:
                fields.update(failures=0, locked_until=now + LOCKOUT)
            self.users.update_one({"_id": doc["_id"]}, {"$set": fields})
            self.audit("login_failed", username, client=client, detail={"failures": failures})
            if failures >= MAX_FAILURES:
                self.audit("lockout", username, client=client)
            return refused
        fields = {"failures": 0, "locked_until": None, "last_login_at": now}
        if self.hasher.check_needs_rehash(doc["password_hash"]):
            fields["password_hash"] = self.hasher.hash(password)
        self.users.update_one({"_id": doc["_id"]}, {"$set": fields})
        self.audit("login", username, client=client)
        return LoginResult(User.from_doc(doc), "")

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return bool(self.hasher.verify(hashed, password))
        except (VerificationError, InvalidHashError):
            return False

    def audit(
        self,
        action: str,
        username: str,
        *,
        by: str | None = None,
        client: str | None = None,
        lead_id: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.audit_log.insert_one(
            {
                "at": utcnow(),
                "action": action,
                "username": username,
                "by": by or username,
                "client": client,
                "lead_id": lead_id,
                "detail": detail or {},
            }
        )

    def preferences(self, username: str) -> Preferences:
        doc = self.users.find_one({"username": username}, {"preferences": 1})
        return Preferences.from_doc((doc or {}).get("preferences"))

    def set_queue_order(self, username: str, order: str) -> Preferences:
        """Store ``username``'s queue order (one of QUEUE_ORDERS); AccountError if not."""
        if order not in QUEUE_ORDERS:
            raise AccountError(f"未知的队列排序方式“{order[:40]}”；可选：{'、'.join(QUEUE_ORDERS)}")
        result = self.users.update_one(
            {"username": username}, {"$set": {"preferences.queue_order": order}}
        )
        if result.matched_count == 0:
            raise AccountError(f"用户“{username}”不存在")
        return self.preferences(username)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
