"""Word tokenizer for the claim classifier: jieba with the lexicon terms as user words.

``JiebaWords`` is a small picklable callable that holds its user words (the lexicon
terms, normalised the way the classifier normalises text, so a term like 不运动也能瘦
stays one token); fitted vectorizers pickle, clone and save with it, and a model loaded
from the cache tokenises exactly as it was trained. The segmenter is jieba-rs
(``rjieba``): the same dictionary and no-HMM algorithm as Python jieba, about ten times
faster. One segmenter is built per distinct word set, on first use, and shared.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import rjieba

from detectors.config import Lexicon
from detectors.normalize import normalize

log = logging.getLogger(__name__)

_WORDY = re.compile(r"\w")
_LOCK = threading.Lock()
_BUILT: OrderedDict[tuple[str, ...], rjieba.Jieba] = OrderedDict()
_MAX_BUILT = 4  # about 25 MB each; tests build a few word sets, a process uses one
# High enough that a lexicon term wins over jieba's own split of it.
_TERM_FREQ = 200_000


def lexicon_terms(lexicons: Iterable[Lexicon]) -> tuple[str, ...]:
    """Every term of ``lexicons``, normalised, longest first, without duplicates."""
    terms = {normalize(t.term).text for lexicon in lexicons for t in lexicon.terms}
    return tuple(sorted((t for t in terms if t), key=lambda t: (-len(t), t)))


def _segmenter(words: tuple[str, ...]) -> rjieba.Jieba:
    with _LOCK:
        built = _BUILT.get(words)
        if built is None:
            built = rjieba.Jieba()
            for word in words:
                built.add_word(word, _TERM_FREQ, None)
            _BUILT[words] = built
            while len(_BUILT) > _MAX_BUILT:
                _BUILT.popitem(last=False)
            log.debug("jieba segmenter ready with %d user words", len(words))
        else:
            _BUILT.move_to_end(words)
        return built


class JiebaWords:
    """Tokenizer: the words of already-normalised text, jieba with ``words`` added.

    No HMM, so unseen words split into characters; punctuation and spaces are dropped.
    Equal when the words are equal; pickles as its word list only.
    """

    def __init__(self, words: Sequence[str] = ()) -> None:
        self.words = tuple(words)
        self._jieba: rjieba.Jieba | None = None

    def __call__(self, text: str) -> list[str]:
        return [w for w in self.segments(text) if _WORDY.search(w)]

    def segments(self, text: str) -> list[str]:
        """All of jieba's segments, punctuation and spaces included (no vocabulary has them)."""
        jieba = self._jieba
        if jieba is None:
            jieba = self._jieba = _segmenter(self.words)
        return jieba.cut(text, False)

    def __getstate__(self) -> dict[str, Any]:
        return {"words": self.words}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.words = tuple(state["words"])
        self._jieba = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JiebaWords) and other.words == self.words

    def __hash__(self) -> int:
        return hash(self.words)

    def __repr__(self) -> str:
        return f"JiebaWords(<{len(self.words)} words>)"


def normalize_texts(texts: Sequence[str]) -> list[str]:
    """The rule engine's normalisation, as the first step of the classifier pipeline."""
    return [normalize(t).text for t in texts]
