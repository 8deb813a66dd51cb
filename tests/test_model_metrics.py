from __future__ import annotations

import pytest

from detectors.dataset import Example
from tiequan.models.metrics import Counts, Scores, score


def test_counts_give_precision_recall_and_f1() -> None:
    c = Counts(tp=3, fp=1, fn=2)
    assert c.precision == pytest.approx(0.75)
    assert c.recall == pytest.approx(0.6)
    assert c.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert Counts().f1 == 0.0


def test_score_counts_hits_misses_and_false_alarms_by_group() -> None:
    examples = [
        Example("a", ("miracle_drug",), group="violation"),
        Example("b", ("miracle_drug",), group="violation"),
        Example("c", (), group="hard_negative"),
        Example("d", (), group="compliant"),
    ]
    flagged = {"a": {"miracle_drug"}, "c": {"miracle_drug", "real_estate"}, "d": set()}
    result = score(lambda e: flagged.get(e.text, set()), examples)
    assert result.counts["miracle_drug"] == Counts(tp=1, fp=1, fn=1)
    assert result.counts["real_estate"] == Counts(fp=1)
    assert result.fpr(["hard_negative"]) == 1.0
    assert result.fpr(["compliant"]) == 0.0
    assert result.fpr() == 0.5
    assert [e.text for e, _ in result.misses] == ["b"]
    assert Scores.from_json(result.to_json()).counts == result.counts
