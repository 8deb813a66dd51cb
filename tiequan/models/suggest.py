"""Term suggestions: phrases that recently confirmed leads share and the lexicon misses.

The positives are the listings of leads confirmed since a date (their last verdict, from
the ``labels`` collection) that the rules in force do not flag for the lead's category.
The background is the listings of dismissed leads and the unlabelled (benign) text of the
project's corpora. Candidates are runs of one to three jieba words and character 2–6-grams
of the missed listings' normalised text, counted in the background as substrings. Each is
ranked by its log-odds ratio of appearing in a positive rather than a background listing,
with an informative Dirichlet prior (Monroe, Colaresi and Quinn 2008: the pooled rate of
the phrase, as many pseudo-listings as listings), divided by its standard error. A phrase
already a term, or rejected before, is not offered.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import ahocorasick_rs as ac

from detectors.config import term_key
from detectors.dataset import read_examples
from detectors.engine import Detector
from detectors.model_store import corpus_dir, reference_dir
from detectors.normalize import normalize, normalize_text
from detectors.tokenize import JiebaWords
from tiequan.leads.labels import Label
from tiequan.models.evaluate import label_examples

MAX_NGRAM = 6
MAX_PHRASE = 8
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
    """The phrases of one text: runs of one to three jieba words, character 2–6-grams."""
    out: set[str] = set()
    for run in _RUN.findall(normalize_text(text)):
        tokens = [t for t in words(run) if t.strip()]
        for n in (1, 2, 3):
            out.update("".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
        for n in range(2, MAX_NGRAM + 1):
            out.update(run[i : i + n] for i in range(len(run) - n + 1))
    return {p for p in out if 2 <= len(p) <= MAX_PHRASE and not _PLAIN.fullmatch(p)}


def containing(texts: Iterable[str], phrases: Iterable[str]) -> Counter[str]:
    """How many of ``texts`` (normalised here) contain each of ``phrases``."""
    patterns = sorted(set(phrases))
    if not patterns:
        return Counter()
    automaton = ac.AhoCorasick(patterns)
    out: Counter[str] = Counter()
    for text in texts:
        out.update(set(automaton.find_matches_as_strings(normalize_text(text), overlapping=True)))
    return out


def log_odds(y: int, n: int, b: int, m: int) -> float:
    """z-scored log-odds of a phrase in ``y`` of ``n`` positives against ``b`` of ``m``.

    The prior is the phrase's pooled rate over as many pseudo-listings as there are
    listings: a weak prior lets a phrase seen in three listings and nowhere else outrank
    every word (its zero background count has an enormous variance under a weak prior).
    """
    rate = (y + b + 0.5) / (n + m + 1.0)
    a1, a0 = (n + m) * rate, (n + m) * (1.0 - rate)
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
    """The listing's own text around the first place its normalised form has ``phrase``."""
    norm = normalize(text)
    at = norm.text.find(phrase)
    if at < 0:
        return text[: 2 * SNIPPET]
    first, last = norm.original_span(at, at + len(phrase))
    start, end = max(0, first - SNIPPET), last + SNIPPET
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


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
    back_texts = list(background)
    for example in examples:
        if not example.labels:
            back_texts.append(example.text)
            continue
        found = {f.category for f in rules.detect(example.text)}
        for category in example.labels:
            if category not in found:
                missed[category].append((example.id.split(":", 1)[0], example.text))
    per_category = {c: [candidates(t, words) for _l, t in rows] for c, rows in missed.items()}
    back_df = containing(back_texts, (p for docs in per_category.values() for d in docs for p in d))
    known = {(lex.category, term_key(t.term)) for lex in rules.lexicons for t in lex.terms}
    skip = known | (rejected or set())
    out: list[Suggestion] = []
    m = len(back_texts)
    for category, listings in sorted(missed.items()):
        docs = per_category[category]
        df: Counter[str] = Counter(p for doc in docs for p in doc)
        n = len(docs)
        scored = sorted(
            (
                (log_odds(y, n, back_df[p], m), p)
                for p, y in df.items()
                if y >= MIN_SUPPORT and (category, term_key(p)) not in skip
                if y / n > back_df[p] / max(m, 1)
            ),
            key=lambda x: (-x[0], -len(x[1]), x[1]),
        )
        # A rejected phrase hides its pieces and extensions found in the same listings too.
        turned_down = [p for c, p in rejected or () if c == category]
        hidden = [(p, frozenset(i for i, d in enumerate(docs) if p in d)) for p in turned_down]
        kept: list[tuple[str, frozenset[int]]] = []
        for z, phrase in scored:
            where = frozenset(i for i, doc in enumerate(docs) if phrase in doc)
            if any(where <= w and (phrase in k or k in phrase) for k, w in [*hidden, *kept]):
                continue  # a piece or an extension of a phrase offered, in no other listing
            kept.append((phrase, where))
            shown = tuple(
                ListingExample(listings[i][0], snippet(listings[i][1], phrase))
                for i in sorted(where)[:EXAMPLES]
            )
            out.append(Suggestion(category, phrase, z, len(where), n, back_df[phrase], m, shown))
            if len(kept) >= limit:
                break
    return sorted(out, key=lambda s: -s.score)[:limit]
