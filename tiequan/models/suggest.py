"""Term suggestions: phrases that recently confirmed leads share and the lexicon misses.

The positives are the listings of leads confirmed since a date (their last verdict, from
the ``labels`` collection) that the rules in force do not flag for the lead's category.
The background is the listings of dismissed leads and the unlabelled (benign) text of the
project's corpora. Candidates are the normalised texts' jieba words, pairs of adjacent
words and character 2–4-grams; each is ranked by its log-odds ratio of appearing in a
positive rather than a background listing, with an informative Dirichlet prior (Monroe,
Colaresi and Quinn 2008: the pooled rate of the phrase, ``PRIOR_WEIGHT`` pseudo-listings),
divided by its standard error. A phrase already a term, or rejected before, is not offered.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path

from detectors.config import term_key
from detectors.dataset import read_examples
from detectors.engine import Detector
from detectors.model_store import corpus_dir, reference_dir
from detectors.normalize import normalize_text
from detectors.tokenize import JiebaWords
from tiequan.leads.labels import Label
from tiequan.models.evaluate import label_examples

PRIOR_WEIGHT = 10.0
MIN_SUPPORT = 2  # positive listings a phrase must appear in
MAX_BACKGROUND = 4000  # benign corpus texts read
EXAMPLES = 3
SNIPPET = 24  # characters either side of the phrase in an example
_RUN = re.compile(r"[\w%]+")
_PLAIN = re.compile(r"[\d%a-z]+")


@dataclass(frozen=True)
class ListingExample:
    """A listing a suggestion was found in: which lead, and the text around the phrase."""

    lead_id: str
    snippet: str


@dataclass(frozen=True)
class Suggestion:
    category: str
    phrase: str
    score: float  # z-scored log-odds
    positives: int  # missed confirmed listings with the phrase
    positive_total: int
    background: int  # background listings with the phrase
    background_total: int
    examples: tuple[ListingExample, ...]


def candidates(text: str, words: JiebaWords) -> set[str]:
    """The phrases of one text: jieba words, adjacent word pairs, character 2–4-grams."""
    out: set[str] = set()
    for run in _RUN.findall(normalize_text(text)):
        tokens = [t for t in words(run) if t.strip()]
        out.update(t for t in tokens if len(t) >= 2)
        out.update(a + b for a, b in pairwise(tokens))
        for n in (2, 3, 4):
            out.update(run[i : i + n] for i in range(len(run) - n + 1))
    return {p for p in out if 2 <= len(p) <= 8 and not _PLAIN.fullmatch(p)}


def log_odds(y: int, n: int, b: int, m: int, prior: float = PRIOR_WEIGHT) -> float:
    """z-scored log-odds of a phrase in ``y`` of ``n`` positives against ``b`` of ``m``."""
    rate = (y + b + 0.5) / (n + m + 1.0)
    a1, a0 = prior * rate, prior * (1.0 - rate)
    delta = math.log((y + a1) / (n - y + a0)) - math.log((b + a1) / (m - b + a0))
    variance = 1 / (y + a1) + 1 / (n - y + a0) + 1 / (b + a1) + 1 / (m - b + a0)
    return delta / math.sqrt(variance)


def benign_texts(config_dir: Path, limit: int = MAX_BACKGROUND) -> list[str]:
    """Unlabelled text of the corpora's fitting splits (the first ``limit``)."""
    paths = [corpus_dir(config_dir) / "train.jsonl", reference_dir(config_dir) / "train.jsonl"]
    out: list[str] = []
    for path in paths:
        if path.is_file():
            out.extend(e.text for e in read_examples(path) if not e.labels)
    return out[:limit]


def snippet(text: str, phrase: str) -> str:
    norm = normalize_text(text)
    at = norm.find(phrase)
    if at < 0:
        return norm[: 2 * SNIPPET]
    start, end = max(0, at - SNIPPET), at + len(phrase) + SNIPPET
    return ("…" if start else "") + norm[start:end] + ("…" if end < len(norm) else "")


def suggest(
    labels: Iterable[Label],
    rules: Detector,
    background: Sequence[str],
    *,
    since: datetime | None = None,
    rejected: set[tuple[str, str]] | None = None,
    limit: int = 20,
) -> list[Suggestion]:
    """Ranked suggestions (best first, at most ``limit``) from decisions at or after
    ``since``; ``rules``: the rule detector in force, ``background``: benign texts."""
    examples = label_examples(lb for lb in labels if since is None or lb.at >= since)
    words = JiebaWords()
    missed: dict[str, list[tuple[str, str]]] = defaultdict(list)  # category: (lead, text)
    back_docs: list[set[str]] = [candidates(t, words) for t in background]
    for example in examples:
        if not example.labels:
            back_docs.append(candidates(example.text, words))
            continue
        found = {f.category for f in rules.detect(example.text)}
        for category in example.labels:
            if category not in found:
                missed[category].append((example.id.split(":", 1)[0], example.text))
    back_df: Counter[str] = Counter(p for doc in back_docs for p in doc)
    known = {(lex.category, term_key(t.term)) for lex in rules.lexicons for t in lex.terms}
    skip = known | (rejected or set())
    out: list[Suggestion] = []
    for category, listings in sorted(missed.items()):
        docs = [candidates(text, words) for _lead, text in listings]
        df: Counter[str] = Counter(p for doc in docs for p in doc)
        n, m = len(docs), len(back_docs)
        scored = sorted(
            (
                (log_odds(y, n, back_df[p], m), p)
                for p, y in df.items()
                if y >= MIN_SUPPORT and (category, term_key(p)) not in skip
                if y / n > back_df[p] / max(m, 1)
            ),
            key=lambda x: (-x[0], -len(x[1]), x[1]),
        )
        kept: list[tuple[str, frozenset[int]]] = []
        for z, phrase in scored:
            where = frozenset(i for i, doc in enumerate(docs) if phrase in doc)
            if any(where == w and (phrase in k or k in phrase) for k, w in kept):
                continue  # a piece or an extension of a phrase already offered
            kept.append((phrase, where))
            shown = tuple(
                ListingExample(listings[i][0], snippet(listings[i][1], phrase))
                for i in sorted(where)[:EXAMPLES]
            )
            out.append(Suggestion(category, phrase, z, len(where), n, back_df[phrase], m, shown))
            if len(kept) >= limit:
                break
    return sorted(out, key=lambda s: -s.score)[:limit]
