"""The analysts' lexicon overlay: merging, the gate, hot reload, suggestions and the CLI."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from detectors.combine import ListingDetector
from detectors.config import ConfigError, Lexicon, Term, default_config_dir, merge_terms
from detectors.engine import Detector
from tiequan.cli.main import main
from tiequan.leads.labels import Label, LabelListing, LabelStore
from tiequan.models.gate import ModelsConfig
from tiequan.models.lexicon import (
    ADD,
    REMOVE,
    LexiconChange,
    LexiconStore,
    Overlay,
    TermSpec,
    rules_in_force,
)
from tiequan.models.lexicon_gate import LexiconRefused, apply_change
from tiequan.models.live import LiveModel
from tiequan.models.registry import ModelRecord, Registry
from tiequan.models.suggest import suggest
from tiequan.storage.store import WEB_AUDIT, utcnow
from tiequan.web.accounts import Accounts

GATE = ModelsConfig(1.0, 1.0, ("宣传内容合法",))
SLIM = "slimming_aphrodisiac"
TERM = "铁拳速纤灵"
TEXT = "本店热销铁拳速纤灵茶包，一盒三十包"
NEW = TermSpec(SLIM, TERM, "《广告法》第二十八条", "立案", 0.9)
PHRASE = "纤体魔方贴"


@pytest.fixture(scope="module")
def rules() -> Detector:
    return rules_in_force(Overlay())


def lexicon(terms: tuple[str, ...], exceptions: tuple[str, ...] = ()) -> Lexicon:
    made = tuple(Term(t, 0.6, "《广告法》第十七条", "立案", t) for t in terms)
    return Lexicon("miracle_drug", "宣称{claims}，违反{article}", made, exceptions)


def test_merge_terms_adds_removes_and_leaves_its_inputs_alone() -> None:
    base = lexicon(("神医", "包治"), ("神医馆",))
    added = TermSpec(
        "miracle_drug", "秒好", "《广告法》第十七条", "立案", 0.8, ("秒愈",), ("秒好评",)
    )
    (merged,) = merge_terms([base], [added.extra()], [("miracle_drug", "包 治")])
    assert [(t.term, t.label, t.weight) for t in merged.terms] == [
        ("神医", "神医", 0.6), ("秒好", "秒好", 0.8), ("秒愈", "秒好", 0.8)
    ]  # fmt: skip
    assert merged.exceptions == ("神医馆", "秒好评")
    assert [t.term for t in base.terms] == ["神医", "包治"] and base.exceptions == ("神医馆",)
    with pytest.raises(ConfigError, match="nope"):
        merge_terms([base], [TermSpec("nope", "词", weight=0.5).extra()])


def test_the_overlay_folds_changes_in_version_order(db: Database[dict[str, Any]]) -> None:
    store = LexiconStore(db)
    at = utcnow()
    store.record(LexiconChange(1, ADD, NEW, "ana", at, "新茶名"))
    store.record(LexiconChange(2, REMOVE, TermSpec("miracle_drug", "神医"), "ana", at, "误报"))
    store.record(LexiconChange(3, REMOVE, TermSpec(SLIM, TERM), "adm", at, "撤回"))
    overlay = store.overlay()
    assert store.version() == overlay.version == 3
    assert not overlay.added and overlay.removals() == [("miracle_drug", "神医")]
    with pytest.raises(ValueError, match="版本 3"):
        store.record(LexiconChange(3, ADD, NEW, "adm", at, "同时提交"))
    assert [c.version for c in store.history()][:1] == [3]


def test_a_lexicon_term_added_by_an_analyst_is_matched_by_the_next_sweep_without_a_restart(
    db: Database[dict[str, Any]], live_model: ModelRecord
) -> None:
    registry = Registry(db, Path(os.environ["TIEQUAN_MODEL_DIR"]))
    now = [0.0]
    running = LiveModel(registry, recheck_seconds=10.0, clock=lambda: now[0])
    assert running.current().detect(TEXT) == []
    change, judgement = apply_change(
        LexiconStore(db), running.base, ADD, NEW, by="ana", reason="新出现的减肥茶名", config=GATE
    )
    assert change.version == 1 and judgement.refusals == [] and "F1" in change.figures
    now[0] = 9.0
    assert running.current().detect(TEXT) == []  # not yet re-checked
    now[0] = 10.0
    found = running.current().detect(TEXT)
    assert [f.category for f in found] == [SLIM] and TERM in found[0].matched
    assert running.reloads == 1 and running.current().model_version_ == live_model.version
    next_sweep = LiveModel(registry)
    assert [f.category for f in next_sweep.current().detect(TEXT)] == [SLIM]


def test_a_change_that_makes_the_detector_worse_is_refused_naming_category_and_figures(
    db: Database[dict[str, Any]], trained_model: Any
) -> None:
    base = ListingDetector.from_config(default_config_dir())
    store = LexiconStore(db)
    noisy = TermSpec(SLIM, "的", "《广告法》第二十八条", "立案", 1.0)
    with pytest.raises(LexiconRefused) as refused:
        apply_change(store, base, ADD, noisy, by="ana", reason="试试", config=GATE)
    message = str(refused.value)
    assert f"{SLIM} 类 F1：候选" in message and "允许 1" in message
    assert any(r.what == SLIM for r in refused.value.judgement.refusals)
    assert store.version() == 0 and store.history() == []


def label(lead: str, action: str, text: str, days_ago: float, reason: str | None = None) -> Label:
    at = utcnow() - timedelta(days=days_ago)
    positive = {"confirm": True, "dismiss": False}[action]
    return Label(
        id=f"{lead}:{action}", lead_id=lead, version=1, action=action, action_label=action,
        from_status="a", to_status="b", category=SLIM, positive=positive,
        listings=(LabelListing("p", lead, "", text, ""),), findings=(), model_version=None,
        run_ids=(), source="crawler", actor="rev", reason=reason, outcome=None, at=at,
    )  # fmt: skip


def test_suggest_proposes_a_phrase_the_confirmed_leads_share_and_the_lexicon_lacks(
    db: Database[dict[str, Any]], rules: Detector
) -> None:
    confirmed = [
        "夏季新款纤体魔方贴，贴在肚子上就行，包邮",
        "纤体魔方贴 一盒十片 办公室必备",
        "网红同款纤体魔方贴，闺蜜都在用",
    ]
    assert all(SLIM not in {f.category for f in rules.detect(t)} for t in confirmed)
    labels = [label(f"L{i}", "confirm", t, 1) for i, t in enumerate(confirmed)]
    labels += [
        label("D1", "dismiss", "瑜伽服运动套装，夏季新款，包邮", 1, "宣传内容合法"),
        label("D2", "dismiss", "三阶魔方 益智玩具 办公室解压", 2, "宣传内容合法"),
        label("OLD", "confirm", "纤体魔方贴老款清仓", 400),
    ]
    LabelStore(db).record_many(labels)
    background = ["儿童卡通贴纸一盒十片", "夏季新款连衣裙包邮", "今天天气很好，去公园散步"]
    since = utcnow() - timedelta(days=90)
    found = suggest(LabelStore(db).iter(), rules, background, since=since)
    top = found[0]
    assert (top.category, top.phrase, top.positives, top.positive_total) == (SLIM, PHRASE, 3, 3)
    assert {e.lead_id for e in top.examples} == {"L0", "L1", "L2"}
    assert all(PHRASE in e.snippet for e in top.examples)
    assert all(PHRASE not in s.phrase and s.phrase not in PHRASE for s in found[1:])
    LexiconStore(db).reject(TermSpec(SLIM, PHRASE), by="ana", reason="商品名，不是宣称")
    again = suggest(
        LabelStore(db).iter(), rules, background, since=since,
        rejected=LexiconStore(db).rejected(),
    )  # fmt: skip
    assert all(s.phrase not in PHRASE and PHRASE not in s.phrase for s in again), again


@pytest.fixture
def cli_db(
    db: Database[dict[str, Any]], live_model_env: ModelRecord, monkeypatch: pytest.MonkeyPatch
) -> Database[dict[str, Any]]:
    accounts = Accounts(db)
    accounts.add("ana", "analyst", "correct horse battery")
    accounts.add("rev", "reviewer", "correct horse battery")
    return db


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        (["--category", "nope", "--term", "某词"], "category", "'nope'"),
        (["--category", "miracle_drug", "--term", " ，"], "term", "'，'"),
        (["--category", "miracle_drug", "--term", "包治百病"], "term", "'包治百病'"),
        (["--category", "miracle_drug", "--term", "秒好", "--weight", "2"], "weight", "2.0"),
        (["--category", "miracle_drug", "--term", "秒好", "--by", "rev"], "by", "'rev'"),
    ],
)
def test_lexicon_add_errors_are_one_line_naming_field_and_value(
    cli_db: Database[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    field: str,
    value: str,
) -> None:
    by = [] if "--by" in args else ["--by", "ana"]
    assert main(["lexicon", "add", *args, *by, "--reason", "测试"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"字段 {field} " in err and value in err, err
    assert LexiconStore(cli_db).version() == 0


def test_lexicon_cli_adds_through_the_gate_tests_lists_and_shows_history(
    cli_db: Database[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    add = ["lexicon", "add", "--category", SLIM, "--term", TERM, "--weight", "0.9",
           "--by", "ana", "--reason", "新出现的减肥茶名"]  # fmt: skip
    assert main(add) == 0
    assert "词库版本 1：已新增" in capsys.readouterr().out
    assert main(["lexicon", "test", TEXT]) == 0
    out = capsys.readouterr().out
    assert SLIM in out and TERM in out
    assert main(["lexicon", "list"]) == 0
    assert f"+ {SLIM}\t{TERM}\t0.9" in capsys.readouterr().out
    assert main(["lexicon", "history"]) == 0
    assert "（ana：新出现的减肥茶名）" in capsys.readouterr().out
    audit = cli_db[WEB_AUDIT].find_one({"action": "lexicon_add"})
    assert audit is not None and audit["detail"]["term"] == TERM


def test_lexicon_cli_suggests_shows_examples_and_forgets_a_rejected_phrase(
    cli_db: Database[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    texts = ["夏季新款纤体魔方贴，贴在肚子上就行", "纤体魔方贴 一盒十片", "网红纤体魔方贴"]
    LabelStore(cli_db).record_many([label(f"L{i}", "confirm", t, 1) for i, t in enumerate(texts)])
    assert main(["lexicon", "suggest", "--days", "30"]) == 0
    out = capsys.readouterr().out
    assert f"{SLIM}\t“{PHRASE}”" in out and "    L1：纤体魔方贴 一盒十片" in out
    reject = ["lexicon", "suggest", "--reject", PHRASE, "--category", SLIM, "--by", "ana"]
    assert main(reject) == 0
    assert "已记录不采纳" in capsys.readouterr().out
    assert main(["lexicon", "suggest", "--days", "30"]) == 0
    assert PHRASE not in capsys.readouterr().out
    assert main(["lexicon", "history"]) == 0
    assert f"不采纳建议 {SLIM} “{PHRASE}”" in capsys.readouterr().out
