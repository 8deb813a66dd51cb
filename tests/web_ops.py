"""Building blocks of the queue-operation tests: a queue of leads and a workbench client.

Test modules wrap these in their own fixtures (imported fixtures would shadow their names).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from pymongo.database import Database

from tests.test_leads import finding, listing
from tests.test_web import PASSWORD, USERS
from tiequan.evidence.artefacts import ArtefactStore
from tiequan.leads.queue import CLAIM_ORDER, LeadQueue
from tiequan.web.accounts import Accounts
from tiequan.web.app import create_app


def seeded_queue(db: Database[dict[str, Any]], n: int = 6, miracle: int = 2) -> LeadQueue:
    """``n`` slimming leads, then ``miracle`` lower-scored miracle-drug ones; all pending."""
    queue = LeadQueue(db)
    queue.ensure_indexes()
    pairs = [
        (listing(str(i), licence=False, shop=f"店{i}"), finding(score=0.5 + i / 100))
        for i in range(n)
    ]
    pairs += [
        (listing(f"m{i}", licence=False, shop=f"药店{i}"), finding("miracle_drug", 0.3))
        for i in range(miracle)
    ]
    queue.record(pairs, run_id="r1")
    return queue


def ids(db: Database[dict[str, Any]], query: dict[str, Any] | None = None) -> list[str]:
    """Lead ids in claim order (best first)."""
    return [str(d["_id"]) for d in db.leads.find(query or {}, {"_id": 1}).sort(CLAIM_ORDER)]


@contextmanager
def workbench(
    db: Database[dict[str, Any]], queue: LeadQueue, evidence: Path
) -> Iterator[TestClient]:
    # Cheap argon2 parameters: the same code path, a fraction of the time.
    accounts = Accounts(db, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name, (role, extra) in USERS.items():
        accounts.add(name, role, PASSWORD, **extra)
    app = create_app(db, queue=queue, accounts=accounts, artefacts=ArtefactStore(evidence))
    with TestClient(app, follow_redirects=False) as client:
        yield client
