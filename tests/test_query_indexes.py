"""Every query a sweep and the workbench make is served by an index of the registry.

Two sandbox sweeps (the second one a recrawl with follow-ups) run in a child process with a
pymongo CommandListener registered for every client (tests.query_shapes), then the workbench
loads each of its pages on the swept database through a listened client. Each recorded
shape must be served: its filter narrows on ``_id``, or on the leading key of one of its
collection's indexes in ``tiequan.storage.store.INDEXES`` (the embedded server builds the
full candidate list in memory unless ``_id`` or a secondary index narrows it); a filter that
narrows on nothing is served only by a sort on an index's leading key. ``ALLOWED`` lists
the rest, each with its reason.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from pymongo import MongoClient
from pymongo.database import Database

from tests.conftest import TrainedModel
from tests.fixtures_mongo import cli_env
from tests.fixtures_sandbox import SANDBOX_SEED
from tests.query_shapes import RECORDER_SCRIPT, Shape, ShapeRecorder, load_shapes
from tests.test_web import PASSWORD, USERS
from tiequan.evidence.gridfs_files import GridFSArtefactStore
from tiequan.leads.queue import LeadQueue
from tiequan.sandbox.server import SandboxServer
from tiequan.storage.store import INDEXES
from tiequan.web.accounts import Accounts
from tiequan.web.app import create_app

REPO = Path(__file__).resolve().parents[1]
SCALE = 0.05
SWEEP_SETTINGS = (
    "DOWNLOAD_DELAY=0",
    "AUTOTHROTTLE_ENABLED=False",
    "RETRY_BACKOFF_BASE=0.05",
    "RETRY_BACKOFF_MAX=0.3",
    "TIEQUAN_OCR_ENABLED=False",
    "TIEQUAN_EVIDENCE_SCREENSHOTS=False",
)

Swept = tuple[Database[dict[str, Any]], Path, dict[Shape, str]]
# (collection, the shape's description or "*" for any) -> why it needs no index.
ALLOWED: dict[tuple[str, str], str] = {
    ("runs", "*"): "one document per sweep: a few hundred a year",
    ("migrations", "*"): "one record per schema migration: a handful",
    ("leads", "leads.find"): (
        "the queue's drop-down values (LeadQueue.facets): one projected read of every lead, "
        "cached by the workbench for FACET_MAX_AGE (tiequan.web.views.FacetCache)"
    ),
    # pymongo's GridFS upload first asks whether its bucket is empty (find_one({}), a limit
    # of 1) to decide whether to create its indexes; the registry has created them already.
    ("evidence_files.files", "evidence_files.files.find"): "GridFS's emptiness check (limit 1)",
    ("evidence_files.chunks", "evidence_files.chunks.find"): "GridFS's emptiness check (limit 1)",
    ("leads", "leads.aggregate other=party_key"): (
        "migrations._legacy_leads' count of leads without a party key: once per database, "
        "then recorded as applied when it finds none (migrations.require_current)"
    ),
}


def served(shape: Shape) -> bool:
    """True when ``_id`` or an index's leading key narrows the filter, or, for a filter
    that narrows on nothing, the sort follows an index's leading key; a ``count`` without
    a filter is the collection's own count."""
    narrowing = shape.narrowing
    if "_id" in narrowing:
        return True
    if shape.op == "count" and not narrowing and not shape.other:
        return True  # estimated_document_count: the collection's metadata, no document read
    leading = {next(iter(index.document["key"])) for index in INDEXES.get(shape.collection, [])}
    if narrowing:
        return bool(narrowing & leading)
    return bool(shape.sort) and shape.sort[0] in leading


def allowed(shape: Shape) -> str | None:
    return ALLOWED.get((shape.collection, shape.describe())) or ALLOWED.get((shape.collection, "*"))


@pytest.fixture(scope="module")
def swept(
    mongo_uri: str,
    mongo_client: MongoClient[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
    trained_model: TrainedModel,
) -> Iterator[Swept]:
    """Two recorded sweeps of a small sandbox mall: (db, TIEQUAN_HOME, their shapes)."""
    name = f"t_idx_{uuid.uuid4().hex[:8]}"
    trained_model.promote_in(mongo_client[name])
    home = tmp_path_factory.mktemp("idx_home")
    # Evidence files in GridFS: its reads and writes are queries too.
    env = cli_env(mongo_uri, name, home, TIEQUAN_EVIDENCE_STORE="gridfs")
    shapes: dict[Shape, str] = {}
    with SandboxServer(seed=SANDBOX_SEED, scale=SCALE) as server:
        for sweep in range(2):
            out = home / f"shapes-{sweep}.json"
            cmd = [
                sys.executable, "-c", RECORDER_SCRIPT, str(out),
                "sweep", "--site", "sandbox_mall", "--base-url", server.base_url,
                "--progress", "0", *[a for kv in SWEEP_SETTINGS for a in ("-s", kv)],
            ]  # fmt: skip
            result = subprocess.run(
                cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300
            )
            assert result.returncode == 0, result.stderr[-3000:]
            shapes = load_shapes(out) | shapes
    yield mongo_client[name], home, shapes
    mongo_client.drop_database(name)


@pytest.fixture(scope="module")
def page_shapes(swept: Swept, mongo_uri: str) -> dict[Shape, str]:
    """The shapes of the workbench's page loads, by each role, on the swept database."""
    db_plain, home, _ = swept
    recorder = ShapeRecorder()
    client: MongoClient[dict[str, Any]] = MongoClient(
        mongo_uri, tz_aware=True, event_listeners=[recorder]
    )
    with client:
        db = client[db_plain.name]
        accounts = Accounts(db, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        for username, (role, extra) in USERS.items():
            accounts.add(username, role, PASSWORD, **extra)
        # Read without the recorder: these are the test's queries, not the workbench's.
        lead = db_plain.leads.find_one({}, sort=[("score", -1)])
        assert lead is not None, "the sweep made no lead"
        sets = list(db_plain.evidence.find({}, {"artefacts": 1, "party_key": 1}))
        assert sets, "the sweep fixed no evidence"
        # The sweep's evidence files went to GridFS, whole.
        files = GridFSArtefactStore(db_plain)
        shas = {a["sha256"]: a["kind"] for ev in sets for a in ev["artefacts"]}
        assert {files.check(sha) for sha in shas} == {"ok"}
        sha = next((s for s, kind in shas.items() if kind == "image"), next(iter(shas)))
        model = db_plain.models.find_one({})
        assert model is not None
        app = create_app(
            db, queue=LeadQueue(db), accounts=accounts, artefacts=GridFSArtefactStore(db)
        )
        with TestClient(app, follow_redirects=False) as web:
            for username in ("adm", "dwl"):
                _login(web, username)
                for path in _pages(lead, sha, str(model["_id"])):
                    web.get(path)
                web.cookies.clear()
        assert not (home / "evidence").exists()
    return recorder.shapes


def _login(web: TestClient, username: str) -> None:
    form = web.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    response = web.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf": token.group(1)}
    )
    assert response.status_code == 303, response.text


def _pages(lead: dict[str, Any], sha: str, version: str) -> list[str]:
    lead_id = str(lead["_id"])
    listing = lead["listings"][0]
    queue = [
        "", "sort=score", "sort=status", "sort=due", "sort=learn",
        f"category={lead['category']}", f"unit={lead.get('lead_unit', '')}",
        f"bureau={(lead.get('jurisdiction') or {}).get('bureau_key', '')}",
        "status=待研判", "status=待研判&sort=score", "min_score=0.5",
        f"platform={listing['platform']}", "source=sweep", "severity=立案",
        "claimed_by=rev", "date_from=2020-01-01&date_to=2099-01-01", "page=2",
    ]  # fmt: skip
    return [
        "/", "/unit", "/dashboard", "/dashboard/data", "/dashboard/report.docx",
        *(f"/leads?{q}" for q in queue),
        "/leads/export/extraction", "/leads/export/ledger", "/leads/export/referral",
        f"/leads/{lead_id}", f"/leads/{lead_id}/artefact/{sha}",
        "/lexicon", "/lexicon/suggestions", "/models", f"/models/{version}/report",
    ]  # fmt: skip


def test_the_recorder_sees_the_sweeps_and_the_pages(
    swept: Swept, page_shapes: dict[Shape, str]
) -> None:
    """The recording reaches the queries that matter (so an empty record cannot pass)."""
    _, _, sweep_shapes = swept
    assert {s.collection for s in sweep_shapes} >= {"listings", "captures", "leads", "runs"}
    assert any(s.collection == "leads" and s.op == "find" for s in page_shapes)


def test_every_query_is_served_by_an_index(swept: Swept, page_shapes: dict[Shape, str]) -> None:
    _, _, sweep_shapes = swept
    unserved = sorted(
        f"{s.describe()}  ({where})"
        for s, where in (sweep_shapes | page_shapes).items()
        if not served(s) and allowed(s) is None
    )
    assert not unserved, "queries no index serves:\n" + "\n".join(unserved)


def test_allow_list_entries_are_still_met(swept: Swept, page_shapes: dict[Shape, str]) -> None:
    """An allowed shape nobody sends any more is dropped from ALLOWED."""
    _, _, sweep_shapes = swept
    seen = {(s.collection, s.describe()) for s in sweep_shapes | page_shapes}
    seen |= {(s.collection, "*") for s in sweep_shapes | page_shapes if not served(s)}
    stale = sorted(f"{c}: {d}" for c, d in ALLOWED if (c, d) not in seen)
    assert not stale, "allow-list entries no query needs:\n" + "\n".join(stale)


def test_served_rule() -> None:
    lead = "leads"
    assert served(Shape(lead, "find", ("_id",), (), (), ()))
    assert served(Shape(lead, "find", ("party_key", "foo"), (), (), ()))
    assert not served(Shape(lead, "find", ("shop_name",), (), (), ()))  # no index leads with it
    assert not served(Shape(lead, "find", (), (), ("party_key",), ()))  # $exists narrows nothing
    assert served(Shape(lead, "find", (), (), (), ("created_at",)))
    assert not served(Shape(lead, "find", (), (), (), ()))
    assert not served(Shape("no_such", "find", ("x",), (), (), ()))
