"""The rule-based detector: one Aho-Corasick pass plus regex rules over normalised text.

v1 of the detector interface: ``Detector.detect`` returns one ``Finding`` per
category whose combined evidence reaches the score threshold. A later trained,
calibrated model can sit behind the same method.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ahocorasick_rs

from detectors.base import CATEGORY_IDS, Finding
from detectors.config import (
    SEVERITIES,
    Context,
    Cue,
    Lexicon,
    Rule,
    Term,
    default_config_dir,
    load_config,
)
from detectors.context import Scopes
from detectors.normalize import Normalized, normalize

_FALLBACK_TEMPLATE = "宣称{claims}，违反{article}"
_MAX_CLAIMS = 3
_MAX_ARTICLES = 3
_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ORDER = {c: i for i, c in enumerate(CATEGORY_IDS)}


@dataclass
class _Hit:
    category: str
    start: int  # normalised offsets
    end: int
    weight: float
    article: str
    severity: str
    key: str  # one entry or rule counts once however often it matches
    claim: str
    rule_template: str | None = None


@dataclass(frozen=True)
class _TermRef:
    category: str
    term: Term


@dataclass(frozen=True)
class _ExceptionRef:
    category: str


_Payload = _TermRef | _ExceptionRef | Cue


@dataclass
class _Compiled:
    automaton: ahocorasick_rs.AhoCorasick | None
    # per automaton pattern: lexicon entries, categories whose exception it is, or a cue
    payloads: list[list[_Payload]]
    edges: list[tuple[bool, bool]]  # pattern starts / ends with an ASCII letter or digit
    rules: list[tuple[Rule, re.Pattern[str]]]
    templates: dict[str, str] = field(default_factory=dict)


class Detector:
    """Flags illegal claims in listing text; see ``detect``."""

    def __init__(
        self,
        lexicons: Sequence[Lexicon],
        rules: Sequence[Rule],
        *,
        context: Context | None = None,
        min_score: float | None = None,
    ) -> None:
        self.lexicons = list(lexicons)
        self.rules = list(rules)
        self.context = context or Context()
        self.min_score = self.context.min_score if min_score is None else min_score
        self._compiled: _Compiled | None = None

    @classmethod
    def from_config(
        cls, config_dir: Path | None = None, *, min_score: float | None = None
    ) -> Detector:
        """Load <repo>/config (or TIEQUAN_CONFIG_DIR, or ``config_dir``); raises ConfigError."""
        lexicons, rules, context = load_config(config_dir or default_config_dir())
        return cls(lexicons, rules, context=context, min_score=min_score)

    def compile(self) -> None:
        """Build the automaton and regexes now rather than on the first ``detect``."""
        self._get_compiled()

    def _get_compiled(self) -> _Compiled:
        if self._compiled is None:
            self._compiled = _compile(self.lexicons, self.rules, self.context)
        return self._compiled

    def detect(self, text: str, *, price: float | None = None) -> list[Finding]:
        """Findings for ``text`` (spans in its own character offsets), in category order.

        ``price`` is the listing price, used by rules that combine a claim with a
        low price (e.g. 100%羊绒 far below the cost of cashmere).
        """
        norm = normalize(text)
        if not norm.text:
            return []
        compiled = self._get_compiled()
        hits, excepted, cues = _scan(compiled, norm.text)
        hits.extend(_rule_hits(compiled, norm.text, price))
        hits = [h for h in hits if not _inside(h, excepted.get(h.category, ()))]
        if not hits:
            return []
        if cues:
            self._downweight(hits, cues, norm, text)
        by_category: dict[str, list[_Hit]] = defaultdict(list)
        for hit in hits:
            by_category[hit.category].append(hit)
        findings = []
        for category in sorted(by_category, key=lambda c: _ORDER.get(c, len(_ORDER))):
            finding = self._finding(category, by_category[category], norm, text, compiled)
            if finding is not None:
                findings.append(finding)
        return findings

    def _downweight(
        self, hits: list[_Hit], cues: list[tuple[Cue, int]], norm: Normalized, text: str
    ) -> None:
        scopes = Scopes(text)
        marked = {
            (cue.scope, scopes.scope_of(norm.offsets[start], cue.scope)) for cue, start in cues
        }
        for hit in hits:
            origin = norm.offsets[hit.start]
            if any(
                (kind, scopes.scope_of(origin, kind)) in marked for kind in ("sentence", "clause")
            ):
                hit.weight *= self.context.factor

    def _finding(
        self,
        category: str,
        hits: list[_Hit],
        norm: Normalized,
        text: str,
        compiled: _Compiled,
    ) -> Finding | None:
        best: dict[str, _Hit] = {}
        for hit in hits:
            if hit.key not in best or hit.weight > best[hit.key].weight:
                best[hit.key] = hit
        score = min(1.0, max(0.0, 1.0 - math.prod(1.0 - h.weight for h in best.values())))
        if score < self.min_score or score <= 0.0:
            return None
        ranked = sorted(best.values(), key=lambda h: (-h.weight, h.start))
        articles = list(dict.fromkeys(h.article for h in ranked))[:_MAX_ARTICLES]
        article = "；".join(articles)
        claims = list(dict.fromkeys(h.claim for h in ranked))[:_MAX_CLAIMS]
        strongest = ranked[0]
        if strongest.rule_template is not None:
            explanation = strongest.rule_template.format(match=strongest.claim, article=article)
        else:
            template = compiled.templates.get(category, _FALLBACK_TEMPLATE)
            explanation = template.format(claims="".join(f"“{c}”" for c in claims), article=article)
        spans = _merge(norm.original_span(h.start, h.end) for h in hits)
        return Finding(
            category=category,
            score=score,
            article=article,
            spans=spans,
            explanation=explanation,
            matched=[text[s:e] for s, e in spans],
            severity=max((h.severity for h in hits), key=_severity_rank),
        )


def _severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def _is_ascii_word(char: str) -> bool:
    return char in _ASCII_WORD


def _compile(lexicons: Sequence[Lexicon], rules: Sequence[Rule], context: Context) -> _Compiled:
    index: dict[str, int] = {}
    payloads: list[list[_Payload]] = []

    def add(phrase: str, payload: _Payload) -> None:
        key = normalize(phrase).text
        if key not in index:
            index[key] = len(payloads)
            payloads.append([])
        payloads[index[key]].append(payload)

    for lexicon in lexicons:
        for term in lexicon.terms:
            add(term.term, _TermRef(lexicon.category, term))
        for phrase in lexicon.exceptions:
            add(phrase, _ExceptionRef(lexicon.category))
    for cue in context.cues:
        add(cue.cue, cue)
    patterns = list(index)
    automaton = (
        ahocorasick_rs.AhoCorasick(patterns, matchkind=ahocorasick_rs.MatchKind.Standard)
        if patterns
        else None
    )
    edges = [(_is_ascii_word(p[0]), _is_ascii_word(p[-1])) for p in patterns]
    return _Compiled(
        automaton=automaton,
        payloads=payloads,
        edges=edges,
        rules=[(rule, re.compile(rule.pattern)) for rule in rules],
        templates={lexicon.category: lexicon.explanation for lexicon in lexicons},
    )


def _scan(
    compiled: _Compiled, text: str
) -> tuple[list[_Hit], dict[str, list[tuple[int, int]]], list[tuple[Cue, int]]]:
    hits: list[_Hit] = []
    excepted: dict[str, list[tuple[int, int]]] = defaultdict(list)
    cues: list[tuple[Cue, int]] = []
    if compiled.automaton is None:
        return hits, excepted, cues
    for pid, start, end in compiled.automaton.find_matches_as_indexes(text, overlapping=True):
        starts_ascii, ends_ascii = compiled.edges[pid]
        # Latin terms (pinyin, initials) must not sit inside a longer latin word.
        if starts_ascii and start > 0 and _is_ascii_word(text[start - 1]):
            continue
        if ends_ascii and end < len(text) and _is_ascii_word(text[end]):
            continue
        for payload in compiled.payloads[pid]:
            if isinstance(payload, _TermRef):
                hits.append(_term_hit(payload.category, payload.term, start, end))
            elif isinstance(payload, _ExceptionRef):
                excepted[payload.category].append((start, end))
            else:
                cues.append((payload, start))
    return hits, excepted, cues


def _term_hit(category: str, term: Term, start: int, end: int) -> _Hit:
    return _Hit(
        category=category,
        start=start,
        end=end,
        weight=term.weight,
        article=term.article,
        severity=term.severity,
        key=f"term:{term.term}",
        claim=term.label,
    )


def _rule_hits(compiled: _Compiled, text: str, price: float | None) -> list[_Hit]:
    hits: list[_Hit] = []
    for rule, regex in compiled.rules:
        for m in regex.finditer(text):
            if m.end() == m.start():
                continue
            if rule.price_below is not None:
                found = m.groupdict().get("price")
                value = float(found) if found else price
                if value is None or value >= rule.price_below:
                    continue
            hits.append(
                _Hit(
                    category=rule.category,
                    start=m.start(),
                    end=m.end(),
                    weight=rule.weight,
                    article=rule.article,
                    severity=rule.severity,
                    key=f"rule:{rule.id}",
                    claim=m.group(0),
                    rule_template=rule.explanation,
                )
            )
    return hits


def _inside(hit: _Hit, intervals: Sequence[tuple[int, int]]) -> bool:
    return any(s <= hit.start and hit.end <= e for s, e in intervals)


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
