"""Incremental recrawl: an unchanged site re-processes nothing; an edited listing is re-detected."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from crawlers.assemble import LicenceCache, LicenceState
from crawlers.items import Licence, Listing, RawCapture
from pipelines.evidence import licence_link
from pipelines.recrawl import fields_sha256
from tests.conftest import TrainedModel
from tests.fixtures_mongo import cli_env
from tiequan.sandbox.server import SandboxServer
from tiequan.sandbox.takedown import takedown_state

REPO = Path(__file__).resolve().parents[1]
SEED, SCALE = 20220101, 0.1
SETTINGS = [
    "DOWNLOAD_DELAY=0",
    "AUTOTHROTTLE_ENABLED=False",
    "RETRY_BACKOFF_BASE=0.05",
    "RETRY_BACKOFF_MAX=0.3",
    "TIEQUAN_OCR_ENABLED=False",
    "TIEQUAN_EVIDENCE_SCREENSHOTS=False",
]
EDITED_TEXT = "本品采用祖传秘方，七天根治糖尿病，无效退款。"


@pytest.fixture(scope="module")
def mall() -> Iterator[SandboxServer]:
    """A sandbox of its own: the test edits an item, which others must not see."""
    with SandboxServer(seed=SEED, scale=SCALE) as server:
        yield server


@pytest.fixture(scope="module")
def env(
    mongo_uri: str, tmp_path_factory: pytest.TempPathFactory, trained_model: TrainedModel
) -> Iterator[dict[str, str]]:
    name = f"t_recrawl_{uuid.uuid4().hex[:8]}"
    trained_model.promote_at(mongo_uri, name)
    yield cli_env(mongo_uri, name, tmp_path_factory.mktemp("home"))
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    client.drop_database(name)
    client.close()


def sweep(mall: SandboxServer, env: dict[str, str], n: int) -> dict[str, Any]:
    report_path = Path(env["TIEQUAN_HOME"]) / f"run{n}.json"
    settings = [arg for kv in SETTINGS for arg in ("-s", kv)]
    cmd = [
        sys.executable, "-m", "tiequan", "sweep", "--site", "sandbox_mall",
        "--base-url", mall.base_url, "--report", str(report_path), *settings,
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
    return report


def counts(db: Database[Any]) -> dict[str, int]:
    return {name: db[name].count_documents({}) for name in ("listings", "evidence", "leads")}


@pytest.fixture(scope="module")
def runs(
    mall: SandboxServer, env: dict[str, str], mongo_client: MongoClient[dict[str, Any]]
) -> dict[str, Any]:
    db = mongo_client[env["TIEQUAN_DB"]]
    first = sweep(mall, env, 1)
    after_first = counts(db)
    mall.not_modified = 0
    second = sweep(mall, env, 2)
    after_second = counts(db)
    second_304s = mall.not_modified
    flagged = db.listings.find_one({"findings.0": {"$exists": True}}, {"item_id": 1})
    plain = db.listings.find_one(
        {"findings": [], "item_id": {"$in": [e.item_id for e in mall.world.entries["mall"]]}},
        {"item_id": 1},
    )
    assert flagged is not None and plain is not None
    mall.edit_text(plain["item_id"], EDITED_TEXT)
    third = sweep(mall, env, 3)
    return {
        "db": db, "reports": (first, second, third), "after": (after_first, after_second),
        "second_304s": second_304s, "edited": plain["item_id"],
    }  # fmt: skip


def test_an_unchanged_recrawl_reprocesses_nothing(runs: dict[str, Any]) -> None:
    db: Database[Any] = runs["db"]
    first, second, _ = runs["reports"]
    site1, site2 = first["sites"]["sandbox_mall"], second["sites"]["sandbox_mall"]
    assert site1["items"] > 50 and site1["detected"] == site1["items"]
    assert site2["items"] == site1["items"]
    assert site2["detected"] == 0  # no detector call on any item
    # Every item page came back 304; nothing else was found unchanged by its fields.
    assert site2["not_modified"] == site2["items"] == runs["second_304s"]
    assert site2["missing"] == 0
    assert runs["after"][1] == runs["after"][0]  # no listing, evidence set or lead added
    assert second["totals"]["leads_new"] == 0
    run2 = second["run_id"]
    assert db.listings.count_documents({"last_changed_run_id": run2}) == 0
    assert db.evidence.count_documents({"run_id": run2}) == 0
    # Only the sightings: one capture per listing, and the leads' last sighting moved on.
    captures = list(db.captures.find({"run_id": run2}, {"change": 1, "status": 1}))
    assert len(captures) == site2["items"]
    assert {c["change"] for c in captures} == {"unchanged"}
    assert {c["status"] for c in captures} == {304}
    assert second["totals"]["leads_seen_again"] > 0
    entries = [e for lead in db.leads.find() for e in lead["listings"]]
    of_first = [e for e in entries if e["run_ids"][0] == first["run_id"]]
    assert len(of_first) == second["totals"]["leads_seen_again"]
    for e in of_first:  # the evidence set of the first night still stands
        assert e["run_ids"][:2] == [first["run_id"], run2] and e["evidence_id"], e


def test_an_edited_listing_alone_is_detected_again(runs: dict[str, Any]) -> None:
    db: Database[Any] = runs["db"]
    third = runs["reports"][2]
    site = third["sites"]["sandbox_mall"]
    assert site["detected"] == 1
    assert site["not_modified"] == site["items"] - 1
    changed = list(db.listings.find({"last_changed_run_id": third["run_id"]}, {"item_id": 1}))
    assert [d["item_id"] for d in changed] == [runs["edited"]]
    doc = db.listings.find_one({"item_id": runs["edited"]})
    assert doc is not None and doc["text"] == EDITED_TEXT and doc["findings"]
    assert third["totals"]["leads_new"] >= 1


def test_without_validators_the_field_hash_finds_the_listing_unchanged(
    mall: SandboxServer, env: dict[str, str], runs: dict[str, Any]
) -> None:
    mall.validators = False
    try:
        report = sweep(mall, env, 4)
    finally:
        mall.validators = True
    site = report["sites"]["sandbox_mall"]
    assert site["detected"] == 0 and site["not_modified"] == 0
    assert site["unchanged"] == site["items"] > 50


def test_listings_another_model_detected_are_detected_again_once(
    mall: SandboxServer, env: dict[str, str], runs: dict[str, Any]
) -> None:
    db: Database[Any] = runs["db"]
    live = {d["detector_version"] for d in db.listings.find({}, {"detector_version": 1})}
    assert len(live) == 1 and None not in live  # every listing: the one live model
    flagged = db.listings.find_one({"findings.0": {"$exists": True}}, {"item_id": 1})
    plain = db.listings.find({"findings": []}, {"item_id": 1}).limit(2)
    assert flagged is not None
    older = sorted([flagged["item_id"], *(d["item_id"] for d in plain)])
    # As a sweep before the retraining (or a lexicon edit) left them: another version,
    # so another content hash.
    db.listings.update_many(
        {"item_id": {"$in": older}},
        {"$set": {"detector_version": "v0-old", "content_sha256": "of-the-old-model"}},
    )
    mall.not_modified = 0
    report = sweep(mall, env, 6)
    site = report["sites"]["sandbox_mall"]
    assert site["detected"] == site["redetected"] == len(older)
    assert site["not_modified"] == mall.not_modified == site["items"] - len(older)
    changed = db.listings.find({"last_changed_run_id": report["run_id"]}, {"item_id": 1})
    assert sorted(d["item_id"] for d in changed) == older
    assert {d["detector_version"] for d in db.listings.find({}, {"detector_version": 1})} == live
    doc = db.listings.find_one({"item_id": flagged["item_id"]})
    assert doc is not None and doc["findings"]
    assert {f["model_version"] for f in doc["findings"]} == live
    again = sweep(mall, env, 7)["sites"]["sandbox_mall"]  # once: now they are the live model's
    assert again["detected"] == again["redetected"] == 0
    assert again["not_modified"] == again["items"]


def test_fields_hash_ignores_the_sighting_and_what_stages_derive() -> None:
    item = Listing("p", "product", "https://a/1", "1", "标题", text="正文", price=9.9)
    before = fields_sha256(item)
    item.captured_at, item.status, item.etag = "2026-01-01T00:00:00+00:00", 304, '"x"'
    item.findings = [{"category": "miracle_drug"}]
    assert fields_sha256(item) == before
    item.price = 10.9
    assert fields_sha256(item) != before


def test_listings_gone_from_the_site_are_marked_missing(
    mall: SandboxServer, env: dict[str, str], runs: dict[str, Any]
) -> None:
    db: Database[Any] = runs["db"]
    mall.night = 1  # some violating listings are taken down, others edited
    try:
        report = sweep(mall, env, 5)
    finally:
        mall.night = 0
    shown = [*mall.world.entries["mall"], *mall.world.hostile, *mall.world.price_watch]
    removed = {e.item_id for e in shown if takedown_state(SEED, e, 1) == "removed"}
    edited = {e.item_id for e in shown if takedown_state(SEED, e, 1) == "changed"}
    assert removed
    site = report["sites"]["sandbox_mall"]
    marked = {d["item_id"] for d in db.listings.find({"missing_since": {"$ne": None}})}
    assert marked == removed
    assert site["missing"] == len(removed)
    changed = {d["item_id"] for d in db.listings.find({"last_changed_run_id": report["run_id"]})}
    assert edited <= changed  # re-detected, with the price-watch listings whose prices moved
    assert len(edited) <= site["detected"] <= len(changed)
    assert site["detected"] + site["not_modified"] + site["unchanged"] == site["items"]


def test_the_licence_cache_keeps_the_latest_pages_only() -> None:
    cache = LicenceCache(keep_pages=2)
    page = RawCapture("u", "GET", [], "u", 200, [], b"<html></html>", "t")
    for shop in ("a", "b", "c"):
        item = Listing("p", "product", f"https://a/{shop}", shop, "标题")
        assert cache.add(shop, item) is LicenceState.FETCH
        cache.resolve(shop, Licence(credit_code="X", url=f"https://a/{shop}/licence"), page)
    later = [Listing("p", "product", f"https://a/{s}2", f"{s}2", "标题") for s in "abc"]
    for shop, item in zip("abc", later, strict=True):
        assert cache.add(shop, item) is LicenceState.READY and item.licence is not None
    # The oldest shop's page was let go; its licence is still known, and the evidence
    # stage fetches the page again from the licence's own URL.
    assert [item.licence_raw is page for item in later] == [False, True, True]
    assert licence_link(later[0]) == "https://a/a/licence"
