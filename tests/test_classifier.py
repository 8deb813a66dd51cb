"""The trained claim classifier: tokenizer, multi-label pipeline, sklearn conventions."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from detectors.classifier import ClaimClassifier
from detectors.model_linear import LinearScorer
from detectors.normalize import normalize
from detectors.tokenize import JiebaWords
from tiequan.corpus.build import read_split

CORPUS = Path(__file__).resolve().parents[1] / "config" / "corpus"


@pytest.fixture(scope="module")
def sample() -> tuple[list[str], list[list[str]]]:
    # Every third training example keeps all categories and groups, and fits in seconds.
    records = read_split(CORPUS / "train.jsonl")[::3]
    return [r["text"] for r in records], [r["labels"] for r in records]


@pytest.fixture(scope="module")
def fitted(sample: tuple[list[str], list[list[str]]]) -> ClaimClassifier:
    return ClaimClassifier().fit(*sample)


def test_fitted_classifier_pickles_with_its_user_words(
    sample: tuple[list[str], list[list[str]]],
) -> None:
    texts, labels = sample
    model = ClaimClassifier(min_df=1, user_words=("闪电燃脂膏",)).fit(texts[:200], labels[:200])
    tokenizer = model.pipeline_.named_steps["features"].transformer_list[0][1].tokenizer
    assert tokenizer == JiebaWords(["闪电燃脂膏"])
    copy = pickle.loads(pickle.dumps(model))
    assert np.array_equal(copy.predict_proba(texts[:20]), model.predict_proba(texts[:20]))
    assert "闪电燃脂膏" in model.compile().words.terms("新品闪电燃脂膏到货")


def test_init_only_stores_parameters_and_clone_works() -> None:
    model = ClaimClassifier(C=2.0, min_df=1)
    assert set(vars(model)) == set(model.get_params())
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model


def test_learned_attributes_end_in_underscore(fitted: ClaimClassifier) -> None:
    learned = set(vars(fitted)) - set(fitted.get_params())
    assert learned and all(name.endswith("_") for name in learned)
    assert clone(fitted).get_params() == fitted.get_params()
    assert not hasattr(clone(fitted), "pipeline_")


def test_fits_and_predicts_multiple_labels(
    fitted: ClaimClassifier, sample: tuple[list[str], list[list[str]]]
) -> None:
    texts, labels = sample
    assert "elevator_overdue" not in fitted.classes_  # no examples, never fires
    proba = fitted.predict_proba(texts[:20])
    assert proba.shape == (20, len(fitted.classes_))
    assert ((proba >= 0) & (proba <= 1)).all()
    double = [t for t, row in zip(texts, labels, strict=True) if len(row) == 2]
    predicted = fitted.predict_labels(double)
    assert sum(len(row) == 2 for row in predicted) >= len(double) // 2
    benign = fitted.predict_labels(["不锈钢保温杯，包装结实，快递包邮。"])
    assert benign == [[]]


def test_rejects_unknown_labels() -> None:
    with pytest.raises(ValueError, match="no_such_category"):
        ClaimClassifier().fit(["文本"], [["no_such_category"]])


def test_compiled_scorer_matches_the_pipeline(fitted: ClaimClassifier, tmp_path: Path) -> None:
    texts = ["三天瘦十斤，躺着就能瘦", "高仿大牌包，一比一还原", "今日份的大米很新鲜"]
    scorer = fitted.compile()
    expected = fitted.predict_proba(texts)
    got = np.array([scorer.proba(normalize(t).text) for t in texts])
    assert np.allclose(got, expected, atol=1e-9)
    scorer.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scorer.json", "scorer.npz"]
    json.loads((tmp_path / "scorer.json").read_text("utf-8"))
    loaded = LinearScorer.load(tmp_path)
    assert loaded.words.tokenizer == scorer.words.tokenizer  # the user words are saved
    assert np.allclose([loaded.proba(normalize(t).text) for t in texts], expected, atol=1e-9)


def test_training_is_deterministic(
    fitted: ClaimClassifier, sample: tuple[list[str], list[list[str]]]
) -> None:
    again = ClaimClassifier().fit(*sample)
    texts = sample[0][:50]
    assert np.array_equal(again.predict_proba(texts), fitted.predict_proba(texts))
