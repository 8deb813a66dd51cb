"""Evaluation of detection models on fixed and recent sets: the figures behind `tiequan evaluate`.

A model is passed in as a ``Model``: a function giving its score per category for one
example (every category it has any evidence for, below the threshold too) and its
threshold per category; ``from_detector`` makes one from a ``ListingDetector``. Per set and
model: the counts of ``tiequan.models.metrics.score`` (the figures the gate compares), a
confusion matrix, a precision–recall curve and a threshold table per category.

The confusion matrix is multi-label: an example adds one to every (gold, predicted) pair of
its gold categories and predicted categories, ``NONE`` standing in for an empty side.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.metrics import precision_recall_curve

from detectors.base import CORE_CATEGORIES, ListingContext
from detectors.dataset import Example, read_examples
from detectors.model_store import corpus_dir, reference_dir, training_files
from tiequan.corpus.reference import ONLINE_CATEGORIES
from tiequan.models.metrics import Counts, Predict, Scores, score
from tiequan.timefmt import shanghai

if TYPE_CHECKING:
    from detectors.combine import ListingDetector
    from tiequan.leads.labels import Label

Scorer = Callable[[Example], Mapping[str, float]]

NONE = "none"
DEFAULT_THRESHOLD = 0.5
CURVE_FLOOR = 0.1  # the lowest detector score curves and tables reach
TABLE_THRESHOLDS = (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9)
WEAK_CATEGORIES = 3  # lowest-recall categories a model card names per set
WEAK_GROUPS = 3
HOLDOUT_GROUP_POSITIVE = "confirmed"
HOLDOUT_GROUP_NEGATIVE = "dismissed"


@dataclass(frozen=True)
class TrainingSource:
    """One file (or other source) a model was fitted on."""

    name: str
    examples: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "examples": self.examples, "sha256": self.sha256}


@dataclass(frozen=True)
class Model:
    """A model under evaluation: its version, scores per category and thresholds.

    ``training`` is what it was fitted on (its manifest when it has one).
    """

    version: str
    scores: Scorer
    thresholds: Mapping[str, float] = field(default_factory=dict)
    training: tuple[TrainingSource, ...] = ()
    default_threshold: float = DEFAULT_THRESHOLD

    def threshold(self, category: str) -> float:
        return self.thresholds.get(category, self.default_threshold)

    def predicted(self, scores: Mapping[str, float]) -> set[str]:
        return {c for c, s in scores.items() if s >= self.threshold(c)}


def from_detector(
    detector: ListingDetector, version: str = "", training: Sequence[TrainingSource] = ()
) -> Model:
    """A ``ListingDetector`` as a Model: the stacked score of every category with evidence.

    A copy of the detector with all stacker thresholds at ``CURVE_FLOOR`` reports each
    supported category scoring at least that; at the real thresholds that gives exactly
    ``detect``'s findings. (Lower, most of the time would go into explaining findings of
    score 0.01 that no threshold reaches.)
    """
    from detectors.combine import Stacker

    stacker = detector.stacker_
    floor = min(CURVE_FLOOR, *stacker.thresholds.values())
    open_ = copy.copy(detector)
    open_.stacker_ = Stacker(
        stacker.weights, stacker.bias, dict.fromkeys(stacker.thresholds, floor)
    )
    # Categories the classifier never learned keep the rules' floor (see detect()).
    rules_floor = detector.rules.context_.min_score

    def scores(example: Example) -> dict[str, float]:
        found = open_.detect(example.text, context=example.context)
        return {f.category: f.score for f in found}

    return Model(
        version or detector.model_version_ or "unversioned",
        scores,
        dict(stacker.thresholds),
        tuple(training),
        default_threshold=rules_floor,
    )


def from_predict(predict: Predict, version: str) -> Model:
    """A model known only by its predictions: score 1 for what it finds, no curve to speak of."""
    return Model(version, lambda e: dict.fromkeys(predict(e), 1.0), default_threshold=1.0)


def file_sources(paths: Iterable[Path]) -> tuple[TrainingSource, ...]:
    """Training sources from JSON Lines files: name, lines with content and content hash."""
    out = []
    for path in paths:
        data = path.read_bytes()
        lines = sum(1 for line in data.splitlines() if line.strip())
        digest = hashlib.sha256(data).hexdigest()
        out.append(TrainingSource(f"{path.parent.name}/{path.name}", lines, digest))
    return tuple(out)


def default_training(config_dir: Path) -> tuple[TrainingSource, ...]:
    """What ``ListingDetector.from_config`` fits on (``model_store.training_files``)."""
    synthetic, real = training_files(config_dir)
    return file_sources([*synthetic, *real])


@dataclass(frozen=True)
class EvalSet:
    """A labelled set to evaluate on; ``note`` says why it is empty when it is."""

    key: str
    examples: tuple[Example, ...]
    note: str = ""


def reference_set(config_dir: Path) -> EvalSet:
    """The real-world reference set's sealed test split."""
    return EvalSet("reference", tuple(read_examples(reference_dir(config_dir) / "test.jsonl")))


def synthetic_set(config_dir: Path) -> EvalSet:
    """The synthetic corpus's test split."""
    return EvalSet("synthetic", tuple(read_examples(corpus_dir(config_dir) / "test.jsonl")))


def holdout_set(labels: Iterable[Label], since: datetime) -> EvalSet:
    """Officers' decisions at or after ``since``: the last verdict on each lead counts."""
    examples = label_examples(lb for lb in labels if lb.at >= since)
    day = since.astimezone(shanghai()).date().isoformat()
    note = "" if examples else f"{day} 以来没有已研判（确认或排除）的线索"
    return EvalSet("holdout", tuple(examples), note)


def label_examples(labels: Iterable[Label]) -> list[Example]:
    """One example per listing of each lead's last verdict (labels oldest first).

    A confirmed lead's listings are positives for its category, a dismissed lead's are
    negatives; decisions without a verdict (reopen, return) and leads without a category
    are left out.
    """
    last: dict[str, Label] = {}
    for label in labels:
        if label.positive is not None and label.category:
            last[label.lead_id] = label
    out = []
    for label in last.values():
        gold = (label.category,) if label.positive and label.category else ()
        group = HOLDOUT_GROUP_POSITIVE if gold else HOLDOUT_GROUP_NEGATIVE
        for listing in label.listings:
            parts = dict.fromkeys(
                p for p in (listing.title, listing.description, listing.text) if p
            )
            text = "\n".join(parts)
            if text:
                example_id = f"{label.lead_id}:{listing.platform}:{listing.item_id}"
                out.append(Example(text, tuple(gold), ListingContext(), group, example_id))
    return out


@dataclass(frozen=True)
class ThresholdRow:
    threshold: float
    counts: Counts
    current: bool

    def to_json(self) -> dict[str, Any]:
        c = self.counts
        return {"threshold": self.threshold, "current": self.current, **_prf(c)}


@dataclass(frozen=True)
class CategoryResult:
    """One category on one set: counts at the current threshold, curve and table."""

    counts: Counts
    threshold: float
    curve: tuple[tuple[float, float, float], ...]  # (threshold, precision, recall)
    table: tuple[ThresholdRow, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            **_prf(self.counts),
            "support": self.counts.support,
            "threshold": self.threshold,
            "curve": [{"threshold": t, "precision": p, "recall": r} for t, p, r in self.curve],
            "thresholds": [row.to_json() for row in self.table],
        }


@dataclass
class ModelResult:
    scores: Scores
    categories: dict[str, CategoryResult]
    confusion: list[list[int]]  # rows: gold (categories, NONE); columns: predicted

    def weak_categories(self, n: int = WEAK_CATEGORIES) -> list[tuple[str, Counts]]:
        """The ``n`` categories with violations in the set and the lowest recall."""
        rows = [(c, r.counts) for c, r in self.categories.items() if r.counts.support]
        return sorted(rows, key=lambda x: (x[1].recall, -x[1].support))[:n]

    def alarm_groups(self, n: int = WEAK_GROUPS) -> list[tuple[str, int, int]]:
        """The ``n`` negative groups flagged most often: (group, flagged, examples)."""
        s = self.scores
        rows = [(g, s.alarms[g], s.negatives[g]) for g in s.negatives if s.alarms[g]]
        return sorted(rows, key=lambda x: (-x[1] / x[2], -x[1]))[:n]

    def to_json(self, labels: Sequence[str]) -> dict[str, Any]:
        s = self.scores
        core, every = s.micro(CORE_CATEGORIES), s.micro(self.categories)
        return {
            "core": _prf(core),
            "all": _prf(every),
            "false_alarm_rate": s.fpr(),
            "hard_negative_fpr": s.fpr(["hard_negative"]),
            "negatives": {
                g: {"examples": n, "flagged": s.alarms[g], "rate": s.alarms[g] / n}
                for g, n in sorted(s.negatives.items())
            },
            "categories": {c: r.to_json() for c, r in self.categories.items()},
            "confusion": {"labels": list(labels), "matrix": self.confusion},
            "weak_categories": [c for c, _ in self.weak_categories()],
            "alarm_groups": [g for g, _, _ in self.alarm_groups()],
            "scores": s.to_json(),
        }


@dataclass
class SetResult:
    set: EvalSet
    results: dict[str, ModelResult]

    @property
    def positives(self) -> int:
        return sum(1 for e in self.set.examples if e.labels)


@dataclass
class Evaluation:
    models: dict[str, Model]
    sets: list[SetResult]
    categories: tuple[str, ...]
    generated_at: datetime
    holdout_since: datetime | None = None

    @property
    def core_categories(self) -> list[str]:
        return [c for c in CORE_CATEGORIES if c in self.categories]

    @property
    def confusion_labels(self) -> list[str]:
        return [*self.categories, NONE]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "generated_at": self.generated_at.astimezone(UTC).isoformat(),
            "holdout_since": self.holdout_since.astimezone(UTC).isoformat()
            if self.holdout_since
            else None,
            "categories": list(self.categories),
            "core_categories": self.core_categories,
            "models": {
                name: {
                    "version": m.version,
                    "thresholds": {c: m.threshold(c) for c in self.categories},
                    "training": [t.to_json() for t in m.training],
                }
                for name, m in self.models.items()
            },
            "sets": {
                r.set.key: {
                    "examples": len(r.set.examples),
                    "positives": r.positives,
                    "note": r.set.note,
                    "results": {n: m.to_json(self.confusion_labels) for n, m in r.results.items()},
                }
                for r in self.sets
            },
        }


def _prf(c: Counts) -> dict[str, Any]:
    return {"tp": c.tp, "fp": c.fp, "fn": c.fn,
            "precision": c.precision, "recall": c.recall, "f1": c.f1}  # fmt: skip


def evaluate(
    models: Mapping[str, Model],
    sets: Sequence[EvalSet],
    *,
    categories: Sequence[str] = ONLINE_CATEGORIES,
    holdout_since: datetime | None = None,
    now: datetime | None = None,
) -> Evaluation:
    """Every model on every set (each example scored once per model)."""
    results = []
    for eval_set in sets:
        per_model = {
            name: evaluate_one(model, eval_set.examples, categories)
            for name, model in models.items()
        }
        results.append(SetResult(eval_set, per_model))
    return Evaluation(
        dict(models), results, tuple(categories), now or datetime.now(UTC), holdout_since
    )


def evaluate_one(
    model: Model, examples: Sequence[Example], categories: Sequence[str]
) -> ModelResult:
    known = set(categories)
    scored = [{c: s for c, s in model.scores(e).items() if c in known} for e in examples]
    by_example = {id(e): model.predicted(s) for e, s in zip(examples, scored, strict=True)}
    scores = score(lambda e: by_example[id(e)], examples, categories)
    per_category = {
        c: category_result(model, c, examples, scored, scores.counts[c]) for c in categories
    }
    return ModelResult(scores, per_category, confusion(examples, by_example, categories))


def category_result(
    model: Model,
    category: str,
    examples: Sequence[Example],
    scored: Sequence[Mapping[str, float]],
    counts: Counts,
) -> CategoryResult:
    gold = np.array([category in e.labels for e in examples], dtype=bool)
    values = np.array([s.get(category, 0.0) for s in scored], dtype=float)
    current = model.threshold(category)
    table = []
    for t in sorted({*TABLE_THRESHOLDS, current}):
        flagged = values >= t
        tp = int((flagged & gold).sum())
        row = Counts(tp, int(flagged.sum()) - tp, int(gold.sum()) - tp)
        table.append(ThresholdRow(t, row, t == current))
    return CategoryResult(counts, current, pr_curve(gold, values), tuple(table))


def pr_curve(gold: np.ndarray, values: np.ndarray) -> tuple[tuple[float, float, float], ...]:
    """(threshold, precision, recall) from the highest threshold down, over the scores above
    0 (an example without evidence is never flagged); empty without positives or scores."""
    if not gold.any() or not (values > 0).any():
        return ()
    precision, recall, thresholds = precision_recall_curve(gold, values)
    points = [
        (round(float(t), 4), round(float(p), 4), round(float(r), 4))
        for p, r, t in zip(precision[:-1], recall[:-1], thresholds, strict=True)
        if t > 0
    ]
    return tuple(reversed(points))


def confusion(
    examples: Sequence[Example], predicted: Mapping[int, set[str]], categories: Sequence[str]
) -> list[list[int]]:
    index = {c: i for i, c in enumerate(categories)}
    size = len(categories) + 1  # NONE last
    matrix = [[0] * size for _ in range(size)]
    for example in examples:
        gold = [index[c] for c in example.labels if c in index] or [size - 1]
        found = [index[c] for c in sorted(predicted[id(example)]) if c in index] or [size - 1]
        for g in gold:
            for p in found:
                matrix[g][p] += 1
    return matrix
