"""Matching: compile lexicons, exceptions, cues and rules once; scan normalised text.

Everything from the lexicon files (terms, allow-list exceptions, context cues)
goes into one Aho-Corasick automaton, so a text is scanned once for all of it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import ahocorasick_rs

from detectors.config import Context, Cue, Lexicon, Rule, Term
from detectors.normalize import normalize

_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_SHORT = 4


@dataclass
class Hit:
    category: str
    start: int  # normalised offsets
    end: int
    weight: float
    article: str
    severity: str
    key: str  # one entry or rule counts once however often it matches
    claim: str
    rule_template: str | None = None
    cued: bool = False  # shares a sentence/clause with a warning, news or negation cue


@dataclass(frozen=True)
class _TermRef:
    category: str
    term: Term


@dataclass(frozen=True)
class _ExceptionRef:
    category: str


_Payload = _TermRef | _ExceptionRef | Cue


@dataclass
class Compiled:
    automaton: ahocorasick_rs.AhoCorasick | None
    # per automaton pattern: lexicon entries, categories whose exception it is, or a cue
    payloads: list[list[_Payload]]
    edges: list[tuple[bool, bool]]  # pattern starts / ends with an ASCII letter or digit
    rules: list[tuple[Rule, re.Pattern[str], tuple[str, ...]]]  # rule, regex, context
    templates: dict[str, str] = field(default_factory=dict)


def _is_ascii_word(char: str) -> bool:
    return char in _ASCII_WORD


def compile_matcher(
    lexicons: Sequence[Lexicon], rules: Sequence[Rule], context: Context
) -> Compiled:
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
    # Short latin terms (initials like jf, 72v) must stand alone; longer pinyin is
    # distinctive enough to match inside run-together pinyin (jiangxueyajiangxuezhi).
    edges = [
        (len(p) <= _SHORT and _is_ascii_word(p[0]), len(p) <= _SHORT and _is_ascii_word(p[-1]))
        for p in patterns
    ]
    return Compiled(
        automaton=automaton,
        payloads=payloads,
        edges=edges,
        rules=[
            (rule, re.compile(rule.pattern), tuple(normalize(p).text for p in rule.context_any))
            for rule in rules
        ],
        templates={lexicon.category: lexicon.explanation for lexicon in lexicons},
    )


def scan(
    compiled: Compiled, text: str
) -> tuple[list[Hit], dict[str, list[tuple[int, int]]], list[tuple[Cue, int]]]:
    hits: list[Hit] = []
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


def _term_hit(category: str, term: Term, start: int, end: int) -> Hit:
    return Hit(
        category=category,
        start=start,
        end=end,
        weight=term.weight,
        article=term.article,
        severity=term.severity,
        key=f"term:{term.term}",
        claim=term.label,
    )


def rule_hits(compiled: Compiled, text: str, price: float | None) -> list[Hit]:
    hits: list[Hit] = []
    for rule, regex, context_any in compiled.rules:
        if context_any and not any(phrase in text for phrase in context_any):
            continue
        for m in regex.finditer(text):
            if m.end() == m.start():
                continue
            if rule.price_below is not None:
                found = m.groupdict().get("price")
                value = float(found) if found else price
                if value is None or value >= rule.price_below:
                    continue
            hits.append(
                Hit(
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


def inside(hit: Hit, intervals: Sequence[tuple[int, int]]) -> bool:
    return any(s <= hit.start and hit.end <= e for s, e in intervals)


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
