"""Collections, indexes and the listing/run writes of a sweep.

Collections (every document carries ``schema``, the version of its shape):
- ``listings``: one document per (platform, item_id), ``_id`` "platform:item_id", rewritten
  only when its content changes (tiequan.storage.listings).
- ``captures``: one append-only document per sighting of a listing in a run.
- ``leads``: one case per (party_key, category), collecting its listings; owned by
  tiequan.leads.
- ``evidence``: one evidence set per listing per run (artefact hashes; the bytes live in
  the content-addressed evidence directory, or in the GridFS bucket ``evidence_files``);
  owned by tiequan.evidence.
- ``audit``: append-only, one record per lifecycle change of a lead.
- ``runs``: one document per sweep run, keyed by run id (tiequan.sweep.history reads them).
- ``users``: workbench accounts (argon2 hashes, role, unit/bureau); owned by tiequan.web.
- ``web_sessions``: server-side workbench sessions, keyed by the hash of the cookie token.
- ``web_audit``: append-only, one record per login, logout and workbench action.
- ``labels``: append-only, one record per reviewer or unit decision on a lead (its texts,
  findings and the decision), read by retraining; owned by tiequan.leads.labels.
- ``lead_comments``: officers' comments on a lead; owned by tiequan.leads.comments.
- ``scheduler_jobs``: APScheduler's job store, one job per scheduled site; owned by
  tiequan.scheduling, which also owns ``scheduler_lease`` (the active scheduler).
- ``saved_views``: a workbench user's named queue filters; owned by tiequan.web.
- ``migrations``: one record per schema migration applied (id, applied_at, by, documents
  changed, duration_s); owned by tiequan.storage.migrations (`tiequan migrate`).
- ``crawl_frontier`` and ``crawl_frontier_heads``: the request queue and seen-set of
  `--resume` sweeps, per site, emptied when a crawl finishes; owned by
  tiequan.storage.frontier.
- ``models``: one record per trained model version (file hashes, training-data manifest,
  metrics, who trained it); ``model_aliases``: append-only, one record per setting of the
  ``live`` or ``candidate`` alias; owned by tiequan.models.registry.
- ``lexicon_changes``: append-only, one record per analyst change to the lexicons (a term
  added or removed, numbered by lexicon version) or rejected suggestion; owned by
  tiequan.models.lexicon.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.database import Database

from tiequan.storage.listings import ListingWrite, listing_id, write_listings

log = logging.getLogger(__name__)

LISTINGS = "listings"
CAPTURES = "captures"
LEADS = "leads"
EVIDENCE = "evidence"
AUDIT = "audit"
RUNS = "runs"
USERS = "users"
WEB_SESSIONS = "web_sessions"
WEB_AUDIT = "web_audit"
LABELS = "labels"
COMMENTS = "lead_comments"
SAVED_VIEWS = "saved_views"
MODELS = "models"
MODEL_ALIASES = "model_aliases"
LEXICON_CHANGES = "lexicon_changes"
CRAWL_FRONTIER = "crawl_frontier"
# GridFS bucket of evidence files with TIEQUAN_EVIDENCE_STORE=gridfs (tiequan.evidence).
EVIDENCE_FILES = "evidence_files"
# Listings a distributed crawl handed to detection workers, deleted once they are done
# (tiequan.distributed.handoff); read by _id only.
STAGED = "staged"
SCHEMA_VERSION = 2
# Indexes an older schema created and this one no longer wants (dropped on start-up).
OBSOLETE_INDEXES: dict[str, list[str]] = {"leads": ["lead_key"]}

INDEXES: dict[str, list[IndexModel]] = {
    LISTINGS: [
        IndexModel(
            [("platform", ASCENDING), ("item_id", ASCENDING)], name="listing_key", unique=True
        ),
        IndexModel([("last_changed_at", DESCENDING)], name="listing_last_changed"),
        IndexModel([("licence.credit_code", ASCENDING)], name="listing_credit_code"),
    ],
    CAPTURES: [
        IndexModel(
            [("listing_id", ASCENDING), ("captured_at", DESCENDING)], name="capture_listing"
        ),
        IndexModel([("run_id", ASCENDING)], name="capture_run"),
        # The per-platform price history read at the start of a crawl (storage.prices).
        IndexModel([("platform", ASCENDING), ("recorded_at", DESCENDING)], name="capture_prices"),
    ],
    LEADS: [
        IndexModel(
            [("party_key", ASCENDING), ("category", ASCENDING)],
            name="lead_case_key",
            unique=True,
        ),
        IndexModel(
            [("listings.platform", ASCENDING), ("listings.item_id", ASCENDING)],
            name="lead_listing",
        ),
        IndexModel([("status", ASCENDING), ("due_at", ASCENDING)], name="lead_due"),
        IndexModel([("jurisdiction.bureau_key", ASCENDING)], name="lead_bureau"),
        IndexModel(
            [
                ("status", ASCENDING),
                ("claimed_by", ASCENDING),
                ("score", DESCENDING),
                ("created_at", ASCENDING),
            ],
            name="lead_claim_order",
        ),
        IndexModel(
            [("category", ASCENDING), ("status", ASCENDING), ("created_at", DESCENDING)],
            name="lead_category_status",
        ),
        IndexModel(
            [("lead_unit", ASCENDING), ("status", ASCENDING), ("created_at", DESCENDING)],
            name="lead_unit_status",
        ),
        # The workbench queue's sorts, each read a window at a time (LeadQueue.search):
        # newest first, highest score first, most recently changed first.
        IndexModel([("created_at", DESCENDING)], name="lead_created"),
        IndexModel([("score", DESCENDING)], name="lead_score"),
        IndexModel([("status_at", DESCENDING)], name="lead_status_at"),
        # The analysts' active-learning order (tiequan.leads.learning).
        IndexModel([("informativeness", DESCENDING)], name="lead_informativeness"),
        # The landing page: overdue (oldest due first) and due today (LeadQueue.overdue,
        # due_between), and the leads a reviewer holds (open_claimed, the 认领人 filter).
        IndexModel([("due_at", ASCENDING)], name="lead_due_at"),
        IndexModel([("claimed_by", ASCENDING), ("created_at", DESCENDING)], name="lead_claimed"),
        # The landing page's leads sent back by a unit (LeadQueue.with_decision).
        IndexModel([("decision.action", ASCENDING)], name="lead_decision"),
        IndexModel([("party.credit_code", ASCENDING)], name="lead_credit_code"),
        # The queue's filters that no index above leads with (tiequan.web.views.QueueFilter):
        # the unit by key, the platform by id or name, the source and the severity.
        IndexModel(
            [("lead_unit_key", ASCENDING), ("status", ASCENDING), ("created_at", DESCENDING)],
            name="lead_unit_key_status",
        ),
        IndexModel([("platform", ASCENDING), ("created_at", DESCENDING)], name="lead_platform"),
        IndexModel(
            [("platform_name", ASCENDING), ("created_at", DESCENDING)], name="lead_platform_name"
        ),
        IndexModel([("source", ASCENDING), ("created_at", DESCENDING)], name="lead_source"),
        IndexModel([("severity", ASCENDING), ("created_at", DESCENDING)], name="lead_severity"),
    ],
    EVIDENCE: [
        IndexModel(
            [("platform", ASCENDING), ("item_id", ASCENDING), ("captured_at", DESCENDING)],
            name="evidence_listing",
        ),
        IndexModel([("party_key", ASCENDING), ("categories", ASCENDING)], name="evidence_case"),
        IndexModel([("lead_ids", ASCENDING)], name="evidence_lead"),
        IndexModel([("run_id", ASCENDING)], name="evidence_run"),
    ],
    AUDIT: [
        IndexModel([("lead_id", ASCENDING), ("at", ASCENDING)], name="audit_lead"),
        IndexModel([("at", DESCENDING)], name="audit_at"),  # decisions in a period (stats)
    ],
    RUNS: [
        IndexModel([("created_at", DESCENDING)], name="run_created"),
        IndexModel([("started_at", DESCENDING)], name="run_started"),
    ],
    USERS: [IndexModel([("username", ASCENDING)], name="user_name", unique=True)],
    WEB_SESSIONS: [
        IndexModel([("user_id", ASCENDING)], name="session_user"),
        IndexModel([("expires_at", ASCENDING)], name="session_expires"),
    ],
    WEB_AUDIT: [
        IndexModel([("at", DESCENDING)], name="web_audit_at"),
        IndexModel([("username", ASCENDING), ("at", DESCENDING)], name="web_audit_user"),
    ],
    LABELS: [
        IndexModel([("at", ASCENDING), ("_id", ASCENDING)], name="label_at"),
        IndexModel([("lead_id", ASCENDING), ("at", ASCENDING)], name="label_lead"),
        IndexModel([("category", ASCENDING), ("at", ASCENDING)], name="label_category"),
    ],
    COMMENTS: [IndexModel([("lead_id", ASCENDING), ("at", ASCENDING)], name="comment_lead")],
    SAVED_VIEWS: [
        IndexModel([("username", ASCENDING), ("name", ASCENDING)], name="view_name", unique=True)
    ],
    MODELS: [IndexModel([("trained_at", DESCENDING)], name="model_trained_at")],
    # The sweep's cheap re-check of the live alias reads the newest entry of one alias.
    MODEL_ALIASES: [
        IndexModel([("alias", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="alias_at")
    ],
    # The same re-check reads the newest lexicon version: the newest add or remove.
    LEXICON_CHANGES: [
        IndexModel([("action", ASCENDING), ("version", DESCENDING)], name="lexicon_version"),
        IndexModel([("at", DESCENDING), ("version", DESCENDING)], name="lexicon_at"),
    ],
    # The GridFS bucket's own indexes, named as pymongo's GridFSBucket creates them.
    f"{EVIDENCE_FILES}.files": [
        IndexModel(
            [("filename", ASCENDING), ("uploadDate", ASCENDING)], name="filename_1_uploadDate_1"
        )
    ],
    f"{EVIDENCE_FILES}.chunks": [
        IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], name="files_id_1_n_1", unique=True)
    ],
    # A --resume crawl's queued and leased requests of one site (tiequan.storage.frontier).
    CRAWL_FRONTIER: [
        IndexModel([("site", ASCENDING), ("state", ASCENDING)], name="frontier_site_state")
    ],
}


def utcnow() -> datetime:
    # Mongo stores milliseconds; truncating keeps values equal after a round trip.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_run_id(now: datetime | None = None) -> str:
    """A sortable run id such as ``R20240601T021500-3fa2``."""
    now = now or datetime.now(UTC)
    return f"R{now:%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"


class Store:
    """Writes and reads of listings and runs; the lead queue lives in tiequan.leads."""

    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self.db = db
        self.listings = db[LISTINGS]
        self.captures = db[CAPTURES]
        self.leads = db[LEADS]
        self.runs_coll = db[RUNS]

    def ensure_indexes(self) -> None:
        """Create every collection's named indexes (idempotent)."""
        for name, obsolete in OBSOLETE_INDEXES.items():
            existing = set(self.db[name].index_information())
            for index in obsolete:
                if index in existing:
                    log.info("dropping index %s.%s left by an older schema", name, index)
                    self.db[name].drop_index(index)
        for name, models in INDEXES.items():
            self.db[name].create_indexes(models)

    def record_listings(
        self, listings: list[dict[str, Any]], run_id: str | None = None
    ) -> ListingWrite:
        """Store new or changed listings and one capture per listing.

        The run id comes from ``run_id`` or else from each record's own ``run_id`` key.
        """
        return write_listings(
            self.listings, self.captures, listings, run_id=run_id, now=utcnow(),
            schema=SCHEMA_VERSION,
        )  # fmt: skip

    def get_listing(self, platform: str, item_id: str) -> dict[str, Any] | None:
        return self.listings.find_one({"platform": platform, "item_id": item_id})

    def save_run(self, report: dict[str, Any]) -> str:
        """Store (or update) a run's report; its ``run_id`` is kept or a new one is made."""
        run_id = str(report.get("run_id") or new_run_id())
        fields = {k: v for k, v in report.items() if k != "_id"}
        fields.update(run_id=run_id, saved_at=utcnow(), schema=SCHEMA_VERSION)
        self.runs_coll.update_one(
            {"_id": run_id},
            {"$set": fields, "$setOnInsert": {"created_at": utcnow()}},
            upsert=True,
        )
        return run_id

    def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest runs, newest first; ``_id`` and ``run_id`` both hold the run id."""
        cursor = self.runs_coll.find().sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        return list(cursor.limit(limit))

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        return self.runs_coll.find_one({"_id": run_id})

    def get_listings(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The stored listings of these (platform, item_id) keys, in one read by ``_id``."""
        ids = sorted({listing_id(platform, item_id) for platform, item_id in keys})
        found: list[dict[str, Any]] = list(self.listings.find({"_id": {"$in": ids}})) if ids else []
        return {(str(d["platform"]), str(d["item_id"])): d for d in found}
