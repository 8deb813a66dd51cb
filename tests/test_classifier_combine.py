"""Rules + classifier combined: kept rule spans, model-only findings, the safe model cache."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from detectors import Detector
from detectors.combine import STACK_FOLDS, ListingDetector, source_fold
from detectors.config import default_config_dir
from detectors.dataset import Example, read_examples
from detectors.model_store import build
from tiequan.corpus.build import read_split

CORPUS = Path(__file__).resolve().parents[1] / "config" / "corpus"
REFERENCE = CORPUS.parent / "reference"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def detector(home: Path) -> ListingDetector:
    # This module tests the cache itself, so it trains into its own home.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TIEQUAN_HOME", str(home))
        mp.delenv("TIEQUAN_MODEL_DIR", raising=False)
        return ListingDetector.from_config()


def test_rule_findings_keep_their_spans_and_article(detector: ListingDetector) -> None:
    text = "荷叶纤体茶，减肥效果明显，一个月瘦二十斤。"
    rules = {f.category: f for f in Detector.from_config(min_score=0.0).detect(text)}
    combined = {f.category: f for f in detector.detect(text)}
    assert "slimming_aphrodisiac" in rules and "slimming_aphrodisiac" in combined
    kept, rule = combined["slimming_aphrodisiac"], rules["slimming_aphrodisiac"]
    assert kept.spans == rule.spans and kept.article == rule.article
    assert kept.explanation == rule.explanation and 0.5 <= kept.score <= 1.0


def test_model_only_findings_explain_themselves(detector: ListingDetector) -> None:
    rules = Detector.from_config(min_score=0.0)
    found = []
    texts = [e.text for e in read_examples(REFERENCE / "dev.jsonl")]
    texts += [r["text"] for r in read_split(CORPUS / "valid.jsonl")]
    for text in texts:
        ruled = {f.category for f in rules.detect(text)}
        found += [(text, f) for f in detector.detect(text) if f.category not in ruled]
    assert found, "the classifier should add findings the rules miss"
    for text, finding in found:
        assert "模型综合评分" in finding.explanation and "涉嫌违反《" in finding.explanation
        assert finding.article.startswith("《")
        for start, end in finding.spans:
            assert text[start:end] and text[start:end] in finding.explanation


def test_clean_and_warning_texts_give_no_findings(detector: ListingDetector) -> None:
    assert detector.detect("不锈钢保温杯，下单后四十八小时内发货，全国包邮。") == []
    assert detector.detect("") == []


def test_cache_holds_json_and_npz_only_and_reloads_the_same_model(
    detector: ListingDetector, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [p for p in (home / "models").rglob("*") if p.is_file()]
    assert files and {p.suffix for p in files} == {".json", ".npz"}
    monkeypatch.setenv("TIEQUAN_HOME", str(home))
    monkeypatch.delenv("TIEQUAN_MODEL_DIR", raising=False)
    reloaded = ListingDetector.from_config()
    assert not hasattr(reloaded.model, "pipeline_")  # came from the cache, not retrained
    for record in read_split(CORPUS / "valid.jsonl")[:60]:
        first = [f.to_json() for f in detector.detect(record["text"])]
        assert [f.to_json() for f in reloaded.detect(record["text"])] == first


def test_folds_keep_each_source_whole() -> None:
    examples = read_examples(REFERENCE / "train.jsonl")
    folds: dict[str, set[int]] = {}
    for example in examples:
        folds.setdefault(example.source, set()).add(source_fold(example, STACK_FOLDS))
    assert all(len(f) == 1 for f in folds.values())
    sizes = Counter(source_fold(e, STACK_FOLDS) for e in examples)
    assert len(sizes) == STACK_FOLDS and min(sizes.values()) > len(examples) / (3 * STACK_FOLDS)


def test_stacker_rows_come_from_a_classifier_that_never_saw_their_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    synthetic = read_examples(CORPUS / "train.jsonl")[:150]
    real = read_examples(REFERENCE / "train.jsonl")[::6]
    detector = build(ListingDetector, default_config_dir())
    fitted_on: list[set[str]] = []
    scored: list[tuple[set[str], set[str]]] = []
    fit_classifier, stack_rows = detector._fit_classifier, detector._stack_rows

    def spy_fit(train: Sequence[Example], wording: Sequence[Example]) -> None:
        fitted_on.append({e.source for e in wording})
        fit_classifier(train, wording)

    def spy_rows(examples: Sequence[Example], *lists: Any) -> None:
        scored.append(({e.source for e in examples}, fitted_on[-1]))
        stack_rows(examples, *lists)

    monkeypatch.setattr(detector, "_fit_classifier", spy_fit)
    monkeypatch.setattr(detector, "_stack_rows", spy_rows)
    detector.fit(synthetic, real, folds=3)
    assert len(scored) == 3 and all(held and not held & seen for held, seen in scored)
    assert set().union(*(held for held, _ in scored)) == {e.source for e in real}
    assert fitted_on[-1] == {e.source for e in real}  # the final classifier reads all of it
    assert detector.detect("三天瘦十斤，不反弹，无效退款")


def test_cross_fitting_needs_two_folds() -> None:
    detector = build(ListingDetector, default_config_dir())
    with pytest.raises(ValueError, match="folds: 1"):
        detector.fit([], read_examples(REFERENCE / "train.jsonl")[:10], folds=1)


def test_findings_carry_the_rule_and_model_signals_behind_their_score(
    detector: ListingDetector,
) -> None:
    text = "荷叶纤体茶，减肥效果明显，一个月瘦二十斤。"
    classes = list(detector.scorer_.classes)
    thresholds = dict(zip(classes, detector.stacker_.arrays(classes)[3], strict=True))
    ruled = {f.category: f.score for f in detector.rules.analyse(text, min_score=0.0).findings}
    findings = detector.detect(text)
    assert findings
    for finding in findings:
        signals = finding.signals
        assert signals is not None, finding.category
        assert signals.threshold == float(thresholds[finding.category]) <= finding.score
        assert signals.rules == ruled.get(finding.category, 0.0)
        assert 0.0 < signals.model <= 1.0
    # The CLI's format is unchanged: the signals stay out of to_json.
    assert all("signals" not in f.to_json() for f in findings)
