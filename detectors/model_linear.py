"""A fitted ClaimClassifier as plain arrays: fast scoring, explanations and safe persistence.

Reproduces the pipeline's arithmetic (sublinear TF × IDF, L2 per feature block, linear
decision, sigmoid calibration) without calling sklearn per text, and saves as JSON + npz
(no pickle).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detectors.tokenize import tokenize

_WHITESPACE = re.compile(r"\s\s+")


@dataclass
class TfidfPart:
    """One TF-IDF block: the vocabulary, its IDF and, for characters, the n-gram range."""

    vocabulary: dict[str, int]
    idf: np.ndarray
    ngram_range: tuple[int, int] | None  # None: jieba words

    def terms(self, text: str) -> list[str]:
        if self.ngram_range is None:
            return tokenize(text)
        text = _WHITESPACE.sub(" ", text)
        low, high = self.ngram_range
        return [text[i : i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1)]

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(indices, L2-normalised weights, terms) of the vocabulary terms in ``text``."""
        counts = Counter(t for t in self.terms(text) if t in self.vocabulary)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0), []
        names = list(counts)
        index = np.fromiter((self.vocabulary[t] for t in names), dtype=np.int64, count=len(names))
        tf = np.fromiter((1.0 + math.log(counts[t]) for t in names), dtype=np.float64)
        weights = tf * self.idf[index]
        return index, weights / np.linalg.norm(weights), names


@dataclass
class LinearScorer:
    """Per-category calibrated probabilities of normalised text; see module docstring."""

    classes: list[str]
    words: TfidfPart
    chars: TfidfPart
    coef: np.ndarray  # (n_word_features + n_char_features, n_classes)
    intercept: np.ndarray
    slope: np.ndarray  # sigmoid calibration: p = 1 / (1 + exp(slope * decision + offset))
    offset: np.ndarray

    def decision(self, text: str) -> np.ndarray:
        w_index, w_weights, _ = self.words.vector(text)
        c_index, c_weights, _ = self.chars.vector(text)
        n_words = len(self.words.vocabulary)
        result = self.intercept.copy()
        if len(w_index):
            result += w_weights @ self.coef[w_index]
        if len(c_index):
            result += c_weights @ self.coef[c_index + n_words]
        return result

    def proba(self, text: str) -> np.ndarray:
        """Probability per class of ``classes`` for already-normalised ``text``."""
        z = np.clip(self.slope * self.decision(text) + self.offset, -500.0, 500.0)
        out: np.ndarray = 1.0 / (1.0 + np.exp(z))
        return out

    def top_words(self, text: str, category: str, k: int = 3) -> list[str]:
        """The words of ``text`` that pushed ``category`` up most (multi-character first)."""
        column = self.classes.index(category)
        index, weights, names = self.words.vector(text)
        if not len(index):
            return []
        contribution = weights * self.coef[index, column]
        ranked = sorted((c, -len(n), n) for c, n in zip(contribution, names, strict=True) if c > 0)
        ranked.sort(key=lambda item: (len(item[2]) < 2, -item[0]))
        return [name for _, _, name in ranked[:k]]

    def keywords(self, per_class: int = 40) -> dict[str, list[str]]:
        """The strongest positive multi-character words of each class (trigger candidates)."""
        inverse = {i: w for w, i in self.words.vocabulary.items()}
        n_words = len(self.words.vocabulary)
        out: dict[str, list[str]] = {}
        for column, name in enumerate(self.classes):
            weights = self.coef[:n_words, column]
            order = np.argsort(-weights)
            picked = [inverse[int(i)] for i in order[: per_class * 3] if weights[i] > 0]
            out[name] = [w for w in picked if len(w) >= 2][:per_class]
        return out

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        meta = {
            "classes": self.classes,
            "words": self.words.vocabulary,
            "chars": self.chars.vocabulary,
            "char_ngram_range": list(self.chars.ngram_range or (1, 1)),
        }
        (directory / "scorer.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
        np.savez(
            directory / "scorer.npz",
            word_idf=self.words.idf,
            char_idf=self.chars.idf,
            coef=self.coef,
            intercept=self.intercept,
            slope=self.slope,
            offset=self.offset,
        )

    @classmethod
    def load(cls, directory: Path) -> LinearScorer:
        meta = json.loads((directory / "scorer.json").read_text("utf-8"))
        with np.load(directory / "scorer.npz", allow_pickle=False) as arrays:
            get: Callable[[str], np.ndarray] = lambda key: np.array(arrays[key])  # noqa: E731
            low, high = meta["char_ngram_range"]
            return cls(
                classes=list(meta["classes"]),
                words=TfidfPart(meta["words"], get("word_idf"), None),
                chars=TfidfPart(meta["chars"], get("char_idf"), (int(low), int(high))),
                coef=get("coef"),
                intercept=get("intercept"),
                slope=get("slope"),
                offset=get("offset"),
            )
