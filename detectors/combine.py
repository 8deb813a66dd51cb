"""One calibrated score per category from rule evidence and the trained classifier.

``ListingDetector.detect`` runs the rule engine (all evidence, ``min_score=0``), then
scores with the classifier only windows of the listing around trigger hits (lexicon
terms plus the classifier's strongest words) and rule spans, normalised together and
capped at ``max_chars``: a clean listing never reaches jieba. Per category a small
logistic-regression stacker, fitted on the validation split, turns (rule score, model
probability) into one calibrated probability; a finding is emitted at or above the
category threshold tuned on the same split.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import ahocorasick_rs as ac
import numpy as np
from sklearn.linear_model import LogisticRegression

from detectors.base import Finding
from detectors.classifier import ClaimClassifier
from detectors.engine import Detector
from detectors.model_linear import LinearScorer, precise_keywords
from detectors.normalize import normalize
from detectors.tokenize import lexicon_terms

log = logging.getLogger(__name__)

_THRESHOLDS = np.round(np.arange(0.2, 0.81, 0.05), 2)
_MIN_POSITIVES = 5  # fewer validation positives: keep the default threshold
_DEFAULT_THRESHOLD = 0.5
_MODEL_ONLY = (
    "文本中{words}等表述符合{name}类违法宣称的特征（模型综合评分{score:.2f}），涉嫌违反{article}"
)


@dataclasses.dataclass
class Stacker:
    """Per category: p = sigmoid(w · (rule, model, rule × model) + b) and its threshold."""

    weights: dict[str, list[float]]
    bias: dict[str, float]
    thresholds: dict[str, float]
    _arrays: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = (
        dataclasses.field(default_factory=dict, init=False, repr=False, compare=False)
    )

    def score(self, category: str, rule: float, model: float) -> float:
        w = self.weights.get(category)
        if w is None:
            return rule  # a category the classifier never learned: rule evidence alone
        z = w[0] * rule + w[1] * model + w[2] * rule * model + self.bias[category]
        return 1.0 / (1.0 + math.exp(-max(-500.0, min(500.0, z))))

    def scores(self, classes: Sequence[str], rule: np.ndarray, model: np.ndarray) -> np.ndarray:
        """``score`` for every category of ``classes`` at once (one listing, numpy)."""
        w, b, learned, _ = self.arrays(classes)
        z = np.clip(w[:, 0] * rule + w[:, 1] * model + w[:, 2] * rule * model + b, -500, 500)
        out: np.ndarray = np.where(learned, 1.0 / (1.0 + np.exp(-z)), rule)
        return out

    def arrays(
        self, classes: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(weights, bias, learned, threshold) aligned with ``classes``, built once."""
        key = tuple(classes)
        cached = self._arrays.get(key)
        if cached is None:
            cached = (
                np.array([self.weights.get(c, [0.0, 0.0, 0.0]) for c in key]).reshape(-1, 3),
                np.array([self.bias.get(c, 0.0) for c in key]),
                np.array([c in self.weights for c in key], dtype=bool),
                np.array([self.thresholds.get(c, _DEFAULT_THRESHOLD) for c in key]),
            )
            self._arrays[key] = cached
        return cached


class ListingDetector:
    """Rules + classifier, one finding per category; see the module docstring."""

    def __init__(
        self,
        rules: Detector,
        model: ClaimClassifier,
        *,
        window: int = 24,
        trigger_words: int = 300,
        max_chars: int = 1000,
        articles: Mapping[str, str] | None = None,
        names: Mapping[str, str] | None = None,
        model_only_min: float = 0.8,
    ) -> None:
        self.rules = rules
        self.model = model
        self.window = window
        self.trigger_words = trigger_words
        self.max_chars = max_chars
        self.articles = articles
        self.names = names
        self.model_only_min = model_only_min

    # -- fitting -------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[Sequence[str]],
        *,
        valid_texts: Sequence[str],
        valid_labels: Sequence[Sequence[str]],
    ) -> ListingDetector:
        """Fit the classifier on ``texts``; the stacker and thresholds on the validation set."""
        self.model.fit(texts, labels)
        scorer = self.model.compile()
        keywords = precise_keywords(scorer, texts, labels, self.trigger_words)
        return self.fit_stacker(scorer, keywords, valid_texts, valid_labels)

    def fit_stacker(
        self,
        scorer: LinearScorer,
        keywords: Sequence[str],
        valid_texts: Sequence[str],
        valid_labels: Sequence[Sequence[str]],
    ) -> ListingDetector:
        """Fit only the stacker and thresholds, for an already fitted scorer and keywords."""
        self.scorer_ = scorer
        self.keywords_ = sorted(keywords)
        self._build_triggers()
        evidence = [self._evidence(t, None)[1:] for t in valid_texts]
        weights: dict[str, list[float]] = {}
        bias: dict[str, float] = {}
        thresholds: dict[str, float] = {}
        for column, category in enumerate(scorer.classes):
            truth = np.array([category in row for row in valid_labels], dtype=int)
            rule = np.array([e[0].get(category, 0.0) for e in evidence])
            model = np.array([e[1][column] if e[1] is not None else 0.0 for e in evidence])
            features = np.column_stack([rule, model, rule * model])
            if truth.min() == truth.max():
                log.warning("validation has one class only for %s; rule evidence alone", category)
                continue
            stacker = LogisticRegression(C=10.0).fit(features, truth)
            weights[category] = [float(x) for x in stacker.coef_[0]]
            bias[category] = float(stacker.intercept_[0])
            thresholds[category] = _best_threshold(stacker.predict_proba(features)[:, 1], truth)
        self.stacker_ = Stacker(weights, bias, thresholds)
        return self

    def _build_triggers(self) -> None:
        words = {*lexicon_terms(self.rules.lexicons), *self.keywords_}
        self.triggers_ = ac.AhoCorasick(
            sorted(words),
            matchkind=ac.MatchKind.LeftmostLongest,
            implementation=ac.Implementation.DFA,
        )

    # -- detection -----------------------------------------------------------------------
    def _evidence(
        self, text: str, price: float | None
    ) -> tuple[list[Finding], dict[str, float], np.ndarray | None, str]:
        findings = self.rules.detect(text, price=price)
        rule = {f.category: f.score for f in findings}
        windows = self._windows(text, findings)
        if not windows:
            return findings, rule, None, ""  # clean listing: the classifier is never run
        return findings, rule, self.scorer_.proba(windows), windows

    def _windows(self, text: str, findings: Sequence[Finding]) -> str:
        """Normalised text around trigger words and rule spans, clauses joined by '。'.

        Windows are cut from the original text and normalised together (one call,
        a few hundred characters, not the whole listing); overlapping ones merge and
        at most ``max_chars`` original characters are scored. Disguised claims reach
        the windows through the rules' spans, which undo the disguise.
        """
        spans = [(s, e) for _, s, e in self.triggers_.find_matches_as_indexes(text.lower())]
        for finding in findings:
            spans.extend(finding.spans)
        if not spans:
            return ""
        spans.sort()
        pieces: list[str] = []
        budget = self.max_chars
        start, end = -1, -1
        for s, e in spans:
            lo, hi = max(0, s - self.window), e + self.window
            if lo > end:
                if end > start:
                    pieces.append(text[start : min(end, start + budget)])
                    budget -= len(pieces[-1])
                    if budget <= 0:
                        break
                start = lo
            end = max(end, hi)
        else:
            pieces.append(text[start : min(end, start + budget)])
        return normalize("。".join(pieces)).text

    def detect(self, text: str, *, price: float | None = None) -> list[Finding]:
        """One finding per category whose combined score reaches its threshold."""
        findings, rule, proba, windows = self._evidence(text, price)
        if proba is None and not findings:
            return []
        classes = self.scorer_.classes
        rules = np.array([rule.get(c, 0.0) for c in classes])
        model = proba if proba is not None else np.zeros(len(classes))
        # The model adds evidence but never vetoes a rule finding: that stands on its own
        # spans and article, and the model has not seen every way of writing a claim (on
        # the independent sandbox, letting it veto cut recall from 0.88 to 0.30). Without
        # a rule finding the stacked score must also reach model_only_min (chosen on the
        # validation split: hard-negative FPR 5.0% at 0.5, 3.3% at 0.8, same micro-F1).
        stacked = self.stacker_.scores(classes, rules, model)
        gate = np.maximum(self.stacker_.arrays(classes)[3], self.model_only_min)
        keep = (rules >= self.rules.context_.min_score) | (stacked >= gate)
        keep &= (rules > 0.0) | (model > 0.0)
        by_category = {f.category: f for f in findings}
        out: list[Finding] = []
        for i in np.flatnonzero(keep).tolist():
            category = classes[i]
            score = max(float(stacked[i]), float(rules[i]))
            finding = by_category.pop(category, None)
            if finding is not None:
                out.append(dataclasses.replace(finding, score=score))
            else:
                out.append(self._model_only(category, score, text, windows))
        # Categories the classifier never learned: rule evidence alone, after the others.
        floor = min(self.rules.context_.min_score, max(_DEFAULT_THRESHOLD, self.model_only_min))
        out += [f for f in by_category.values() if f.category not in classes and f.score >= floor]
        return out

    def _model_only(self, category: str, score: float, text: str, windows: str) -> Finding:
        words = self.scorer_.top_words(windows, category)
        spans = _find_words(text, words)
        article = (self.articles or {}).get(category, "《广告法》第二十八条")
        name = (self.names or {}).get(category, category)
        quoted = "".join(f"“{text[s:e]}”" for s, e in spans) or "".join(f"“{w}”" for w in words)
        return Finding(
            category=category,
            score=score,
            article=article,
            spans=sorted(spans),
            explanation=_MODEL_ONLY.format(words=quoted, name=name, score=score, article=article),
            matched=[text[s:e] for s, e in sorted(spans)],
            severity="提醒告诫",
        )

    @classmethod
    def from_config(cls, config_dir: Path | None = None) -> ListingDetector:
        from detectors.model_store import load_or_train  # keeps this module small

        return load_or_train(cls, config_dir)


def _find_words(text: str, words: Sequence[str]) -> list[tuple[int, int]]:
    """Original spans of the first occurrence of each normalised word in ``text``."""
    low = text.lower()
    spans: list[tuple[int, int]] = []
    missing = []
    for word in words:
        at = low.find(word) if len(low) == len(text) else -1
        if at >= 0:
            spans.append((at, at + len(word)))
        else:
            missing.append(word)
    if missing:  # disguised in the original: look in the normalised text
        norm = normalize(text)
        for word in missing:
            at = norm.text.find(word)
            if at >= 0:
                spans.append(norm.original_span(at, at + len(word)))
    return spans


def _best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    if truth.sum() < _MIN_POSITIVES:
        return _DEFAULT_THRESHOLD
    best, best_f1 = _DEFAULT_THRESHOLD, -1.0
    for threshold in _THRESHOLDS:
        predicted = scores >= threshold
        tp = float((predicted & (truth == 1)).sum())
        f1 = 2 * tp / (predicted.sum() + truth.sum()) if tp else 0.0
        # Ties go to the threshold nearer 0.5, the calibrated midpoint.
        if f1 > best_f1 + 1e-9 or (
            abs(f1 - best_f1) <= 1e-9 and abs(threshold - 0.5) < abs(best - 0.5)
        ):
            best, best_f1 = float(threshold), f1
    return best
