"""Routing that follows the configuration (leads reroute), and complete exports."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from tests.test_leads import finding, listing
from tiequan.cli.main import main
from tiequan.documents.lead_listings import SCHEMA, read_lead_listings
from tiequan.leads.queue import LeadQueue
from tiequan.party import load_jurisdictions
from tiequan.party.creditcode import check_digit

CONFIG = Path(__file__).resolve().parents[1] / "config"
# A county the shipped configuration does not know: its parties go to the league.
NEW_COUNTY = """
  - key: xinqi
    name: 新旗市场监督管理局
    county: 新设旗
    aliases: [新设]
    division_codes: ["159929"]
    towns: []
"""


def new_county_listing(item_id: str) -> dict[str, Any]:
    raw = "91159929MA0R8K1X2"
    doc = listing(item_id, shop=f"新设旗小店{item_id}")
    doc["licence"] = {
        "credit_code": raw + check_digit(raw),
        "name": f"新设旗某某商行{item_id}",
        "address": "内蒙古自治区乌兰塔拉盟新设旗团结路8号",
        "url": None,
    }
    return doc


@pytest.fixture
def extended_config(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    target.mkdir()
    for name in ("categories.yaml", "lifecycle.yaml", "jurisdictions.yaml"):
        shutil.copy(CONFIG / name, target / name)
    shutil.copytree(CONFIG / "schemas", target / "schemas")
    text = (target / "jurisdictions.yaml").read_text(encoding="utf-8")
    assert "\nbureaus:\n" in text
    text = text.replace("\nbureaus:\n", "\nbureaus:\n" + NEW_COUNTY.lstrip("\n"), 1)
    (target / "jurisdictions.yaml").write_text(text, encoding="utf-8")
    return target


def test_reroute_moves_leads_to_a_county_added_later(
    db: Database[dict[str, Any]], extended_config: Path
) -> None:
    queue = LeadQueue(db)
    queue.record([(new_county_listing("1"), finding()), (listing("2"), finding())], run_id="r1")
    moved = db.leads.find_one({"party.address": {"$regex": "新设旗"}})
    assert moved is not None and moved["jurisdiction"]["bureau_key"] != "xinqi"
    stays = db.leads.find_one({"_id": {"$ne": moved["_id"]}})
    assert stays is not None

    dry = queue.reroute(
        None, "张三", jurisdictions=load_jurisdictions(extended_config), dry_run=True
    )
    assert [c.lead_id for c in dry.changed] == [moved["_id"]]
    assert db.leads.find_one({"_id": moved["_id"]})["version"] == moved["version"]  # type: ignore[index]

    result = queue.reroute(None, "张三", jurisdictions=load_jurisdictions(extended_config))
    assert result.checked == 2 and [c.lead_id for c in result.changed] == [moved["_id"]]
    after = db.leads.find_one({"_id": moved["_id"]})
    assert after is not None
    assert after["jurisdiction"]["bureau_key"] == "xinqi"
    assert after["party"]["jurisdiction"]["bureau_key"] == "xinqi"
    assert after["status"] == moved["status"] and after["version"] == moved["version"] + 1
    audit = db.audit.find_one({"lead_id": moved["_id"], "action": "reroute"})
    assert audit is not None and audit["actor"] == "张三" and audit["action_label"] == "重新分派"
    assert "新旗市场监督管理局" in audit["reason"]
    assert db.leads.find_one({"_id": stays["_id"]})["version"] == stays["version"]  # type: ignore[index]
    again = queue.reroute(None, "张三", jurisdictions=load_jurisdictions(extended_config))
    assert again.changed == [] and db.audit.count_documents({"action": "reroute"}) == 1


def test_reroute_keeps_a_referred_leads_decisions(
    db: Database[dict[str, Any]], extended_config: Path
) -> None:
    queue = LeadQueue(db)
    queue.record([(new_county_listing("1"), finding())], run_id="r1")
    lead_id = db.leads.find_one({})["_id"]  # type: ignore[index]
    queue.apply(lead_id, "claim", "李四")
    queue.apply(lead_id, "confirm", "李四", reason="宣称减肥功效")
    queue.apply(lead_id, "refer", "李四", reason="移送属地")
    before = db.leads.find_one({"_id": lead_id})
    assert before is not None
    history = len(queue.history(lead_id))
    result = queue.reroute(
        [lead_id.lower()], "张三", jurisdictions=load_jurisdictions(extended_config)
    )
    after = db.leads.find_one({"_id": lead_id})
    assert after is not None and len(result.changed) == 1
    assert after["status"] == before["status"] and after["decision"] == before["decision"]
    assert after["referral"] == before["referral"]  # where it was actually sent
    assert len(queue.history(lead_id)) == history + 1


def test_reroute_command(
    db: Database[dict[str, Any]],
    extended_config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mongo_uri: str,
) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    LeadQueue(db).record([(new_county_listing("1"), finding())], run_id="r1")
    assert main(["leads", "reroute"]) == 2
    assert "--all" in capsys.readouterr().err
    assert main(["leads", "reroute", "L-NO-SUCH"]) == 1
    assert "找不到线索" in capsys.readouterr().err
    monkeypatch.setenv("TIEQUAN_CONFIG_DIR", str(extended_config))
    assert main(["leads", "reroute", "--all", "--by", "王五"]) == 0
    out = capsys.readouterr().out
    assert "新旗市场监督管理局" in out and "改派 1 条" in out
    assert db.audit.find_one({"action": "reroute"})["actor"] == "王五"  # type: ignore[index]


def test_list_says_when_it_truncates_and_all_lists_everything(
    db: Database[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mongo_uri: str,
) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    pairs = [(listing(str(i), licence=False, shop=f"店{i}"), finding()) for i in range(7)]
    LeadQueue(db).record(pairs, run_id="r1")
    assert main(["leads", "list", "--json", "--limit", "5"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 5 and "共 7 条" in captured.err
    assert main(["leads", "list", "--json", "--all"]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 7 and not captured.err
    assert main(["leads", "list", "--limit", "0"]) == 2


def test_jsonl_export_reads_back_as_the_leads(
    db: Database[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mongo_uri: str,
) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    pairs = [
        (listing("1"), finding()),
        (listing("2"), finding()),
        (listing("3", licence=False, shop="无照小店"), finding("miracle_drug", 0.7)),
    ]
    LeadQueue(db).record(pairs, run_id="r1")
    target = tmp_path / "out" / "leads.jsonl"
    assert main(["leads", "export", "--jsonl", str(target)]) == 0
    assert "2 条线索，3 行" in capsys.readouterr().out
    records = read_lead_listings(target)
    leads = {d["_id"]: d for d in db.leads.find({})}
    assert sorted((r.lead_id, r.item_id) for r in records) == sorted(
        (lead_id, e["item_id"]) for lead_id, d in leads.items() for e in d["listings"]
    )
    for record in records:
        lead = leads[record.lead_id]
        assert record.schema == SCHEMA and record.category == lead["category"]
        assert record.status == lead["status"] and record.lead_unit == lead["lead_unit"]
        assert record.bureau_key == lead["jurisdiction"]["bureau_key"]
        assert record.credit_code == lead["party"]["credit_code"]
        assert record.url is not None and record.url.endswith(f"/item/{record.item_id}")
        assert record.first_seen_at is not None and record.first_seen_at.endswith("+00:00")
    assert main(["leads", "export", "--jsonl", str(target), "--category", "miracle_drug"]) == 0
    assert [r.category for r in read_lead_listings(target)] == ["miracle_drug"]
    assert main(["leads", "export", "--jsonl", str(target), "--ledger"]) == 1
    assert main(["leads", "export", "--ledger"]) == 1
    assert "--output" in capsys.readouterr().err


def test_reading_a_broken_export_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"schema": SCHEMA}) + "\n{", encoding="utf-8")
    with pytest.raises(ValueError, match=r"x.jsonl:1: missing field lead_id"):
        read_lead_listings(path)
