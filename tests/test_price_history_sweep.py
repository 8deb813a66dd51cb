"""Two nights of the sandbox mall: a crossed-out price never charged becomes one 价格欺诈 lead.

Night 0 sells the price-watch listings at their regular prices; night 1 crosses out a
price on each, for some the regular price of night 0 (genuine), for others a price never
charged. Every other mall listing shows the same crossed-out price both nights, so its
comparison predates the history and must raise nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from tests.conftest import TrainedModel
from tiequan.cli import leads_cmd
from tiequan.referral import load_categories
from tiequan.sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[1]
SEED, SCALE = 20220101, 0.05  # the mall's smallest world: a few dozen listings
SETTINGS = [
    "DOWNLOAD_DELAY=0",
    "AUTOTHROTTLE_ENABLED=False",
    "RETRY_BACKOFF_BASE=0.05",
    "RETRY_BACKOFF_MAX=0.3",
    "TIEQUAN_OCR_ENABLED=False",  # prices are on the page; images add only minutes
    "TIEQUAN_EVIDENCE_SCREENSHOTS=False",
]


def tiequan(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "tiequan", *args]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def two_nights(
    mongo_uri: str, tmp_path_factory: pytest.TempPathFactory, trained_model: TrainedModel
) -> Iterator[tuple[SandboxServer, dict[str, str], list[dict[str, Any]]]]:
    name = f"t_price_{uuid.uuid4().hex[:8]}"
    trained_model.promote_at(mongo_uri, name)
    home = tmp_path_factory.mktemp("price_home")
    env = dict(os.environ)
    env.update(TIEQUAN_MONGO_URI=mongo_uri, TIEQUAN_DB=name, TIEQUAN_HOME=str(home))
    env["PYTHONPATH"] = str(REPO)
    reports = []
    with SandboxServer(seed=SEED, scale=SCALE) as server:
        for night in (0, 1):
            server.night = night
            report_path = home / f"night{night}.json"
            result = tiequan(
                "sweep", "--site", "sandbox_mall", "--base-url", server.base_url,
                "--report", str(report_path), *[a for kv in SETTINGS for a in ("-s", kv)],
                env=env,
            )  # fmt: skip
            assert result.returncode == 0, result.stderr[-3000:]
            reports.append(json.loads(report_path.read_text(encoding="utf-8")))
        yield server, env, reports
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    client.drop_database(name)
    client.close()


@pytest.fixture
def sweep_db(
    two_nights: tuple[SandboxServer, dict[str, str], list[dict[str, Any]]],
    mongo_client: MongoClient[dict[str, Any]],
) -> Database[Any]:
    return mongo_client[two_nights[1]["TIEQUAN_DB"]]


def _price_fraud_leads(db: Database[Any]) -> list[dict[str, Any]]:
    return list(db.leads.find({"listings.finding_type": "price_fraud"}))


def _price_fraud_listings(db: Database[Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (lead, entry)
        for lead in _price_fraud_leads(db)
        for entry in lead["listings"]
        if entry.get("finding_type") == "price_fraud"
    ]


def test_never_charged_original_price_yields_one_lead_after_the_second_night(
    two_nights: tuple[SandboxServer, dict[str, str], list[dict[str, Any]]],
    sweep_db: Database[Any],
) -> None:
    server, _env, (first, second) = two_nights
    fake = {e.item_id for e in server.world.price_watch if e.price_fraud}
    real = {e.item_id for e in server.world.price_watch if not e.price_fraud}
    assert fake and real
    found = _price_fraud_listings(sweep_db)
    assert sorted(entry["item_id"] for _, entry in found) == sorted(fake)  # one each, none on real
    for lead, entry in found:
        assert lead["category"] == load_categories().finding_route("price_fraud").category
        assert entry["run_ids"] == [second["run_id"]] and entry["seen_count"] == 1
        assert lead["lead_unit"] == "价格、反垄断和网络交易（广告）监督管理股"
        assert "从未按原价销售" in entry["explanation"]
    # The listings with a crossed-out price on both nights raised no price-fraud lead, and
    # night 1 added no lead besides the price-fraud ones.
    captured = sweep_db.captures.count_documents(
        {"run_id": first["run_id"], "original_price": {"$gt": 0}}
    )
    assert captured > 10
    assert second["totals"]["leads_new"] <= len(fake)
    assert sweep_db.leads.count_documents({"listings.item_id": {"$in": sorted(real)}}) == 0


def test_leads_show_says_price_fraud(
    two_nights: tuple[SandboxServer, dict[str, str], list[dict[str, Any]]],
    sweep_db: Database[Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lead = next(x for x in _price_fraud_leads(sweep_db) if x.get("finding_type") == "price_fraud")
    for name in ("TIEQUAN_MONGO_URI", "TIEQUAN_DB"):
        monkeypatch.setenv(name, two_nights[1][name])
    parser = argparse.ArgumentParser(prog="tiequan")
    leads_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["leads", "show", lead["_id"]])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "价格欺诈（price_fraud" in out and "价格、反垄断和网络交易（广告）监督管理股" in out
    assert "从未按原价销售" in out and "划线原价" in out
