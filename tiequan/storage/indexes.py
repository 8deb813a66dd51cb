"""What each named index of the registry (tiequan.storage.store.INDEXES) serves.

``python -m tiequan.storage.indexes`` prints docs/indexes.md from the registry and
``SERVES``; ``--check FILE`` exits 1 when FILE differs (tests/test_indexes_doc.py keeps the
committed doc and the registry in step).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tiequan.storage.store import INDEXES

# Index name -> the query it serves (who sends it).
SERVES: dict[str, str] = {
    "listing_key": "one listing by platform and item (unique); all listings of a platform "
    "(the recrawl index, storage.recrawl.load_index; missing marks, mark_missing)",
    "listing_last_changed": "listings by their last content change, newest first (no query "
    "sends this today: a candidate for removal)",
    "listing_credit_code": "listings of one business licence credit code (no query sends "
    "this today: a candidate for removal)",
    "capture_listing": "the sightings of one listing, newest first (price history, takedown "
    "follow-up)",
    "capture_run": "the sightings of one run (run report, replay)",
    "capture_prices": "a platform's price history read at the start of a crawl (storage.prices)",
    "lead_case_key": "one case by party and category (unique): lead creation and referral "
    "(leads.cases)",
    "lead_listing": "the cases of a listing (referral, takedown follow-up's plan by platform)",
    "lead_due": "leads of a status by due date (lifecycle, overdue lists)",
    "lead_bureau": "the queue and unit pages filtered by county bureau",
    "lead_claim_order": "the next claimable leads, best first (LeadQueue.claim_many)",
    "lead_category_status": "the queue filtered by category (and status), newest first",
    "lead_unit_status": "the queue filtered by lead unit name (and status), newest first",
    "lead_created": "the queue's default sort, newest first, a window at a time",
    "lead_score": "the queue sorted by score, highest first",
    "lead_status_at": "the queue sorted by last status change",
    "lead_informativeness": "the analysts' active-learning order (leads.learning)",
    "lead_due_at": "the landing page: overdue and due-today leads (LeadQueue.overdue, due_between)",
    "lead_claimed": "the leads a reviewer holds (open_claimed, the 认领人 filter)",
    "lead_decision": "the landing page's leads sent back by a unit (LeadQueue.with_decision)",
    "lead_credit_code": "the cases of one credit code (no query sends this today: a "
    "candidate for removal)",
    "lead_unit_key_status": "the queue filtered by lead unit key (and status), newest first",
    "lead_platform": "the queue filtered by platform id, newest first",
    "lead_platform_name": "the queue filtered by platform name, newest first",
    "lead_source": "the queue filtered by source (sweep, import...), newest first",
    "lead_severity": "the queue filtered by suggested handling (立案, 警告...), newest first",
    "evidence_listing": "the evidence sets of one listing, newest first",
    "evidence_case": "the evidence sets of a party's category (a case's evidence package)",
    "evidence_lead": "the evidence sets of one lead (lead page, packager, downloads)",
    "evidence_run": "the evidence sets of one run (resume, replay)",
    "audit_lead": "the lifecycle history of one lead",
    "audit_at": "decisions in a period (dashboard statistics)",
    "run_created": "the latest runs (tiequan runs)",
    "run_started": "runs by start time (run history, health checks)",
    "user_name": "one workbench account by name (unique)",
    "session_user": "a user's workbench sessions, ended together (web.sessions)",
    "session_expires": "expired workbench sessions, for pruning (no query sends this today: "
    "a candidate for removal)",
    "web_audit_at": "the workbench audit log, newest first",
    "web_audit_user": "one user's workbench audit log, newest first",
    "label_at": "labels in order for retraining, read a page at a time",
    "label_lead": "the labels of one lead",
    "label_category": "the labels of one category",
    "comment_lead": "the comments of one lead",
    "view_name": "a user's saved queue views by name (unique)",
    "model_trained_at": "model versions, newest first (models page)",
    "alias_at": "the newest setting of one model alias (the sweep's live-model re-check)",
    "lexicon_version": "the newest lexicon version, and adds and removes in version order",
    "lexicon_at": "the lexicon history, newest first (lexicon page)",
    "filename_1_uploadDate_1": "GridFS's own look-up of evidence files by name (its id is the "
    "sha256: tiequan reads by _id)",
    "files_id_1_n_1": "the chunks of one GridFS evidence file, in order (unique): reads, and "
    "the write-once guard of a second upload",
    "frontier_site_state": "a --resume crawl's queued and leased requests of one site",
}


def _keys(key: dict[str, int]) -> str:
    return ", ".join(f"{name} {'↑' if order == 1 else '↓'}" for name, order in key.items())


def render() -> str:
    """docs/indexes.md: each collection's indexes, their keys and the query each serves."""
    lines = [
        "# Indexes",
        "",
        "Generated by `python -m tiequan.storage.indexes > docs/indexes.md` from the",
        "registry (`tiequan.storage.store.INDEXES`) and what each serves",
        "(`tiequan.storage.indexes.SERVES`);",
        "`tests/test_indexes_doc.py` fails when this file is out of date.",
        "`tests/test_query_indexes.py` records the queries of sweeps and workbench pages and",
        "checks each is served: by `_id`, by an index's leading key, or (narrowing on nothing)",
        "by a sort on one; its `ALLOWED` lists the exceptions with their reasons.",
        "",
    ]
    for collection, models in INDEXES.items():
        lines += [f"## {collection}", "", "| index | keys | serves |", "| --- | --- | --- |"]
        for model in models:
            doc = model.document
            name = str(doc["name"])
            keys = _keys(dict(doc["key"])) + (" (unique)" if doc.get("unique") else "")
            lines.append(f"| `{name}` | {keys} | {SERVES.get(name, '')} |")
        lines.append("")
    return "\n".join(lines)


def missing_descriptions() -> list[str]:
    """Registry indexes without an entry in SERVES, and entries naming no index."""
    names = {str(m.document["name"]) for models in INDEXES.values() for m in models}
    return sorted((names - set(SERVES)) | (set(SERVES) - names))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tiequan.storage.indexes")
    parser.add_argument("--check", type=Path, help="exit 1 if this file is not the doc")
    args = parser.parse_args(argv)
    missing = missing_descriptions()
    if missing:
        sys.stderr.write(f"indexes without a description in SERVES: {', '.join(missing)}\n")
        return 1
    text = render()
    if args.check is None:
        sys.stdout.write(text)
        return 0
    current = args.check.read_text(encoding="utf-8") if args.check.exists() else ""
    if current != text:
        sys.stderr.write(f"{args.check} is out of date: python -m tiequan.storage.indexes\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
