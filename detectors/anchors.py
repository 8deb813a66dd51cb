"""Anchor keywords of regex rules: which literals every match must contain.

The engine runs a rule's regex only when the Aho-Corasick pass has seen one of its
``anchors``, so a rule with a wrong anchor list would silently stop firing. The
config loader therefore checks, on the parsed pattern, that the anchors cover it:
every way the pattern can match goes through a literal that contains an anchor.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from re import _parser as sre  # type: ignore[attr-defined]  # stable since 3.11
from typing import Any


@lru_cache(maxsize=2048)
def _parse(pattern: str) -> Any:
    """The parsed pattern (read, never changed): loading and compiling a rule parse it
    for its anchors, reach, first characters and required literals."""
    return sre.parse(pattern)


_MAX_CLASS = 12  # a character class of up to this many literals counts as alternatives
_MAX_STRINGS = 256  # expansion limit for runs of literal alternatives


def _is_repeat(op: Any) -> bool:
    return op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None))


def _class_chars(av: Any) -> list[str] | None:
    chars: list[str] = []
    for op, value in av:
        if op is not sre.LITERAL:
            return None  # ranges, categories, negation
        chars.append(chr(value))
    return chars if len(chars) <= _MAX_CLASS else None


def _finite(op: Any, av: Any) -> list[str] | None:
    """The strings one item can match, if they are few; None otherwise."""
    if op is sre.LITERAL:
        return [chr(av)]
    if op is sre.IN:
        return _class_chars(av)
    if op is sre.SUBPATTERN:
        return _finite_seq(av[-1])
    if op is sre.BRANCH:
        out: list[str] = []
        for branch in av[1]:
            strings = _finite_seq(branch)
            if strings is None:
                return None
            out.extend(strings)
        return out if len(out) <= _MAX_STRINGS else None
    if _is_repeat(op) and av[0] == 0 and av[1] == 1:
        inner = _finite_seq(av[2])
        return None if inner is None else ["", *inner]
    return None


def _finite_seq(seq: Any) -> list[str] | None:
    strings = [""]
    for op, av in seq:
        options = _finite(op, av)
        if options is None:
            return None
        strings = [s + o for s in strings for o in options]
        if len(strings) > _MAX_STRINGS:
            return None
    return strings


def _covered_seq(seq: Any, anchors: tuple[str, ...], prefixes: tuple[str, ...] = ("",)) -> bool:
    """True if every match of the sequence contains one of ``anchors``.

    Runs of items with few possible strings (literals, small classes, alternations
    of literals: the parser turns 冰(?:乙|醋)酸 into three items) are expanded, and
    the run counts if each of its strings contains an anchor. ``prefixes`` are the
    strings that may precede the sequence: the parser pulls a common prefix out of an
    alternation (一针…|一支… becomes 一(?:针…|支…)), and an anchor may straddle it.
    """
    run = list(prefixes)
    for op, av in [*list(seq), (None, None)]:
        options = None if op is None else _finite(op, av)
        if options is not None and len(run) * len(options) <= _MAX_STRINGS:
            run = [s + o for s in run for o in options]
            continue
        if run != [""] and all(any(a in s for a in anchors) for s in run):
            return True
        before, run = run, [""] if options is None else options
        if op is not None and options is None and _covered_item(op, av, anchors, before):
            return True
    return False


def _covered_item(op: Any, av: Any, anchors: tuple[str, ...], before: list[str]) -> bool:
    # Only the tail of what precedes can form an anchor with what follows.
    width = max((len(a) for a in anchors), default=1) - 1
    tails = tuple(dict.fromkeys(s[len(s) - width :] if width else "" for s in before)) or ("",)
    if op is sre.SUBPATTERN:
        return _covered_seq(av[-1], anchors, tails)
    if op is sre.BRANCH:
        return all(_covered_seq(branch, anchors, tails) for branch in av[1])
    if _is_repeat(op):
        return bool(av[0] >= 1 and _covered_seq(av[2], anchors))
    return False


def anchor_problem(pattern: str, anchors: tuple[str, ...]) -> str | None:
    """Why ``anchors`` do not gate ``pattern`` safely, or None when they do."""
    if not anchors:
        return "every rule needs at least one anchor"
    if not _covered_seq(_parse(pattern), anchors):
        return "some matches of the pattern contain none of the anchors"
    return None


def _required(seq: Any) -> set[str] | None:
    best: set[str] | None = None

    def better(candidate: set[str] | None) -> None:
        nonlocal best
        if not candidate:
            return
        key = (min(len(c) for c in candidate), -len(candidate))
        if best is None or key > (min(len(c) for c in best), -len(best)):
            best = candidate

    run = ""
    for op, av in [*list(seq), (None, None)]:
        if op is sre.LITERAL:
            run += chr(av)
            continue
        better({run} if run else None)
        run = ""
        if op is sre.SUBPATTERN:
            better(_required(av[-1]))
        elif op is sre.BRANCH:
            parts = [_required(b) for b in av[1]]
            if all(parts):
                better(set().union(*[p for p in parts if p]))
        elif _is_repeat(op) and av[0] >= 1:
            better(_required(av[2]))
        elif op is sre.IN:
            chars = _class_chars(av)
            better(set(chars) if chars else None)
    return best


def derive_anchors(pattern: str) -> list[str]:
    """A suggestion for a rule's ``anchors``: the best literal set found, or []."""
    found = _required(_parse(pattern)) or set()
    # An anchor that contains another one adds nothing.
    return sorted(a for a in found if not any(b != a and b in a for b in found))


_DIGITISH = frozenset("0123456789.,")
_UNBOUNDED_DIGITS = 24  # a run of digits longer than this is no claim anybody reads


def _width(seq: Any) -> tuple[int, int] | None:
    """(max match width, max lookaround reach) of a parsed sequence; None if unbounded."""
    width = reach = 0
    for op, av in seq:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY, sre.CATEGORY):
            width += 1
        elif op is sre.AT:
            continue
        elif op is sre.SUBPATTERN:
            inner = _width(av[-1])
            if inner is None:
                return None
            width, reach = width + inner[0], max(reach, inner[1])
        elif op is sre.BRANCH:
            parts = [_width(b) for b in av[1]]
            if any(p is None for p in parts):
                return None
            width += max(p[0] for p in parts if p is not None)
            reach = max([reach, *(p[1] for p in parts if p is not None)])
        elif _is_repeat(op):
            _lo, hi, item = av
            inner = _width(item)
            if inner is None:
                return None
            if hi == sre.MAXREPEAT:
                if not _digitish(item):
                    return None
                hi = _UNBOUNDED_DIGITS
            width, reach = width + hi * inner[0], max(reach, inner[1])
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            inner = _width(av[1])
            if inner is None:
                return None
            reach = max(reach, inner[0] + inner[1])
        else:
            return None  # back-references and the like: no window
    return width, reach


def _digitish(item: Any) -> bool:
    """True for one character of \\d or a class of digits and separators."""
    if len(item) != 1:
        return False
    op, av = item[0]
    if op is sre.IN:
        for kind, value in av:
            if kind is sre.CATEGORY and value is sre.CATEGORY_DIGIT:
                continue
            if kind is sre.LITERAL and chr(value) in _DIGITISH:
                continue
            if kind is sre.RANGE and all(chr(v) in _DIGITISH for v in value):
                continue
            return False
        return True
    return op is sre.LITERAL and chr(av) in _DIGITISH


def match_reach(pattern: str) -> int | None:
    """How far from one of its anchors a match (with its lookarounds) can reach, or None.

    Every match contains an anchor, so it lies within this many characters of the
    anchor's occurrence: the engine searches windows around anchors instead of the
    whole text. None when the pattern can match arbitrarily long text.
    """
    found = _width(_parse(pattern))
    return None if found is None else found[0] + found[1]


_CATEGORY_CLASS = {
    "CATEGORY_DIGIT": r"\d",
    "CATEGORY_SPACE": r"\s",
    "CATEGORY_WORD": r"\w",
}


def _class_parts(av: Any) -> list[str] | None:
    """A character class's members as regex class syntax; None for a negated class."""
    parts: list[str] = []
    for op, value in av:
        if op is sre.LITERAL:
            parts.append(re.escape(chr(value)))
        elif op is sre.RANGE:
            parts.append(f"{re.escape(chr(value[0]))}-{re.escape(chr(value[1]))}")
        elif op is sre.CATEGORY and str(value) in _CATEGORY_CLASS:
            parts.append(_CATEGORY_CLASS[str(value)])
        else:
            return None  # NEGATE and the rest
    return parts


def _first(seq: Any) -> tuple[list[str], bool] | None:
    """The characters a match of ``seq`` can start with, as class syntax, and whether it
    can match the empty string; None when that cannot be said (``.``, negated classes)."""
    found: list[str] = []
    for op, av in seq:
        if op is sre.LITERAL:
            return [*found, re.escape(chr(av))], False
        if op is sre.IN:
            parts = _class_parts(av)
            return None if parts is None else ([*found, *parts], False)
        if op in (sre.ASSERT, sre.ASSERT_NOT, sre.AT):
            continue  # zero-width: the next item supplies the first character
        if op is sre.SUBPATTERN:
            inner = _first(av[-1])
        elif op is sre.BRANCH:
            branches = [_first(branch) for branch in av[1]]
            if any(b is None for b in branches):
                return None
            inner = (
                [p for b in branches if b is not None for p in b[0]],
                any(b is not None and b[1] for b in branches),
            )
        elif _is_repeat(op):
            inner = _first(av[2])
            if inner is not None and av[0] == 0:
                inner = (inner[0], True)
        else:
            return None
        if inner is None:
            return None
        found.extend(inner[0])
        if not inner[1]:
            return found, False
    return found, True


def _engine_skips(seq: Any) -> bool:
    """Whether the engine itself skips ahead: the pattern opens with a literal or a class,
    or with an alternation whose every branch opens with a literal (see ``re._compiler``'s
    literal and charset prefixes)."""
    items = list(seq)
    while items and items[0][0] is sre.SUBPATTERN and not items[0][1][1] and not items[0][1][2]:
        items = list(items[0][1][-1])
    if not items:
        return False
    op, av = items[0]
    if op in (sre.LITERAL, sre.IN):
        return True
    return op is sre.BRANCH and all(b and b[0][0] is sre.LITERAL for b in av[1])


START_GROUP = "_fast_start"  # the group holding a match of a ``fast_start`` pattern


# A back-reference (\1, (?P=name), (?(1)…)) would point at the wrong group once the pattern is
# wrapped in one more; a false alarm (an escaped backslash before a digit) only costs speed.
_GROUP_REFERENCE = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")


def fast_start(pattern: str) -> str:
    """``pattern`` rewritten to open with a class of the characters its matches start with.

    Python's regex engine tries a pattern at every position of the text; a pattern that
    opens with a group, an alternation of groups or a lookbehind gets no first-character
    skip, and each failing position costs a walk through every alternative. The rewrite
    consumes one character of that class, so the engine skips ahead in C to where a
    match can start, and then looks back to run the whole pattern as a lookahead from
    there, its match in group ``START_GROUP``: ``[abc](?<=(?=(?P<_fast_start>P))[abc])``.

    A match of the rewrite is that one character; its group is the match ``pattern``
    would have found at that position, and searching again from the group's end gives
    ``finditer``'s matches in order (``fast_matches``). A pattern whose engine skips on
    its own, whose first characters cannot be listed, that can match empty, that sets
    global flags or refers back to its groups is returned as it is.
    """
    if pattern.startswith("(?") and pattern[2:3].isalpha():
        return pattern  # global inline flags must stay first
    parsed = _parse(pattern)
    if _engine_skips(parsed) or _GROUP_REFERENCE.search(pattern):
        return pattern
    found = _first(parsed)
    if found is None or found[1] or not found[0]:
        return pattern
    members = "[" + "".join(dict.fromkeys(found[0])) + "]"
    return f"{members}(?<=(?=(?P<{START_GROUP}>{pattern})){members})"


def fast_matches(
    regex: re.Pattern[str], text: str, pos: int = 0, endpos: int | None = None
) -> Iterator[tuple[int, int, re.Match[str]]]:
    """(start, end, match) of each match of a ``fast_start`` regex, as ``finditer`` of the
    original pattern would find them; ``match`` carries the pattern's own groups."""
    end_at = len(text) if endpos is None else endpos
    if START_GROUP not in regex.groupindex:
        for m in regex.finditer(text, pos, end_at):
            yield m.start(), m.end(), m
        return
    search = regex.search
    found = search(text, pos, end_at)
    while found is not None:
        start, pos = found.span(START_GROUP)
        yield start, pos, found
        found = search(text, pos, end_at)


# Inline flags ((?i), (?s:…)) change what a literal matches: such patterns get no extra gates.
_INLINE_FLAGS = re.compile(r"\(\?[aiLmsux-]")


def _minimal(strings: set[str]) -> frozenset[str]:
    """The strings no other one of them is part of: a text holding a longer one holds that."""
    if len(strings) < 2:
        return frozenset(strings)
    shortest = min(map(len, strings))
    kept: set[str] = set()
    for candidate in sorted(strings, key=len):  # shorter first: only those can be inside
        n = len(candidate)
        parts = (candidate[i:j] for i in range(n) for j in range(i + shortest, n + 1))
        if not any(part in kept for part in parts):
            kept.add(candidate)
    return frozenset(kept)


def _needs_seq(seq: Any) -> list[frozenset[str]]:
    """Literal sets of which every match of ``seq`` contains one member each."""
    out: list[frozenset[str]] = []
    run = [""]
    for op, av in [*list(seq), (None, None)]:
        options = None if op is None else _finite(op, av)
        if options is not None and len(run) * len(options) <= _MAX_STRINGS:
            run = [s + o for s in run for o in options]
            continue
        if "" not in run:  # the run is consumed whole: the match holds one of its strings
            out.append(_minimal(set(run)))
        run = [""] if options is None else options
        if op is not None and options is None:
            out.extend(_needs_item(op, av))
    return out


def _needs_item(op: Any, av: Any) -> list[frozenset[str]]:
    if op is sre.SUBPATTERN:
        return _needs_seq(av[-1])
    if op is sre.BRANCH:
        per_branch = [_needs_seq(branch) for branch in av[1]]
        if not all(per_branch):
            return []
        # One set per branch, the one with the longest shortest member; their union.
        chosen = [max(sets, key=lambda s: (min(map(len, s)), -len(s))) for sets in per_branch]
        return [_minimal(set().union(*chosen))]
    if _is_repeat(op) and av[0] >= 1:
        return _needs_seq(av[2])
    return []  # lookarounds, anchors, back-references: nothing that must be consumed


def required_literals(pattern: str) -> list[frozenset[str]]:
    """Sets of literal strings such that every match of ``pattern`` contains a member of each.

    Lookarounds are left out (their text need not lie inside the match). The engine uses
    the sets beyond a rule's anchors as further gates: a regex whose match would need a
    string the text does not hold is not run.
    """
    if _INLINE_FLAGS.search(pattern):
        return []
    return [s for s in _needs_seq(_parse(pattern)) if s and "" not in s]
