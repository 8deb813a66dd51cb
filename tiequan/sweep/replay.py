"""Replaying the spool: each stage's records written again, the way the stage writes them.

Every writer is idempotent, so a record written twice (a replay cut short and resumed, a
batch that reached the database before the connection broke) is stored once:
- ``evidence``: insert by the evidence id (listing, run); one already there is kept.
- ``store``: listings by ``platform:item_id``, rewritten only when their content
  changed; captures by listing, run and capture time.
- ``refer``: cases by (party, category); a sighting of a run already on the case is
  not counted again.
- ``followup``: follow-up outcomes already on the lead (same run and listing) are skipped.
- ``runs``: the run record by run id (upsert); lead counts that could not be read during
  the outage are counted now.
Files are replayed run by run, in this order, so what a record points at is there first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from pymongo.database import Database
from pymongo.errors import PyMongoError

from crawlers.revisit import Target
from tiequan.leads.followup import Outcome, record_followups
from tiequan.leads.queue import LeadQueue
from tiequan.storage import spool
from tiequan.storage.bulk import insert_new
from tiequan.storage.connect import short_error
from tiequan.storage.store import EVIDENCE, LEADS, RUNS, Store, utcnow
from tiequan.sweep.report import count_leads

log = logging.getLogger(__name__)

ORDER = ("evidence", "store", "refer", "followup", "runs")


def _pairs(records: list[Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    pairs = []
    for record in records:
        listing, finding = record  # a refer record is [listing, finding]
        if not isinstance(listing, dict) or not isinstance(finding, dict):
            raise TypeError(f"a refer record is [listing, finding], got {record!r:.80}")
        pairs.append((listing, finding))
    return pairs


def _outcome(record: dict[str, Any]) -> Outcome:
    target = dict(record["target"])
    target["lead_ids"] = tuple(target.get("lead_ids") or ())
    target["categories"] = tuple(target.get("categories") or ())
    at = record["at"]
    return Outcome(
        target=Target(**target),
        state=str(record["state"]),
        run_id=str(record["run_id"]),
        at=datetime.fromisoformat(at) if isinstance(at, str) else at,
        evidence_id=record.get("evidence_id"),
        detail=dict(record.get("detail") or {}),
    )


def _new_followups(db: Database[Any], outcomes: list[Outcome]) -> list[Outcome]:
    lead_ids = sorted({lead_id for o in outcomes for lead_id in o.target.lead_ids})
    done = {
        (doc["_id"], f.get("run_id"), f.get("platform"), f.get("item_id"))
        for doc in db[LEADS].find({"_id": {"$in": lead_ids}}, {"followups": 1})
        for f in doc.get("followups") or []
    }
    return [
        o
        for o in outcomes
        if not all(
            (lead_id, o.run_id, o.target.platform, o.target.item_id) in done
            for lead_id in o.target.lead_ids
        )
    ]


def save_run(db: Database[Any], report: dict[str, Any]) -> None:
    """Store a run record; lead counts missing from it (an outage) are counted now."""
    report = dict(report)
    for key, field in (("leads_by_category", "category"), ("leads_by_unit", "lead_unit")):
        if report.get(key) is None:
            report[key] = count_leads(db, str(report["run_id"]), field)
    Store(db).save_run(report)


def writers(db: Database[Any]) -> dict[str, spool.StageWriter]:
    queue = LeadQueue(db)

    def evidence(_run_id: str, records: list[Any]) -> None:
        insert_new(db[EVIDENCE], records)

    def store(run_id: str, records: list[Any]) -> None:
        Store(db).record_listings(records, run_id=run_id)

    def refer(run_id: str, records: list[Any]) -> None:
        queue.record(_pairs(records), run_id=run_id)

    def followup(_run_id: str, records: list[Any]) -> None:
        fresh = _new_followups(db, [_outcome(r) for r in records])
        record_followups(db[LEADS], fresh)

    def runs(_run_id: str, records: list[Any]) -> None:
        for report in records:
            save_run(db, report)

    return {"evidence": evidence, "store": store, "refer": refer, "followup": followup,
            "runs": runs}  # fmt: skip


def replay(
    db: Database[Any],
    home: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> spool.ReplayResult:
    """Replay the whole spool of ``home`` into ``db``; raises ConnectionFailure on an outage.

    Runs whose every spool file was written get ``spooled.replayed_at`` on their record
    (`tiequan runs` shows them as replayed).
    """
    before = spool_runs(home)
    result = spool.replay(writers(db), home, order=ORDER, progress=progress)
    done = sorted(before - spool_runs(home))
    if done:
        db[RUNS].update_many({"_id": {"$in": done}}, {"$set": {"spooled.replayed_at": utcnow()}})
    return result


def spool_runs(home: Path | None) -> set[str]:
    """The runs with records still in the spool of ``home``."""
    return {spool.split_name(path.name)[0] for path in spool.pending(home)}


def replay_on_open(db: Database[Any], home: Path | None) -> None:
    """The hook the CLI arms (tiequan.storage.connect.run_on_next_open): replay what an
    earlier command left in the spool, before the command does its own work."""
    if not spool.pending(home):
        return
    try:
        result = replay(db, home)
    except (PyMongoError, OSError) as exc:
        log.warning("暂存区补写中断（%s），下次打开数据库时继续", short_error(exc))
        return
    if result.busy:
        log.info("另一进程正在补写暂存区 %s", spool.spool_dir(home))
    elif result.files or result.bad:
        log.warning(
            "已将暂存区 %s 中 %d 个文件、%d 条记录补写入数据库%s",
            spool.spool_dir(home), result.files, result.records,
            f"；{result.bad} 条无法写入，已另存为 .bad 文件" if result.bad else "",
        )  # fmt: skip
