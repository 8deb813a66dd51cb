"""Schema migrations of stored documents: named, ordered, run explicitly, recorded once.

``MIGRATIONS`` is the ordered registry. Each migration has an id, a description, the
function that applies it (``db -> documents changed``) and a count of the documents it
would change (for ``--dry-run`` and for the check below). Migrations run only when asked:
by `tiequan migrate`, and by the scheduler service when it becomes active, never by a
loader. Each applied migration is one document of the ``migrations`` collection (id,
applied_at, by, changed, duration_s), so it runs once.

A migration is named by the textual reference (``module:function``) of its function,
resolved when it is applied: the shapes belong to their owners (the lead cases to
tiequan.leads), which this layer may not import (they read configuration through the
detectors' normaliser).

Commands that write the new shapes (sweep, `leads import`, serve) call ``require_current``
and refuse, naming `tiequan migrate`, while a migration is pending that has documents to
change: a sweep writing cases beside schema-1 leads would make a second lead for a party
until the migration merges them. A fresh database has nothing to migrate and is not held up:
a pending migration that finds nothing to change is recorded as applied with 0 documents, so
its count (a scan of the whole collection) runs once per database, not at every start.
"""

from __future__ import annotations

import getpass
import importlib
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from tiequan.storage.store import LEADS, utcnow

log = logging.getLogger(__name__)

MIGRATIONS_COLL = "migrations"
APPLIED = "applied"
RUNNING = "running"
# A "running" record older than this was left by a process that died mid-migration; the
# migrations are idempotent, so the next one takes it over.
STALE_AFTER = timedelta(hours=1)

DB = Database[dict[str, Any]]


class MigrationError(RuntimeError):
    """A migration cannot run now; the message says why and what to do."""


class MigrationsPending(MigrationError):
    """The database holds documents of an older shape: `tiequan migrate` first."""


@dataclass(frozen=True)
class Migration:
    id: str
    description: str
    function: str  # "module:function", (db) -> number of documents changed
    count: Callable[[DB], int]  # documents it would change now

    def apply(self, db: DB) -> int:
        module, _, name = self.function.partition(":")
        func: Callable[[DB], int] = getattr(importlib.import_module(module), name)
        return int(func(db))


def _legacy_leads(db: DB) -> int:
    return db[LEADS].count_documents({"party_key": {"$exists": False}})


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001-leads-to-cases",
        "schema-1 leads (one per listing and category) become cases (one per party and category)",
        "tiequan.leads.cases:migrate_legacy_leads",
        _legacy_leads,
    ),
)


@dataclass(frozen=True)
class MigrationState:
    """One line of `tiequan migrate --status`."""

    migration: Migration
    applied_at: datetime | None
    by: str | None
    changed: int | None  # applied: documents it changed
    duration_s: float | None
    would_change: int | None  # pending: documents it would change now

    @property
    def applied(self) -> bool:
        return self.applied_at is not None


@dataclass(frozen=True)
class Applied:
    migration: Migration
    changed: int
    duration_s: float
    dry_run: bool


def operator_name() -> str:
    """``user@host`` of this process, for a migration's ``by``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _records(db: DB) -> dict[str, dict[str, Any]]:
    return {str(doc["_id"]): doc for doc in db[MIGRATIONS_COLL].find()}


def status(db: DB, registry: Sequence[Migration] = MIGRATIONS) -> list[MigrationState]:
    records = _records(db)
    states = []
    for migration in registry:
        doc = records.get(migration.id) or {}
        done = doc.get("status") == APPLIED
        states.append(
            MigrationState(
                migration=migration,
                applied_at=doc.get("applied_at") if done else None,
                by=doc.get("by") if done else None,
                changed=int(doc.get("changed") or 0) if done else None,
                duration_s=float(doc.get("duration_s") or 0) if done else None,
                would_change=None if done else migration.count(db),
            )
        )
    return states


def pending(db: DB, registry: Sequence[Migration] = MIGRATIONS) -> list[Migration]:
    """Migrations not yet applied to ``db``, in order."""
    records = _records(db)
    return [m for m in registry if (records.get(m.id) or {}).get("status") != APPLIED]


def require_current(db: DB, registry: Sequence[Migration] = MIGRATIONS) -> None:
    """Raise MigrationsPending when a pending migration has documents to change."""
    blocking = []
    for migration in pending(db, registry):
        if n := migration.count(db):
            blocking.append((migration, n))
        else:
            record_nothing_to_change(db, migration)
    if blocking:
        which = "，".join(f"{m.id}：{n} 条文档" for m, n in blocking)
        raise MigrationsPending(
            f"数据库中有旧结构的文档，{len(blocking)} 项迁移待执行（{which}）；"
            "请先运行 tiequan migrate（tiequan migrate --dry-run 可先查看）"
        )


def record_nothing_to_change(db: DB, migration: Migration) -> None:
    """Record a migration that found nothing to change as applied (0 documents), so its
    count, a scan of a whole collection, is not repeated by every later sweep and page
    load. A concurrent `tiequan migrate` that claimed it first keeps its own record."""
    record = {
        "_id": migration.id,
        "status": APPLIED,
        "applied_at": utcnow(),
        "by": operator_name(),
        "changed": 0,
        "duration_s": 0.0,
        "description": migration.description,
        "nothing_to_change": True,
    }
    try:
        db[MIGRATIONS_COLL].insert_one(record)
    except DuplicateKeyError:
        return
    log.debug("migration %s: no document to change; recorded as applied", migration.id)


def _claim(db: DB, migration: Migration, by: str) -> None:
    coll = db[MIGRATIONS_COLL]
    now = utcnow()
    claim = {"status": RUNNING, "started_at": now, "by": by, "description": migration.description}
    try:
        coll.insert_one({"_id": migration.id, **claim})
        return
    except DuplicateKeyError:
        doc = coll.find_one({"_id": migration.id}) or {}
    if doc.get("status") == APPLIED:
        raise MigrationError(f"迁移 {migration.id} 已由 {doc.get('by')} 执行")
    started = doc.get("started_at")
    if isinstance(started, datetime) and now - started < STALE_AFTER:
        raise MigrationError(
            f"迁移 {migration.id} 正由 {doc.get('by')} 执行"
            f"（开始于 {started:%Y-%m-%d %H:%M} UTC）；请稍后再试"
        )
    log.warning("migration %s left running by %s; taking it over", migration.id, doc.get("by"))
    if coll.update_one({"_id": migration.id, "started_at": started}, {"$set": claim}).matched_count:
        return
    raise MigrationError(f"迁移 {migration.id} 刚被另一进程接手；请稍后再试")


def apply_pending(
    db: DB,
    by: str,
    *,
    dry_run: bool = False,
    registry: Sequence[Migration] = MIGRATIONS,
    on_done: Callable[[Applied], None] | None = None,
) -> list[Applied]:
    """Apply (or, with ``dry_run``, count) every pending migration in order."""
    done: list[Applied] = []
    for migration in pending(db, registry):
        if dry_run:
            result = Applied(migration, migration.count(db), 0.0, dry_run=True)
        else:
            _claim(db, migration, by)
            t0 = time.monotonic()
            try:
                changed = migration.apply(db)
            except BaseException:
                db[MIGRATIONS_COLL].delete_one({"_id": migration.id, "status": RUNNING})
                raise
            duration = time.monotonic() - t0
            db[MIGRATIONS_COLL].update_one(
                {"_id": migration.id},
                {
                    "$set": {
                        "status": APPLIED,
                        "applied_at": utcnow(),
                        "by": by,
                        "changed": changed,
                        "duration_s": round(duration, 3),
                    }
                },
            )
            log.info("migration %s applied by %s: %d document(s)", migration.id, by, changed)
            result = Applied(migration, changed, duration, dry_run=False)
        done.append(result)
        if on_done is not None:
            on_done(result)
    return done
