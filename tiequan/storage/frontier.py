"""The durable crawl frontier's documents: one per request of a site's crawl, one head per site.

``crawl_frontier`` holds one document per request fingerprint of a site's open crawl,
``_id`` "site|fingerprint", in state ``queued`` → ``leased`` (worker, until) → ``done``.
The set of its fingerprints is the crawl's seen-set. ``crawl_frontier_heads`` holds one
document per site: whether its crawl is ``open`` (killed or stopped before it finished:
the next ``--resume`` continues it) or ``finished``, the runs that worked on it, and the
process holding it (host, pid, lease). A holder that died (its pid is gone on this
host, or its lease ran out) is cleared with a log line and never blocks the next run.

A finished crawl's request documents are deleted, so the collection holds only the
crawls that may still be resumed. The Scrapy side is pipelines.frontier.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.database import Database

from tiequan.storage.process import pid_alive
from tiequan.storage.store import CRAWL_FRONTIER, INDEXES, utcnow

log = logging.getLogger(__name__)

FRONTIER = CRAWL_FRONTIER
HEADS = "crawl_frontier_heads"
QUEUED, LEASED, DONE = "queued", "leased", "done"
OPEN, FINISHED = "open", "finished"


class FrontierLocked(RuntimeError):
    """Another live process holds this site's crawl frontier."""


@dataclass(frozen=True)
class FrontierOp:
    """One change of a request's state, written in order with the others of its batch."""

    kind: str  # QUEUED, LEASED or DONE
    fp: str
    request: dict[str, Any] | None = None  # QUEUED: the serialised request
    priority: int = 0
    seq: int = 0


@dataclass(frozen=True)
class Resumption:
    """What opening a site's frontier found."""

    resumed: bool
    previous_run: str | None  # the last run that worked on the resumed crawl


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_is_gone(head: dict[str, Any], now: datetime) -> str | None:
    """Why the head's holder no longer holds it (a stale lock), or None if it still may."""
    holder = head.get("holder")
    if not holder:
        return "no holder"
    host, _, pid = str(holder).rpartition(":")
    until = head.get("lease_until")
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=now.tzinfo)
    if host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return "this process"
        if not pid_alive(int(pid)):
            return f"pid {pid} is gone"
        return None
    if until is None or until < now:
        return f"its lease ran out at {until}"
    return None


def open_frontier(
    db: Database[Any],
    site: str,
    run_id: str,
    *,
    resume: bool,
    lease_s: float,
    max_age: timedelta | None = None,
) -> Resumption:
    """Take the site's frontier for ``run_id``: continue its open crawl when ``resume``
    (and it started less than ``max_age`` ago), else start an empty one.
    Raises FrontierLocked when a live process holds it."""
    db[FRONTIER].create_indexes(INDEXES[FRONTIER])
    now = utcnow()
    head = db[HEADS].find_one({"_id": site})
    if head is not None and head.get("holder"):
        why = _holder_is_gone(head, now)
        if why is None:
            raise FrontierLocked(
                f"the crawl frontier of {site} is held by {head['holder']} "
                f"(run {head.get('run_id')}) until {head.get('lease_until')}"
            )
        if why != "this process":
            log.warning(
                "clearing the stale frontier lock of %s left by %s (run %s): %s",
                site, head["holder"], head.get("run_id"), why,
            )  # fmt: skip
    resumed = bool(resume and head is not None and head.get("state") == OPEN)
    started = (head or {}).get("started_at") or now
    if started.tzinfo is None:
        started = started.replace(tzinfo=now.tzinfo)
    if resumed and max_age is not None and now - started > max_age:
        log.warning(
            "%s: not resuming run %s: its crawl started at %s, more than %s ago",
            site, (head or {}).get("run_id"), started, max_age,
        )  # fmt: skip
        resumed = False
    previous = str(head.get("run_id")) if resumed and head is not None else None
    if not resumed:
        db[FRONTIER].delete_many({"site": site})
    runs = [*(head.get("runs") or []), run_id] if resumed and head is not None else [run_id]
    db[HEADS].replace_one(
        {"_id": site},
        {
            "_id": site,
            "state": OPEN,
            "run_id": run_id,
            "runs": runs,
            "holder": worker_id(),
            "lease_until": now + timedelta(seconds=lease_s),
            "opened_at": now,
            "started_at": started if resumed else now,
        },
        upsert=True,
    )
    return Resumption(resumed=resumed, previous_run=previous)


def chain_runs(db: Database[Any], site: str) -> list[str]:
    """The runs that worked on the site's open crawl, oldest first."""
    head = db[HEADS].find_one({"_id": site}, {"runs": 1})
    return [str(r) for r in (head or {}).get("runs") or []]


def seen_and_pending(db: Database[Any], site: str) -> tuple[set[str], Iterator[dict[str, Any]]]:
    """The crawl's seen fingerprints, and its requests not done (queued or leased)."""
    seen = {str(d["fp"]) for d in db[FRONTIER].find({"site": site}, {"fp": 1, "_id": 0})}
    pending = db[FRONTIER].find(
        {"site": site, "state": {"$ne": DONE}}, {"fp": 1, "request": 1, "priority": 1, "seq": 1}
    )
    return seen, iter(pending)


def write_ops(db: Database[Any], site: str, ops: list[FrontierOp], lease_s: float) -> None:
    """Write ``ops``, and renew this process's lease on the site's head.

    The ops of one fingerprint in a batch collapse into one write of its last state (most
    pages are queued, leased and done within one batch), so it costs one write, not three.
    """
    now = utcnow()
    until = now + timedelta(seconds=lease_s)
    queued: dict[str, FrontierOp] = {}
    last: dict[str, str] = {}
    for op in ops:
        if op.kind == QUEUED:
            queued[op.fp] = op
        last[op.fp] = op.kind
    writes: list[UpdateOne] = []
    for fp, state in last.items():
        key = {"_id": f"{site}|{fp}"}
        fields: dict[str, Any] = {"state": state}
        if state == LEASED:
            fields.update(worker=worker_id(), lease_until=until)
        elif state == DONE:
            fields["done_at"] = now
        new = queued.get(fp)
        if new is not None:
            url = (new.request or {}).get("url")
            doc = {"site": site, "fp": fp, "url": url, "priority": new.priority,
                   "seq": new.seq, "queued_at": now, **fields}  # fmt: skip
            if state != DONE:  # a done request keeps only its fingerprint (the seen-set)
                doc["request"] = new.request
            writes.append(UpdateOne(key, {"$setOnInsert": doc}, upsert=True))
        elif state == DONE:
            writes.append(UpdateOne(key, {"$set": fields, "$unset": {"request": ""}}))
        else:
            writes.append(UpdateOne({**key, "state": {"$ne": DONE}}, {"$set": fields}))
    if writes:
        db[FRONTIER].bulk_write(writes, ordered=False)
    db[HEADS].update_one({"_id": site, "holder": worker_id()}, {"$set": {"lease_until": until}})


def close_frontier(db: Database[Any], site: str, *, finished: bool) -> None:
    """Release the site's frontier; a finished crawl's requests are deleted."""
    if finished:
        db[FRONTIER].delete_many({"site": site})
    db[HEADS].update_one(
        {"_id": site, "holder": worker_id()},
        {"$set": {"state": FINISHED if finished else OPEN, "holder": None, "closed_at": utcnow()}},
    )


def open_crawl(db: Database[Any], site: str) -> dict[str, Any] | None:
    """The site's head when its crawl is open (resumable), else None."""
    return db[HEADS].find_one({"_id": site, "state": OPEN})
