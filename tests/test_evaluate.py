"""`tiequan evaluate`: figures, curves, tables and the report on a small fixed set, the
held-out decisions, the command, and the real detector once."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pymongo.database import Database

from detectors.base import ListingContext
from detectors.dataset import Example
from tests.conftest import TrainedModel
from tiequan.cli import evaluate_cmd
from tiequan.cli import main as cli_main
from tiequan.leads.labels import Label, LabelListing, LabelStore, polarity
from tiequan.models.evaluate import (
    NONE,
    EvalSet,
    Model,
    TrainingSource,
    evaluate,
    file_sources,
    from_detector,
    from_predict,
    holdout_set,
    label_examples,
    reference_set,
)
from tiequan.models.metrics import score
from tiequan.models.report import HTML_NAME, JSON_NAME, write_report

SLIM, DRUG, ESTATE = "slimming_aphrodisiac", "miracle_drug", "real_estate"
CATEGORIES = (SLIM, DRUG, ESTATE)
THRESHOLDS = {SLIM: 0.5, DRUG: 0.6, ESTATE: 0.5}
# Each example's score per category, as a detector with evidence would give it.
FIXED: list[tuple[Example, dict[str, float]]] = [
    (Example("一周瘦十斤", (SLIM,), group="violation", id="v1"), {SLIM: 0.9}),
    (Example("燃脂神器", (SLIM,), group="violation", id="v2"), {SLIM: 0.4}),
    (Example("根治糖尿病", (DRUG,), group="violation", id="v3"), {DRUG: 0.65, SLIM: 0.2}),
    (Example("包治百病 学区房", (DRUG, ESTATE), group="violation", id="v4"), {DRUG: 0.55}),
    (Example("减肥须遵医嘱", (), group="hard_negative", id="n1"), {SLIM: 0.7}),
    (Example("优质大米", (), group="compliant", id="n2"), {}),
    (Example("降糖药说明书", (), group="hard_negative", id="n3"), {DRUG: 0.3}),
]
EXAMPLES = tuple(e for e, _ in FIXED)
SCORES = {e.id: s for e, s in FIXED}
NAMES = {SLIM: "减肥壮阳", DRUG: "神医神药", ESTATE: "房地产"}
T0 = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def fake(scores: Mapping[str, Mapping[str, float]] = SCORES, version: str = "fake-1") -> Model:
    return Model(version, lambda e: scores[e.id], THRESHOLDS)


def predict(e: Example) -> set[str]:
    return {c for c, s in SCORES[e.id].items() if s >= THRESHOLDS[c]}


def fixed_evaluation(**models: Model) -> Any:
    sets = [EvalSet("reference", EXAMPLES), EvalSet("holdout", (), "没有数据")]
    return evaluate(models or {"live": fake()}, sets, categories=CATEGORIES, now=T0)


def test_json_figures_are_those_of_metrics_score() -> None:
    result = fixed_evaluation().to_json()["sets"]["reference"]["results"]["live"]
    expected = score(predict, EXAMPLES, CATEGORIES)
    assert result["scores"] == expected.to_json()
    for category in CATEGORIES:
        counts, got = expected.counts[category], result["categories"][category]
        assert (got["precision"], got["recall"], got["f1"]) == (
            counts.precision,
            counts.recall,
            counts.f1,
        )
    # By hand: slimming found in v1 and (falsely) n1, missed in v2.
    assert {k: result["categories"][SLIM][k] for k in ("tp", "fp", "fn")} == {
        "tp": 1,
        "fp": 1,
        "fn": 1,
    }
    assert result["false_alarm_rate"] == pytest.approx(1 / 3)
    assert result["hard_negative_fpr"] == pytest.approx(1 / 2)
    assert result["negatives"]["hard_negative"] == {"examples": 2, "flagged": 1, "rate": 0.5}


def test_threshold_table_marks_the_current_threshold_and_agrees_with_the_counts() -> None:
    drug = fixed_evaluation().to_json()["sets"]["reference"]["results"]["live"]["categories"][DRUG]
    current = [row for row in drug["thresholds"] if row["current"]]
    assert [row["threshold"] for row in current] == [0.6]
    assert {k: current[0][k] for k in ("tp", "fp", "fn")} == {
        k: drug[k] for k in ("tp", "fp", "fn")
    }
    by_threshold = {row["threshold"]: row for row in drug["thresholds"]}
    assert (by_threshold[0.5]["tp"], by_threshold[0.5]["fp"]) == (2, 0)  # v4 at 0.55 counts
    assert (by_threshold[0.3]["tp"], by_threshold[0.3]["fp"]) == (2, 1)  # n3 at 0.3 too
    assert by_threshold[0.7]["tp"] == 0


def test_precision_recall_curve_runs_from_the_highest_threshold_down() -> None:
    slim = fixed_evaluation().to_json()["sets"]["reference"]["results"]["live"]["categories"][SLIM]
    points = [(p["threshold"], p["precision"], p["recall"]) for p in slim["curve"]]
    assert points == [(0.9, 1.0, 0.5), (0.7, 0.5, 0.5), (0.4, 0.6667, 1.0), (0.2, 0.5, 1.0)]
    estate = fixed_evaluation().to_json()["sets"]["reference"]["results"]["live"]
    assert estate["categories"][ESTATE]["curve"] == []  # a positive, but never any evidence


def test_confusion_matrix_counts_gold_against_predicted_with_none() -> None:
    evaluation = fixed_evaluation()
    confusion = evaluation.to_json()["sets"]["reference"]["results"]["live"]["confusion"]
    labels, matrix = confusion["labels"], confusion["matrix"]
    assert labels == [*CATEGORIES, NONE]
    cell = {(labels[r], labels[c]): v for r, row in enumerate(matrix) for c, v in enumerate(row)}
    assert cell[SLIM, SLIM] == 1 and cell[SLIM, NONE] == 1  # v1 found, v2 missed
    assert cell[DRUG, DRUG] == 1 and cell[DRUG, NONE] == 1  # v3 found; v4 at 0.55 < 0.6
    assert cell[ESTATE, NONE] == 1
    assert cell[NONE, SLIM] == 1 and cell[NONE, NONE] == 2  # n1 flagged; n2, n3 not
    assert sum(map(sum, matrix)) == 8  # v4 has two gold categories


def test_model_card_names_the_weakest_categories_and_the_noisiest_groups() -> None:
    result = fixed_evaluation().sets[0].results["live"]
    # Ties (recall 0.5, two violations each) keep the categories' order.
    assert [c for c, _ in result.weak_categories()] == [ESTATE, SLIM, DRUG]
    assert result.alarm_groups() == [("hard_negative", 1, 2)]


def test_a_prediction_function_alone_is_scored_the_same() -> None:
    model = from_predict(predict, "rules-only")
    result = evaluate({"p": model}, [EvalSet("reference", EXAMPLES)], categories=CATEGORIES)
    assert (
        result.sets[0].results["p"].scores.to_json()
        == score(predict, EXAMPLES, CATEGORIES).to_json()
    )


def test_training_sources_count_records_and_hash_the_file(tmp_path: Path) -> None:
    path = tmp_path / "corpus" / "train.jsonl"
    path.parent.mkdir()
    path.write_bytes(b'{"id": 1}\n\n{"id": 2}\n')
    [source] = file_sources([path])
    assert source == TrainingSource(
        "corpus/train.jsonl", 2, hashlib.sha256(path.read_bytes()).hexdigest()
    )


def make_label(
    lead: str, action: str, at: datetime, category: str | None = SLIM, text: str = "三天瘦十斤"
) -> Label:
    listing = LabelListing("shop", f"item-{lead}", f"标题{lead}", text, text)
    return Label(
        id=f"{lead}:{at.minute}", lead_id=lead, version=at.minute, action=action,
        action_label=action, from_status="研判中", to_status="已确认", category=category,
        positive=polarity(action), listings=(listing,), findings=(), model_version=None,
        run_ids=(), source=None, actor="rev", reason=None, outcome=None, at=at,
    )  # fmt: skip


HOLDOUT_LABELS = [
    make_label("L0", "confirm", T0 - timedelta(days=30)),  # before the cut-off
    make_label("L1", "confirm", T0),
    make_label("L2", "dismiss", T0 + timedelta(minutes=1), DRUG, "药品说明书"),
    make_label("L3", "dismiss", T0 + timedelta(minutes=2)),
    make_label("L3", "reopen", T0 + timedelta(minutes=3)),  # no verdict: the dismissal stands
    make_label("L4", "confirm", T0 + timedelta(minutes=4), None),  # no category
]


def test_held_out_decisions_are_positives_when_confirmed_and_negatives_when_dismissed() -> None:
    held = holdout_set(HOLDOUT_LABELS, T0 - timedelta(days=1))
    assert [(e.id, e.labels, e.group) for e in held.examples] == [
        ("L1:shop:item-L1", (SLIM,), "confirmed"),
        ("L2:shop:item-L2", (), "dismissed"),
        ("L3:shop:item-L3", (), "dismissed"),
    ]
    assert held.examples[0].text == "标题L1\n三天瘦十斤"  # the same description and text once
    assert held.examples[0].context == ListingContext()
    assert label_examples([]) == []
    empty = holdout_set(HOLDOUT_LABELS, T0 + timedelta(days=1))
    assert empty.examples == () and "2026-11-21 以来没有" in empty.note


def test_report_is_autoescaped_chinese_html_with_embedded_plots(tmp_path: Path) -> None:
    hostile = '<img src=x onerror="alert(1)">'
    trained = (TrainingSource("corpus/train.jsonl", 2278, "ab" * 32),)
    candidate = dataclasses.replace(
        fake({**SCORES, "v2": {SLIM: 0.8}}, version=hostile), training=trained
    )
    evaluation = fixed_evaluation(candidate=candidate, live=fake())
    html_path = write_report(evaluation, tmp_path, NAMES)
    html = html_path.read_text(encoding="utf-8")
    assert html_path.name == HTML_NAME
    assert hostile not in html and "&lt;img src=x onerror=" in html
    assert "模型评估报告" in html and "神医神药" in html and "（当前）" in html
    assert "本数据集为空：没有数据" in html
    assert 'corpus/train.jsonl</td><td>2278</td><td class="mono">abababababab<' in html
    assert "召回率最低的类别为房地产（0.000，违法样本 1 条）" in html  # the model card
    assert "+0.300" in html  # candidate − live F1 on slimming: 0.8 − 0.5
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 4  # F1 bars, PR curves, one confusion matrix per model
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            assert image.format == "PNG" and image.width > 200
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    document = json.loads((tmp_path / JSON_NAME).read_text(encoding="utf-8"))
    assert document["models"]["candidate"]["version"] == hostile
    assert set(document["sets"]) == {"reference", "holdout"}
    holdout = document["sets"]["holdout"]
    assert (holdout["examples"], holdout["positives"], holdout["note"]) == (0, 0, "没有数据")


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """resolve_model gives the fixed-score model; every example outside FIXED scores nothing."""
    asked: list[str] = []

    def resolve(name: str) -> Model:
        asked.append(name)
        if name not in ("live", "v2"):
            raise ValueError(f"未知的模型：{name}")
        return Model(name, lambda e: SCORES.get(e.id, {}), THRESHOLDS)

    monkeypatch.setattr(evaluate_cmd, "resolve_model", resolve)
    return asked


def test_command_reads_the_held_out_decisions_and_compares_with_live(
    db: Database[dict[str, Any]],
    mongo_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fake_models: list[str],
) -> None:
    LabelStore(db).record_many(HOLDOUT_LABELS)
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    argv = ["evaluate", "v2", "--out", str(tmp_path), "--json", "--holdout-since", "2026-11-01"]
    assert cli_main.main(argv) == 0
    assert fake_models == ["v2", "live"]
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert f"评估报告已生成：{tmp_path / HTML_NAME}" in captured.err
    assert list(document["models"]) == ["v2", "live"]
    assert document["holdout_since"] == "2026-10-31T16:00:00+00:00"  # Beijing midnight
    assert document["sets"]["holdout"]["examples"] == 3
    assert document["sets"]["reference"]["examples"] > 1000
    assert (tmp_path / HTML_NAME).is_file()
    assert cli_main.main(["evaluate", "nope", "--out", str(tmp_path)]) == 2
    assert "未知的模型：nope" in capsys.readouterr().err
    assert cli_main.main(["evaluate", "--holdout-since", "2026-11"]) == 2
    assert "--holdout-since 2026-11" in capsys.readouterr().err


def test_command_reports_the_held_out_set_empty_without_a_database(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    fake_models: list[str],
) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300")
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path))
    assert cli_main.main(["evaluate"]) == 0
    out = capsys.readouterr().out
    assert "近期研判决定（留出集）：无样本（数据库不可用" in out
    assert "真实世界参考集（封存的测试部分）：live，样本 " in out
    [report] = (tmp_path / "evaluation").glob(f"live-*/{JSON_NAME}")
    holdout = json.loads(report.read_text(encoding="utf-8"))["sets"]["holdout"]
    assert holdout["examples"] == 0 and holdout["note"].startswith("数据库不可用")


def test_the_real_detector_scores_as_its_findings() -> None:
    from detectors.combine import ListingDetector
    from detectors.config import default_config_dir

    detector = ListingDetector.from_config()
    examples = reference_set(default_config_dir()).examples[::4]
    result = evaluate({"live": from_detector(detector)}, [EvalSet("reference", examples)])
    found = score(lambda e: {f.category for f in detector.detect(e.text, context=e.context)},
                  examples)  # fmt: skip
    figures = result.sets[0].results["live"]
    assert figures.scores.to_json() == found.to_json()
    assert sum(c.tp for c in found.counts.values()) > 50  # the detector does find things
    for category, cat in figures.categories.items():
        assert cat.threshold == detector.stacker_.thresholds.get(category, cat.threshold)
        if cat.counts.tp:
            assert cat.curve and cat.curve[0][0] >= cat.curve[-1][0]


def test_a_model_is_resolved_from_the_registry_by_alias_or_version(
    db: Database[dict[str, Any]],
    mongo_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    trained_model: TrainedModel,
) -> None:
    record = trained_model.promote_in(db)
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    live = evaluate_cmd.resolve_model("live")
    assert live.version == record.version == evaluate_cmd.resolve_model(record.version).version
    assert {s.name for s in live.training} == {e.source for e in record.manifest}
    assert sum(s.examples for s in live.training) == len(record.manifest)
    with pytest.raises(ValueError, match="candidate"):
        evaluate_cmd.resolve_model("candidate")
