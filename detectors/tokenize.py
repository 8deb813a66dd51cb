"""Word tokenizer for the claim classifier: jieba with the lexicon terms as a custom dictionary.

``tokenize`` is a module-level function so fitted vectorizers pickle and clone. It uses
its own ``jieba.Tokenizer`` (never the global one), built on first use from jieba's bundled
dictionary plus every lexicon term of ``default_config_dir()``, normalised the way the
classifier normalises text, so a term like 不运动也能瘦 stays one token.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import jieba

from detectors.config import default_config_dir, load_config
from detectors.normalize import normalize

log = logging.getLogger(__name__)

_WORDY = re.compile(r"\w")
_LOCK = threading.Lock()
_STATE: dict[str, jieba.Tokenizer] = {}
# High enough that a lexicon term wins over jieba's own split of it.
_TERM_FREQ = 200_000


def lexicon_terms(config_dir: Path | None = None) -> list[str]:
    """Every lexicon term of the config, normalised, longest first, without duplicates."""
    lexicons, _, _ = load_config(config_dir or default_config_dir())
    terms = {normalize(t.term).text for lexicon in lexicons for t in lexicon.terms}
    return sorted((t for t in terms if t), key=lambda t: (-len(t), t))


def build_tokenizer(terms: Iterable[str]) -> jieba.Tokenizer:
    """A fresh jieba tokenizer with ``terms`` added as words."""
    logging.getLogger("jieba").setLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for term in terms:
        tokenizer.add_word(term, freq=_TERM_FREQ)
    return tokenizer


def _tokenizer() -> jieba.Tokenizer:
    tokenizer = _STATE.get("default")
    if tokenizer is None:
        with _LOCK:
            tokenizer = _STATE.get("default")
            if tokenizer is None:
                tokenizer = build_tokenizer(lexicon_terms())
                _STATE["default"] = tokenizer
                log.debug("jieba tokenizer ready with the lexicon dictionary")
    return tokenizer


def tokenize(text: str) -> list[str]:
    """Words of already-normalised ``text`` (no HMM, so unseen words split into characters)."""
    return [w for w in _tokenizer().lcut(text, HMM=False) if _WORDY.search(w)]


def normalize_texts(texts: Sequence[str]) -> list[str]:
    """The rule engine's normalisation, as the first step of the classifier pipeline."""
    return [normalize(t).text for t in texts]
