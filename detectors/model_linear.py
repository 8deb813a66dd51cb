"""A fitted ClaimClassifier as plain arrays: fast scoring, explanations, trigger words, storage.

Reproduces the pipeline's arithmetic (sublinear TF × IDF, L2 per feature block, linear
decision, sigmoid calibration) without calling sklearn per text, and saves as JSON + npz
(no pickle).
"""

from __future__ import annotations

import io
import json
import math
import operator
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path

import ahocorasick_rs as ac
import numpy as np

from detectors.normalize import normalize
from detectors.tokenize import JiebaWords

_WHITESPACE = re.compile(r"\s\s+")
_WORD_KEY = "\x00"
_MIN_KEYWORD_DOCS = 5
_KEYWORD_PRECISION = 0.85


def _ngrams(text: str, low: int, high: int) -> list[str]:
    """Character n-grams of ``text``, low ≤ n ≤ high (built with C-level map, not slicing)."""
    out: list[str] = []
    grams: list[str] = list(text)
    for n in range(1, high + 1):
        if n > 1:
            grams = list(map(operator.add, grams, text[n - 1 :]))
        if n >= low:
            out += grams
    return out


@dataclass
class TfidfPart:
    """One TF-IDF block: the vocabulary, its IDF, and its jieba tokenizer or n-gram range."""

    vocabulary: dict[str, int]
    idf: np.ndarray
    ngram_range: tuple[int, int] | None  # None: words from ``tokenizer``
    tokenizer: JiebaWords | None = None
    _inverse: list[str] | None = field(default=None, init=False, repr=False, compare=False)

    def terms(self, text: str, *, raw: bool = False) -> list[str]:
        """The block's terms of ``text``; ``raw``: also jieba's non-word segments."""
        if self.ngram_range is None:
            if self.tokenizer is None:
                self.tokenizer = JiebaWords()
            return self.tokenizer.segments(text) if raw else self.tokenizer(text)
        return _ngrams(_WHITESPACE.sub(" ", text), *self.ngram_range)

    def vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(sorted indices, L2-normalised weights) of the vocabulary terms in ``text``."""
        # The classifier's hot path (a few hundred n-grams per listing): the vocabulary
        # look-up runs in C through map(), counting in numpy.
        terms = self.terms(text)
        index = np.fromiter(
            map(self.vocabulary.get, terms, repeat(-1)), dtype=np.int64, count=len(terms)
        )
        index = index[index >= 0]
        if not len(index):
            return index, np.zeros(0)
        index, counts = np.unique(index, return_counts=True)
        weights = (1.0 + np.log(counts)) * self.idf[index]
        return index, weights / np.linalg.norm(weights)

    def names(self, index: np.ndarray) -> list[str]:
        """The vocabulary terms at ``index``."""
        if self._inverse is None:
            inverse = [""] * len(self.vocabulary)
            for term, i in self.vocabulary.items():
                inverse[i] = term
            self._inverse = inverse
        return [self._inverse[i] for i in index.tolist()]


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

    _joint: dict[str, int] | None = field(default=None, init=False, repr=False, compare=False)
    _idf: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def decision(self, text: str) -> np.ndarray:
        # Both blocks in one pass (one look-up, one count): words are keyed with a prefix
        # no token has, so the word 减肥 and the character bigram 减肥 stay apart.
        joint, idf = self._joint_vocabulary()
        words = self.words.terms(text, raw=True)  # punctuation is in no vocabulary
        grams = self.chars.terms(text)
        count = len(words) + len(grams)
        terms = chain(map(_WORD_KEY.__add__, words), grams)
        index = np.fromiter(map(joint.get, terms, repeat(-1)), dtype=np.int64, count=count)
        index = index[index >= 0]
        if not len(index):
            return self.intercept.copy()
        index, counts = np.unique(index, return_counts=True)
        weights = (1.0 + np.log(counts)) * idf[index]
        split = int(np.searchsorted(index, len(self.words.vocabulary)))
        for block in (weights[:split], weights[split:]):  # views: L2 per block, in place
            norm = math.sqrt(float(block @ block))
            if norm:
                block /= norm
        out: np.ndarray = weights @ self.coef[index] + self.intercept
        return out

    def _joint_vocabulary(self) -> tuple[dict[str, int], np.ndarray]:
        if self._joint is None or self._idf is None:
            offset = len(self.words.vocabulary)
            joint = {_WORD_KEY + w: i for w, i in self.words.vocabulary.items()}
            joint.update((g, i + offset) for g, i in self.chars.vocabulary.items())
            self._joint = joint
            self._idf = np.concatenate((self.words.idf, self.chars.idf))
        return self._joint, self._idf

    def proba(self, text: str) -> np.ndarray:
        """Probability per class of ``classes`` for already-normalised ``text``."""
        z = np.clip(self.slope * self.decision(text) + self.offset, -500.0, 500.0)
        out: np.ndarray = 1.0 / (1.0 + np.exp(z))
        return out

    def top_words(self, text: str, category: str, k: int = 3) -> list[str]:
        """The words of ``text`` that pushed ``category`` up most (multi-character first)."""
        column = self.classes.index(category)
        index, weights = self.words.vector(text)
        if not len(index):
            return []
        contribution = (weights * self.coef[index, column]).tolist()
        names = self.words.names(index)
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

    def to_files(self) -> dict[str, bytes]:
        """The scorer as two files (JSON and npz), byte for byte the same for the same model."""
        meta = {
            "classes": self.classes,
            "user_words": list(self.words.tokenizer.words if self.words.tokenizer else ()),
            "words": self.words.vocabulary,
            "chars": self.chars.vocabulary,
            "char_ngram_range": list(self.chars.ngram_range or (1, 1)),
        }
        arrays = {
            "word_idf": self.words.idf,
            "char_idf": self.chars.idf,
            "coef": self.coef,
            "intercept": self.intercept,
            "slope": self.slope,
            "offset": self.offset,
        }
        return {
            "scorer.json": json.dumps(meta, ensure_ascii=False).encode("utf-8"),
            "scorer.npz": npz_bytes(arrays),
        }

    @classmethod
    def from_files(cls, files: Mapping[str, bytes]) -> LinearScorer:
        """The scorer ``to_files`` wrote; arrays are read without pickle."""
        meta = json.loads(files["scorer.json"].decode("utf-8"))
        with np.load(io.BytesIO(files["scorer.npz"]), allow_pickle=False) as arrays:
            get: Callable[[str], np.ndarray] = lambda key: np.array(arrays[key])  # noqa: E731
            low, high = meta["char_ngram_range"]
            return cls(
                classes=list(meta["classes"]),
                words=TfidfPart(
                    meta["words"], get("word_idf"), None, JiebaWords(meta["user_words"])
                ),
                chars=TfidfPart(meta["chars"], get("char_idf"), (int(low), int(high))),
                coef=get("coef"),
                intercept=get("intercept"),
                slope=get("slope"),
                offset=get("offset"),
            )

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in self.to_files().items():
            (directory / name).write_bytes(data)

    @classmethod
    def load(cls, directory: Path) -> LinearScorer:
        return cls.from_files({n: (directory / n).read_bytes() for n in SCORER_FILES})


SCORER_FILES = ("scorer.json", "scorer.npz")


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An npz archive of ``arrays`` with fixed entry dates (np.savez stamps the current
    time), so that the same arrays always hash the same."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                             buffer.getvalue())  # fmt: skip
    return out.getvalue()


def precise_keywords(
    scorer: LinearScorer, texts: Sequence[str], labels: Sequence[Sequence[str]], per_class: int
) -> list[str]:
    """The classifier's strongest words that mostly occur in violating training texts.

    Generic listing words (客服, 发货) can carry some positive weight; as triggers they
    would send every clean listing through jieba, so a word must be precise to trigger.
    """
    candidates = sorted({w for words in scorer.keywords(per_class).values() for w in words})
    if not candidates:
        return []
    automaton = ac.AhoCorasick(candidates)  # standard match kind: overlapping matches
    seen = np.zeros(len(candidates))
    in_violations = np.zeros(len(candidates))
    for text, row in zip(texts, labels, strict=True):
        matches = automaton.find_matches_as_indexes(normalize(text).text, overlapping=True)
        index = sorted({i for i, _, _ in matches})  # documents, not occurrences
        seen[index] += 1
        if row:
            in_violations[index] += 1
    precision = in_violations / np.maximum(seen, 1)
    keep = (seen >= _MIN_KEYWORD_DOCS) & (precision >= _KEYWORD_PRECISION)
    return [w for w, k in zip(candidates, keep, strict=True) if k]
