"""Matching: compile lexicons, variants, exceptions, cues and rule anchors once; scan text.

Everything literal goes into one Aho-Corasick automaton, so a normalised text is
scanned once: lexicon terms and their generated respellings (pinyin, initials,
homophones), allow-list exceptions, context cues, the anchors and ``context_any``
phrases that gate the regex rules, and the further literals a rule's matches need
(``anchors.required_literals``). A rule's regex runs only when one of its anchors was
seen and each of those literal sets has a member in the text, which keeps most texts
away from the regex engine.

The per-text work on rules is integer bit arithmetic: each automaton pattern carries
one mask of the rules it anchors, opens (``context_any``) and meets a required-literal
set of, so a text's rules come from OR-ing the masks of its matched patterns. Most
matches are rule anchors, and a Python loop over them would cost more than the
automaton itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from itertools import compress
from operator import itemgetter, or_

import ahocorasick_rs

from detectors.anchors import fast_matches, fast_start, match_reach, required_literals
from detectors.config import Context, Cue, Lexicon, Rule, Term
from detectors.normalize import normalize
from detectors.variants import INITIALS, VariantConfig, term_variants

_ASCII_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_SHORT = 4  # latin runs up to this long must stand alone as a word
GATE_MIN_WEIGHT = 0.4  # a hit this strong opens its category's context-gated rules
_NEED_MAX = 64  # a required-literal set larger than this is not worth its automaton entries
_NEEDS_PER_RULE = 3
# Fields of a pattern's rule mask, each one bit per rule: the rules it anchors, the rules
# it is a context_any phrase of, and the rules whose first, second… required-literal set
# it is a member of.
_ANCHORS, _OPENS, _NEEDS = 0, 1, 2


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


@dataclass(frozen=True, slots=True)
class _Need:
    rule: int
    level: int  # which of the rule's required-literal sets this literal is a member of


_Payload = _TermRef | _ExceptionRef | Cue | _Gate | _Need


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
    # Per automaton pattern, by kind (empty where it has none):
    terms: list[tuple[_TermRef, ...]] = field(default_factory=list)
    exceptions: list[tuple[str, ...]] = field(default_factory=list)  # excepted categories
    cues: list[tuple[Cue, ...]] = field(default_factory=list)
    positional: list[bool] = field(default_factory=list)  # has terms, exceptions or cues
    masks: list[int] = field(default_factory=list)  # its rule mask (see _ANCHORS)
    # Per rule, and rule masks:
    categories: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # Hit.key of its hits
    anchor_patterns: list[frozenset[int]] = field(default_factory=list)
    needs: list[int] = field(default_factory=list)  # field k: rules with a k-th literal set
    contextual: int = 0  # rules with context_any
    by_category: dict[str, int] = field(default_factory=dict)


# Rules of one category left behind a shut gate: (rule index, its anchors' positions).
Gated = list[tuple[int, list[tuple[int, int]]]]
_pid = itemgetter(0)


def _bits(mask: int) -> list[int]:
    """The set bits of ``mask``, lowest first (rule order)."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


@dataclass(slots=True)
class Scan:
    hits: list[Hit]
    excepted: dict[str, list[tuple[int, int]]]
    cues: list[tuple[Cue, int]]
    # Rules (a mask) whose anchors and required literals occurred but whose gate stayed
    # shut (their product domain was in neither the text, its context nor another
    # claim); run only when asked (``gated_claim``), since most never are.
    shut: int = 0
    text: str = ""
    matches: list[tuple[int, int, int]] = field(default_factory=list)

    def gated(self, compiled: Compiled, category: str) -> Gated:
        """The shut rules of ``category``, with their anchors' positions."""
        rules = _bits(self.shut & compiled.by_category.get(category, 0))
        if len(self.text) <= _WHOLE_TEXT:
            return [(i, _WHOLE) for i in rules]
        positions = _positions(self.matches)
        return [(i, _anchor_positions(compiled, i, positions)) for i in rules]


def _ascii_run(text: str, reverse: bool = False) -> int:
    run = 0
    for char in reversed(text) if reverse else text:
        if char not in _ASCII_WORD:
            break
        run += 1
    return run


def _extra_needs(rule: Rule, anchors: list[str], known: dict[str, int]) -> list[frozenset[str]]:
    """The required-literal sets of ``rule`` worth gating on, beyond its anchors.

    A set that every anchor already contains a member of adds nothing. Single characters
    count only when the automaton holds them anyway: a common character of its own would
    cost a match on most texts.
    """
    out = []
    for need in required_literals(rule.pattern):
        if len(need) > _NEED_MAX or all(any(s in a for s in need) for a in anchors):
            continue
        if any(len(s) < 2 and s not in known for s in need):
            continue
        out.append(need)
    out.sort(key=lambda s: (-min(map(len, s)), len(s)))
    return out[:_NEEDS_PER_RULE]


def compile_matcher(
    lexicons: Sequence[Lexicon],
    rules: Sequence[Rule],
    context: Context,
    variants: VariantConfig | None = None,
) -> Compiled:
    index: dict[str, int] = {}
    payloads: list[list[_Payload]] = []
    initials: set[int] = set()

    def add_pattern(key: str, payload: _Payload) -> int:
        if key not in index:
            index[key] = len(payloads)
            payloads.append([])
        payloads[index[key]].append(payload)
        return index[key]

    def add(phrase: str, payload: _Payload) -> int | None:
        key = normalize(phrase).text
        return add_pattern(key, payload) if key else None

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
    rule_anchor_keys: list[list[str]] = []
    for i, rule in enumerate(rules):
        keys = []
        for phrase in rule.anchors:
            add(phrase, _Gate(i, context=False))
            keys.append(normalize(phrase).text)
        rule_anchor_keys.append([k for k in keys if k])
        for phrase in rule.context_any:
            add(phrase, _Gate(i, context=True))
    # Required literals are matched as the regex reads them, in normalised text: verbatim.
    levels = 0
    for i, rule in enumerate(rules):
        for level, need in enumerate(_extra_needs(rule, rule_anchor_keys[i], index)):
            for literal in sorted(need):
                add_pattern(literal, _Need(i, level))
            levels = max(levels, level + 1)
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
    compiled = Compiled(
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
        categories=[rule.category for rule in rules],
        keys=[f"rule:{rule.id}" for rule in rules],
    )
    _index_payloads(compiled, len(rules), levels)
    return compiled


def _index_payloads(compiled: Compiled, rule_count: int, levels: int) -> None:
    """Fill the per-pattern tables and rule masks of ``compiled`` from its payloads."""
    width = rule_count
    anchor_patterns: list[set[int]] = [set() for _ in range(rule_count)]
    needs = [0] * levels
    for pid, items in enumerate(compiled.payloads):
        compiled.terms.append(tuple(p for p in items if isinstance(p, _TermRef)))
        compiled.exceptions.append(tuple(p.category for p in items if isinstance(p, _ExceptionRef)))
        compiled.cues.append(tuple(p for p in items if isinstance(p, Cue)))
        compiled.positional.append(
            bool(compiled.terms[-1] or compiled.exceptions[-1] or compiled.cues[-1])
        )
        mask = 0
        for p in items:
            if isinstance(p, _Gate):
                mask |= 1 << ((_OPENS if p.context else _ANCHORS) * width + p.rule)
                if not p.context:
                    anchor_patterns[p.rule].add(pid)
            elif isinstance(p, _Need):
                mask |= 1 << ((_NEEDS + p.level) * width + p.rule)
                needs[p.level] |= 1 << p.rule
        compiled.masks.append(mask)
    compiled.anchor_patterns = [frozenset(p) for p in anchor_patterns]
    compiled.needs = needs
    for i, (rule, _regex) in enumerate(compiled.rules):
        if rule.context_any:
            compiled.contextual |= 1 << i
        compiled.by_category[rule.category] = compiled.by_category.get(rule.category, 0) | 1 << i


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
    ids = set(map(_pid, matches))
    hits: list[Hit] = []
    excepted: dict[str, list[tuple[int, int]]] = {}
    cues: list[tuple[Cue, int]] = []
    if any(map(compiled.positional.__getitem__, ids)):
        _positional_hits(compiled, text, matches, hits, excepted, cues)
    width = len(compiled.rules)
    full = (1 << width) - 1
    mask = reduce(or_, map(compiled.masks.__getitem__, ids), 0)
    anchored = mask & full
    shut = 0
    if anchored:
        # A rule runs only if each of its required-literal sets has a member in the text.
        for level, has in enumerate(compiled.needs):
            anchored &= (mask >> ((_NEEDS + level) * width)) | ~has
        shut = anchored & compiled.contextual & ~(mask >> (_OPENS * width))
    if shut:
        for category in hints:
            shut &= ~compiled.by_category.get(category, 0)
        if shut and context_text:
            shut &= ~_context_gates(compiled, context_text)
    if anchored:
        found = _run_rules(compiled, text, price, anchored & ~shut, matches)
        if shut:
            # An allow-listed phrase (延时发货) vouches for no domain either; a weak word
            # (玻尿酸 in a warning, 学区 in the news) does not vouch for the domain.
            vouching = (
                [h for h in hits if not inside(h, excepted.get(h.category, ()))]
                if excepted
                else hits
            )
            present = {h.category for h in (*vouching, *found) if h.weight >= GATE_MIN_WEIGHT}
            opened = 0
            for category in present:
                opened |= shut & compiled.by_category.get(category, 0)
            if opened:
                found.extend(_run_rules(compiled, text, price, opened, matches))
                shut &= ~opened
        hits.extend(found)
    if not hits and not cues and not shut:
        return None
    return Scan(hits, excepted, cues, shut, text, matches)


def _positional_hits(
    compiled: Compiled,
    text: str,
    matches: list[tuple[int, int, int]],
    hits: list[Hit],
    excepted: dict[str, list[tuple[int, int]]],
    cues: list[tuple[Cue, int]],
) -> None:
    """Term hits, excepted stretches and cues, in match order."""
    last = len(text)
    flags = map(compiled.positional.__getitem__, map(_pid, matches))
    for pid, start, end in compress(matches, flags):
        for cue in compiled.cues[pid]:
            cues.append((cue, start))
        for category in compiled.exceptions[pid]:
            excepted.setdefault(category, []).append((start, end))
        terms = compiled.terms[pid]
        if not terms:
            continue
        starts_ascii, ends_ascii = compiled.edges[pid]
        # Latin terms (pinyin, initials) must not sit inside a longer latin word.
        if (starts_ascii and start > 0 and text[start - 1] in _ASCII_WORD) or (
            ends_ascii and end < last and text[end] in _ASCII_WORD
        ):
            continue
        for ref in terms:
            term = ref.term
            hits.append(
                Hit(
                    ref.category,
                    start,
                    end,
                    ref.weight,
                    term.article,
                    term.severity,
                    ref.key,
                    term.label,
                    None,
                    False,
                    ref.kind,
                )
            )


def _run_rules(
    compiled: Compiled,
    text: str,
    price: float | None,
    rules: int,
    matches: list[tuple[int, int, int]],
) -> list[Hit]:
    """The hits of the rules in mask ``rules``, in rule order."""
    hits: list[Hit] = []
    if len(text) <= _WHOLE_TEXT:
        for i in _bits(rules):
            hits.extend(_matches(compiled, i, text, price, None))
        return hits
    positions = _positions(matches)
    for i in _bits(rules):
        anchors = _anchor_positions(compiled, i, positions)
        hits.extend(_matches(compiled, i, text, price, _windows(compiled, i, anchors, text)))
    return hits


def _positions(matches: list[tuple[int, int, int]]) -> dict[int, list[tuple[int, int]]]:
    """Per matched pattern, where it occurs (one pass, shared by every rule of a text)."""
    out: dict[int, list[tuple[int, int]]] = {}
    for pid, start, end in matches:
        found = out.get(pid)
        if found is None:
            out[pid] = [(start, end)]
        else:
            found.append((start, end))
    return out


def _anchor_positions(
    compiled: Compiled, rule: int, positions: dict[int, list[tuple[int, int]]]
) -> list[tuple[int, int]]:
    if compiled.reaches[rule] is None:
        return _WHOLE  # read whole anyway
    return [
        at for pid in compiled.anchor_patterns[rule] & positions.keys() for at in positions[pid]
    ]


def _context_gates(compiled: Compiled, context_text: str) -> int:
    """The rules (a mask) that ``context_text`` holds a context_any phrase of."""
    assert compiled.automaton is not None
    found = compiled.automaton.find_matches_as_indexes(context_text, overlapping=True)
    mask = reduce(or_, map(compiled.masks.__getitem__, set(map(_pid, found))), 0)
    return (mask >> (_OPENS * len(compiled.rules))) & ((1 << len(compiled.rules)) - 1)


def gated_claim(compiled: Compiled, text: str, price: float | None, rules: Gated) -> bool:
    """Whether one of ``rules`` (a ``Scan.gated`` list) matches: the claim is there,
    its product domain is not."""
    for i, anchors in rules:
        if _matches(compiled, i, text, price, _windows(compiled, i, anchors, text)):
            return True
    return False


_WINDOW_MARGIN = 8  # beyond a match's reach, so that lookaheads see what follows
_WHOLE_TEXT = 256  # a text this short is searched whole: windows would cost more
_WHOLE: list[tuple[int, int]] = []  # anchors whose positions are not needed


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
    compiled: Compiled,
    i: int,
    text: str,
    price: float | None,
    windows: list[tuple[int, int]] | None,
) -> list[Hit]:
    """Hits of rule ``i`` in ``windows`` of ``text`` (None: the whole text)."""
    rule, regex = compiled.rules[i]
    if windows is None or (len(windows) == 1 and windows[0] == (0, len(text))):
        if regex.search(text) is None:
            return []  # the common case: one call into the engine, no iterator
        matches: Iterable[tuple[int, int, re.Match[str]]] = fast_matches(regex, text)
    else:
        matches = (m for lo, hi in windows for m in fast_matches(regex, text, lo, hi))
    hits: list[Hit] = []
    for start, end, m in matches:
        if end == start:
            continue
        if rule.price_below is not None:
            found = m.groupdict().get("price")
            value = float(found) if found else price
            if value is None or value >= rule.price_below:
                continue
        hits.append(
            Hit(
                rule.category,
                start,
                end,
                rule.weight,
                rule.article,
                rule.severity,
                compiled.keys[i],
                text[start:end],
                rule.explanation,
                False,
                "rule",
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
