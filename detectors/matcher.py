"""Matching: compile lexicons, variants, exceptions, cues and rule anchors once; scan text.

Everything literal goes into one Aho-Corasick automaton, so a normalised text is
scanned once: lexicon terms and their generated respellings (pinyin, initials,
homophones), allow-list exceptions, context cues, and the anchors and
``context_any`` phrases that gate the regex rules. A rule's regex runs only when
one of its anchors was seen, which keeps clean texts away from the regex engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import ahocorasick_rs

from detectors.anchors import fast_start, match_reach
from detectors.config import Context, Cue, Lexicon, Rule, Term
from detectors.normalize import normalize
from detectors.variants import INITIALS, VariantConfig, term_variants

_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_SHORT = 4  # latin runs up to this long must stand alone as a word
GATE_MIN_WEIGHT = 0.4  # a hit this strong opens its category's context-gated rules


@dataclass(slots=True)
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
    kind: str = "term"  # term, pinyin, initials, mixed, homophone or rule


@dataclass(frozen=True, slots=True)
class _TermRef:
    category: str
    term: Term
    weight: float
    kind: str
    key: str


@dataclass(frozen=True, slots=True)
class _ExceptionRef:
    category: str


@dataclass(frozen=True, slots=True)
class _Gate:
    rule: int
    context: bool  # a context_any phrase rather than an anchor


_Payload = _TermRef | _ExceptionRef | Cue | _Gate
# (terms, anchored rules, context-gated rules, excepted categories, cues) of one pattern
SortedPayloads = tuple[
    tuple[_TermRef, ...], tuple[int, ...], tuple[int, ...], tuple[str, ...], tuple[Cue, ...]
]


def _sorted(payloads: Sequence[_Payload]) -> SortedPayloads:
    return (
        tuple(p for p in payloads if isinstance(p, _TermRef)),
        tuple(p.rule for p in payloads if isinstance(p, _Gate) and not p.context),
        tuple(p.rule for p in payloads if isinstance(p, _Gate) and p.context),
        tuple(p.category for p in payloads if isinstance(p, _ExceptionRef)),
        tuple(p for p in payloads if isinstance(p, Cue)),
    )


@dataclass
class Compiled:
    automaton: ahocorasick_rs.AhoCorasick | None
    # per automaton pattern: what it stands for
    payloads: list[tuple[_Payload, ...]]
    # per automaton pattern: term matches must not start / end inside a latin word
    edges: list[tuple[bool, bool]]
    rules: list[tuple[Rule, re.Pattern[str]]]
    reaches: list[int | None]  # per rule: anchors.match_reach of its pattern
    templates: dict[str, str] = field(default_factory=dict)
    crime_templates: dict[str, str] = field(default_factory=dict)
    patterns: list[str] = field(default_factory=list)  # the automaton's, in id order
    # per automaton pattern, its payloads sorted by kind for the scan loop
    sorted_payloads: list[SortedPayloads] = field(default_factory=list)


# Rules of one category left behind a shut gate: (rule index, its anchors' positions).
Gated = list[tuple[int, list[tuple[int, int]]]]


@dataclass(slots=True)
class Scan:
    hits: list[Hit]
    excepted: dict[str, list[tuple[int, int]]]
    cues: list[tuple[Cue, int]]
    # Per category: rules whose anchors occurred but whose gate stayed shut (their product
    # domain was in neither the text, its context nor another claim); run only when asked
    # (``gated_claim``), since most never are.
    gated: dict[str, Gated] = field(default_factory=dict)


def _ascii_run(text: str, reverse: bool = False) -> int:
    run = 0
    for char in reversed(text) if reverse else text:
        if char not in _ASCII_WORD:
            break
        run += 1
    return run


def compile_matcher(
    lexicons: Sequence[Lexicon],
    rules: Sequence[Rule],
    context: Context,
    variants: VariantConfig | None = None,
) -> Compiled:
    index: dict[str, int] = {}
    payloads: list[list[_Payload]] = []
    initials: set[int] = set()

    def add(phrase: str, payload: _Payload) -> int | None:
        key = normalize(phrase).text
        if not key:
            return None
        if key not in index:
            index[key] = len(payloads)
            payloads.append([])
        payloads[index[key]].append(payload)
        return index[key]

    config = variants or VariantConfig()
    explicit: set[tuple[str, str]] = set()
    for lexicon in lexicons:
        for term in lexicon.terms:
            explicit.add((normalize(term.term).text, lexicon.category))
    for lexicon in lexicons:
        for term in lexicon.terms:
            key = f"term:{term.term}"
            add(term.term, _TermRef(lexicon.category, term, term.weight, "term", key))
            for variant in term_variants(term.term, config):
                if (normalize(variant.form).text, lexicon.category) in explicit:
                    continue  # the lexicon spells this one out itself
                ref = _TermRef(
                    lexicon.category, term, term.weight * variant.factor, variant.kind, key
                )
                pid = add(variant.form, ref)
                if pid is not None and variant.kind == INITIALS:
                    initials.add(pid)
        for phrase in lexicon.exceptions:
            add(phrase, _ExceptionRef(lexicon.category))
    for cue in context.cues:
        add(cue.cue, cue)
    for i, rule in enumerate(rules):
        for phrase in rule.anchors:
            add(phrase, _Gate(i, context=False))
        for phrase in rule.context_any:
            add(phrase, _Gate(i, context=True))
    patterns = list(index)
    automaton = (
        ahocorasick_rs.AhoCorasick(patterns, matchkind=ahocorasick_rs.MatchKind.Standard)
        if patterns
        else None
    )
    # Short latin terms (initials like jf, 72v) must stand alone; longer pinyin is
    # distinctive enough to match inside run-together pinyin (jiangxueyajiangxuezhi).
    edges = []
    for pid, pattern in enumerate(patterns):
        lead, trail = _ascii_run(pattern), _ascii_run(pattern, reverse=True)
        strict = pid in initials
        edges.append(
            (lead > 0 and (strict or lead <= _SHORT), trail > 0 and (strict or trail <= _SHORT))
        )
    return Compiled(
        automaton=automaton,
        payloads=[tuple(p) for p in payloads],
        edges=edges,
        rules=[(rule, re.compile(fast_start(rule.pattern))) for rule in rules],
        reaches=[match_reach(rule.pattern) for rule in rules],
        templates={lexicon.category: lexicon.explanation for lexicon in lexicons},
        crime_templates={
            lexicon.category: lexicon.crime_explanation
            for lexicon in lexicons
            if lexicon.crime_explanation
        },
        patterns=patterns,
        sorted_payloads=[_sorted(p) for p in payloads],
    )


def scan(
    compiled: Compiled,
    text: str,
    price: float | None,
    *,
    context_text: str = "",
    hints: frozenset[str] = frozenset(),
) -> Scan | None:
    """Lexicon, exception, cue and rule matches in normalised ``text``; None if none.

    A rule with ``context_any`` fires when one of those phrases occurs in ``text`` or in
    ``context_text`` (the listing's normalised category path and shop), when ``hints``
    name its category, or when ``text`` holds another hit of its category that needs no
    context and weighs at least ``GATE_MIN_WEIGHT``: a travel time beside a promised
    return is a property ad.
    """
    if compiled.automaton is None:
        return None
    matches = compiled.automaton.find_matches_as_indexes(text, overlapping=True)
    if not matches:
        return None
    hits: list[Hit] = []
    excepted: dict[str, list[tuple[int, int]]] = {}
    cues: list[tuple[Cue, int]] = []
    anchored: dict[int, list[tuple[int, int]]] = {}
    contexted: set[int] = set()
    edges, sorted_payloads, last = compiled.edges, compiled.sorted_payloads, len(text)
    # A short text is searched whole (see _windows): its anchors' positions are not needed.
    short = last <= _WHOLE_TEXT
    seen: set[int] = set()
    for pid, start, end in matches:
        terms, anchors, gates, exceptions, pattern_cues = sorted_payloads[pid]
        if short:  # most matches are rule anchors: the cheap case first
            seen.update(anchors)
        else:
            for rule in anchors:
                anchored.setdefault(rule, []).append((start, end))
        if gates:
            contexted.update(gates)
        if pattern_cues:
            cues.extend((cue, start) for cue in pattern_cues)
        for category in exceptions:
            excepted.setdefault(category, []).append((start, end))
        if not terms:
            continue
        starts_ascii, ends_ascii = edges[pid]
        # Latin terms (pinyin, initials) must not sit inside a longer latin word.
        if (starts_ascii and start > 0 and text[start - 1] in _ASCII_WORD) or (
            ends_ascii and end < last and text[end] in _ASCII_WORD
        ):
            continue
        for ref in terms:
            hits.append(
                Hit(
                    ref.category,
                    start,
                    end,
                    ref.weight,
                    ref.term.article,
                    ref.term.severity,
                    ref.key,
                    ref.term.label,
                    None,
                    False,
                    ref.kind,
                )
            )
    if short:
        anchored = dict.fromkeys(seen, _WHOLE)
    gated: dict[str, Gated] = {}
    if anchored:
        if context_text:
            contexted |= _context_gates(compiled, context_text)
        # An allow-listed phrase (延时发货) vouches for no domain either.
        vouching = [h for h in hits if not inside(h, excepted.get(h.category, ()))]
        found, gated = _rule_hits(compiled, text, price, anchored, contexted, hints, vouching)
        hits.extend(found)
    if not hits and not cues and not gated:
        return None
    return Scan(hits, excepted, cues, gated)


def _context_gates(compiled: Compiled, context_text: str) -> set[int]:
    assert compiled.automaton is not None
    found: set[int] = set()
    for pid, _start, _end in compiled.automaton.find_matches_as_indexes(
        context_text, overlapping=True
    ):
        for payload in compiled.payloads[pid]:
            if type(payload) is _Gate and payload.context:
                found.add(payload.rule)
    return found


def _rule_hits(
    compiled: Compiled,
    text: str,
    price: float | None,
    anchored: dict[int, list[tuple[int, int]]],
    contexted: set[int],
    hints: frozenset[str],
    term_hits: Sequence[Hit],
) -> tuple[list[Hit], dict[str, Gated]]:
    """The rule hits, and per category the gated rules left shut (not yet run)."""
    hits: list[Hit] = []
    pending: list[int] = []
    for i in sorted(anchored):
        rule, regex = compiled.rules[i]
        if rule.context_any and i not in contexted and rule.category not in hints:
            pending.append(i)
            continue
        hits.extend(_matches(rule, regex, text, price, _windows(compiled, i, anchored[i], text)))
    gated: dict[str, Gated] = {}
    if pending:
        # A weak word (玻尿酸 in a warning, 学区 in the news) does not vouch for the domain.
        present = {h.category for h in [*term_hits, *hits] if h.weight >= GATE_MIN_WEIGHT}
        for i in pending:
            rule, regex = compiled.rules[i]
            if rule.category in present:
                windows = _windows(compiled, i, anchored[i], text)
                hits.extend(_matches(rule, regex, text, price, windows))
            else:
                gated.setdefault(rule.category, []).append((i, anchored[i]))
    return hits, gated


def gated_claim(
    compiled: Compiled,
    text: str,
    price: float | None,
    rules: Gated,
) -> bool:
    """Whether one of ``rules`` (a ``Scan.gated`` entry) matches: the claim is there,
    its product domain is not."""
    for i, anchors in rules:
        rule, regex = compiled.rules[i]
        if _matches(rule, regex, text, price, _windows(compiled, i, anchors, text)):
            return True
    return False


_WINDOW_MARGIN = 8  # beyond a match's reach, so that lookaheads see what follows
_WHOLE_TEXT = 256  # a text this short is searched whole: windows would cost more
_WHOLE: list[tuple[int, int]] = []  # the anchors of a short text: positions not kept


def _windows(
    compiled: Compiled, rule: int, anchors: list[tuple[int, int]], text: str
) -> list[tuple[int, int]]:
    """Stretches of ``text`` that hold every match of ``rule`` (merged, in order).

    Each match contains an anchor, so it lies within the pattern's reach of one: on a
    long listing the regex reads a few dozen characters around each anchor instead of
    all of it. A pattern of unbounded reach reads the whole text.
    """
    reach = compiled.reaches[rule]
    if reach is None or len(text) <= _WHOLE_TEXT:
        return [(0, len(text))]
    out: list[tuple[int, int]] = []
    for start, end in sorted(anchors):
        lo, hi = max(0, start - reach), min(len(text), end + reach + _WINDOW_MARGIN)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _matches(
    rule: Rule,
    regex: re.Pattern[str],
    text: str,
    price: float | None,
    windows: list[tuple[int, int]],
) -> list[Hit]:
    hits: list[Hit] = []
    if len(windows) == 1 and windows[0] == (0, len(text)):
        matches: Iterable[re.Match[str]] = regex.finditer(text)
    else:
        matches = (m for lo, hi in windows for m in regex.finditer(text, lo, hi))
    for m in matches:
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
                kind="rule",
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
