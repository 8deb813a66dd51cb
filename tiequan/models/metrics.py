"""Detection quality on labelled examples: per-category counts, precision, recall, F1 and
the false-alarm rate on non-violations, by negative group.

One scorer for the benchmark (bench/quality.py), ``tiequan evaluate`` and the promotion gate,
so that the figure a gate compares is the figure a report shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from detectors.dataset import Example
from tiequan.corpus.reference import ONLINE_CATEGORIES

Predict = Callable[[Example], set[str]]


@dataclass(frozen=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def support(self) -> int:
        return self.tp + self.fn

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


@dataclass
class Scores:
    """What a predictor got right and wrong on one set of examples."""

    counts: dict[str, Counts] = field(default_factory=dict)
    negatives: Counter[str] = field(default_factory=Counter)  # group: examples
    alarms: Counter[str] = field(default_factory=Counter)  # group: flagged examples
    misses: list[tuple[Example, set[str]]] = field(default_factory=list)
    false_alarms: list[tuple[Example, set[str]]] = field(default_factory=list)

    def micro(self, categories: Iterable[str]) -> Counts:
        total = Counts()
        for category in categories:
            total += self.counts.get(category, Counts())
        return total

    def prf(self, categories: Iterable[str]) -> tuple[float, float, float]:
        c = self.micro(categories)
        return c.precision, c.recall, c.f1

    def fpr(self, groups: Sequence[str] | None = None) -> float:
        """Share of the non-violations in ``groups`` (all groups when None) flagged at all."""
        keys = list(self.negatives) if groups is None else list(groups)
        total = sum(self.negatives[k] for k in keys)
        return sum(self.alarms[k] for k in keys) / total if total else 0.0

    def to_json(self) -> dict[str, Any]:
        """The figures (not the examples) as plain JSON, as a model record stores them."""
        return {
            "categories": {
                c: {"tp": n.tp, "fp": n.fp, "fn": n.fn} for c, n in sorted(self.counts.items())
            },
            "negatives": dict(sorted(self.negatives.items())),
            "alarms": dict(sorted(self.alarms.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scores:
        return cls(
            counts={
                str(c): Counts(int(v["tp"]), int(v["fp"]), int(v["fn"]))
                for c, v in data.get("categories", {}).items()
            },
            negatives=Counter({str(k): int(v) for k, v in data.get("negatives", {}).items()}),
            alarms=Counter({str(k): int(v) for k, v in data.get("alarms", {}).items()}),
        )


def score(
    predict: Predict, examples: Iterable[Example], categories: Sequence[str] = ONLINE_CATEGORIES
) -> Scores:
    """Score ``predict`` on ``examples``: a category counts once per example."""
    known = set(categories)
    counts = {c: [0, 0, 0] for c in categories}
    result = Scores()
    for example in examples:
        predicted, gold = predict(example) & known, set(example.labels) & known
        for category in predicted | gold:
            counts[category][
                0 if category in predicted & gold else 1 if category in predicted else 2
            ] += 1
        if not example.labels:
            group = example.group or "negative"
            result.negatives[group] += 1
            if predicted:
                result.alarms[group] += 1
                result.false_alarms.append((example, predicted))
        elif gold - predicted or predicted - gold:
            result.misses.append((example, predicted))
    result.counts = {c: Counts(*row) for c, row in counts.items()}
    return result
