"""Every decision on a lead becomes a label: its texts, findings and verdict, for retraining."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from tests.test_web import PARTY, finding, listing
from tiequan.cli import main as cli_main
from tiequan.leads.labels import MAX_TEXT, Label, LabelDocError, LabelStore
from tiequan.leads.queue import LeadQueue, make_lead_id
from tiequan.storage.store import AUDIT, LABELS, Store

LONG = "本品三天见效，" * 1000  # longer than a label keeps
T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def queue(db: Database[dict[str, Any]]) -> LeadQueue:
    q = LeadQueue(db)
    q.ensure_indexes()
    return q


@pytest.fixture
def ids(queue: LeadQueue, db: Database[dict[str, Any]]) -> dict[str, str]:
    """Three leads of one party: slimming (A), miracle drug (B), medical beauty (C)."""
    a = listing("1", title="纤体速效茶", shop="小美保健专营店", description="喝一周瘦八斤")
    b = listing("2", title="神药", shop="小美保健专营店", description="根治癌症，无效退款")
    c = listing("3", title="无痕美容针", shop="小美保健专营店", description=LONG)
    Store(db).record_listings([a, b, c], run_id="R1")
    queue.record(
        [
            (a, finding("slimming_aphrodisiac", ["瘦八斤"])),
            (b, finding("miracle_drug", ["根治癌症"])),
            (c, finding("medical_beauty", ["三天见效"])),
        ],
        run_id="R1",
    )
    return {
        k: make_lead_id(PARTY, cat)
        for k, cat in (
            ("A", "slimming_aphrodisiac"),
            ("B", "miracle_drug"),
            ("C", "medical_beauty"),
        )
    }


def decide(queue: LeadQueue, lead_id: str, steps: list[tuple[str, str]], start: int) -> None:
    for i, (action, text) in enumerate(steps):
        queue.apply(
            lead_id,
            action,
            "dwl" if action in ("return", "close") else "rev",
            reason=text if action != "close" else None,
            outcome=text if action == "close" else None,
            now=T0 + timedelta(hours=start, minutes=i),  # inside the claim lease
        )


def test_every_decision_writes_a_label_with_texts_findings_and_verdict(
    queue: LeadQueue, ids: dict[str, str], db: Database[dict[str, Any]]
) -> None:
    decide(
        queue,
        ids["A"],
        [("claim", ""), ("confirm", "证据充分"), ("refer", "移送属地"), ("return", "非本局管辖"),
         ("refer", "改送"), ("close", "已责令下架")],
        start=0,
    )  # fmt: skip
    decide(queue, ids["B"], [("dismiss", "误报"), ("reopen", "复核"), ("admonish", "约谈")], 10)
    decide(queue, ids["C"], [("police", "涉嫌犯罪")], 20)

    labels = list(LabelStore(db).iter())
    actions = [(x.lead_id, x.action) for x in labels]
    assert actions == [
        (ids["A"], "confirm"), (ids["A"], "refer"), (ids["A"], "return"), (ids["A"], "refer"),
        (ids["A"], "close"), (ids["B"], "dismiss"), (ids["B"], "reopen"), (ids["B"], "admonish"),
        (ids["C"], "police"),
    ]  # fmt: skip
    assert {x.action for x in labels} == {
        "confirm", "refer", "admonish", "police", "dismiss", "reopen", "close", "return"
    }  # fmt: skip
    verdict = {x.action: x.positive for x in labels}
    assert verdict["confirm"] and verdict["close"] and verdict["police"]
    assert verdict["dismiss"] is False
    assert verdict["reopen"] is None and verdict["return"] is None

    returned = labels[2]
    assert (returned.from_status, returned.to_status) == ("已移送", "已确认")
    assert returned.actor == "dwl" and returned.reason == "非本局管辖"
    assert returned.action_label == "退回移送" and returned.category == "slimming_aphrodisiac"
    assert returned.listings[0].description == "喝一周瘦八斤"
    assert returned.listings[0].title == "纤体速效茶" and returned.listings[0].truncated is False
    (found,) = returned.findings
    assert (found.platform, found.item_id) == ("demo_shop", "1")
    assert found.matched == ("瘦八斤",) and found.score == 0.9
    assert found.article == "《食品安全法》第七十三条"
    assert returned.run_ids == ("R1",) and returned.model_version is None
    assert labels[4].outcome == "已责令下架" and labels[4].reason is None

    police = labels[-1]
    assert police.listings[0].truncated and len(police.listings[0].description) == MAX_TEXT
    assert LONG.startswith(police.listings[0].description)

    # One label per audited decision, under the audit record's id; claims are no decision.
    audit_ids = {d["_id"] for d in db[AUDIT].find({"action": {"$ne": "claim"}})}
    assert {x.id for x in labels} == audit_ids
    # Stored and read back unchanged; ``since`` selects by decision time.
    assert [Label.from_doc(d) for d in db[LABELS].find().sort("at", 1)] == labels
    later = list(LabelStore(db).iter(since=T0 + timedelta(hours=10)))
    assert [x.lead_id for x in later] == [ids["B"]] * 3 + [ids["C"]]
    assert [x.action for x in LabelStore(db).for_lead(ids["C"])] == ["police"]


def test_a_refused_decision_writes_no_label(
    queue: LeadQueue, ids: dict[str, str], db: Database[dict[str, Any]]
) -> None:
    with pytest.raises(ValueError, match="不能执行“退回移送”"):
        queue.apply(ids["A"], "return", "dwl", reason="非本局管辖")
    assert db[LABELS].count_documents({}) == 0


def test_a_malformed_label_document_is_named(db: Database[dict[str, Any]]) -> None:
    with pytest.raises(LabelDocError, match=r"label 'X:1': field action is missing"):
        Label.from_doc({"_id": "X:1", "at": T0, "lead_id": "X", "version": 1})
    db[LABELS].insert_one({"_id": "Y:2", "at": T0, "lead_id": 5})
    with pytest.raises(LabelDocError, match="field lead_id: unexpected value 5"):
        list(LabelStore(db).iter())


def test_labels_export_writes_jsonl(
    monkeypatch: pytest.MonkeyPatch,
    mongo_uri: str,
    db: Database[dict[str, Any]],
    queue: LeadQueue,
    ids: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    decide(queue, ids["B"], [("dismiss", "误报"), ("reopen", "复核")], 0)
    decide(queue, ids["C"], [("police", "涉嫌犯罪")], 48)
    out = tmp_path / "out" / "labels.jsonl"
    assert cli_main.main(["labels", "export", "--out", str(out)]) == 0
    assert "（3 条）" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["action"] for r in rows] == ["dismiss", "reopen", "police"]
    assert rows[0]["id"] == f"{ids['B']}:2" and rows[0]["positive"] is False
    assert rows[0]["listings"][0]["description"] == "根治癌症，无效退款"
    assert rows[0]["findings"][0]["matched"] == ["根治癌症"]
    assert datetime.fromisoformat(rows[0]["at"]) == T0
    # --since is a day in Beijing time; without --out the lines go to standard output.
    assert cli_main.main(["labels", "export", "--since", "2026-05-03"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["action"] for line in lines] == ["police"]
    assert cli_main.main(["labels", "export", "--since", "2026-5-3"]) == 1
    assert "--since 2026-5-3" in capsys.readouterr().err
    assert cli_main.main(["labels", "export", "--out", str(tmp_path)]) == 1
    assert "目录" in capsys.readouterr().err


def test_leads_return_from_the_command_line_is_labelled(
    monkeypatch: pytest.MonkeyPatch,
    mongo_uri: str,
    db: Database[dict[str, Any]],
    queue: LeadQueue,
    ids: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    argv = ["leads", "return", ids["A"], "--by", "东乌兰旗局"]
    assert cli_main.main([*argv, "--reason", "非本局管辖"]) == 1  # not referred yet
    assert "不能执行“退回移送”" in capsys.readouterr().err
    decide(queue, ids["A"], [("confirm", "证据充分"), ("refer", "移送属地")], 0)
    assert cli_main.main(argv) == 1
    assert "须填写理由" in capsys.readouterr().err
    assert cli_main.main([*argv, "--reason", "非本局管辖"]) == 0
    assert "当前状态：已确认" in capsys.readouterr().out
    last = list(LabelStore(db).iter())[-1]
    assert (last.action, last.actor, last.reason) == ("return", "东乌兰旗局", "非本局管辖")
