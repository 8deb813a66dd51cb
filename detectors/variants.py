"""Respelt forms of lexicon terms: pinyin, initials, homophones, look-alikes, split characters.

The settings and substitution tables are data (config/lexicons/_variants.yaml); the
matcher asks ``term_variants`` for every lexicon term when it compiles and puts
the forms into the same automaton as the terms, each with a weight factor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.pinyin import pinyin_forms

PINYIN, INITIALS, MIXED, HOMOPHONE = "pinyin", "initials", "mixed", "homophone"
_MAX_CHAR_VARIANTS = 12


@dataclass(frozen=True)
class VariantConfig:
    """Which respellings to generate and how much each kind counts."""

    pinyin_factor: float = 0.9
    mixed_factor: float = 0.9
    initials_factor: float = 0.7
    initials_min_chars: int = 3
    stop: frozenset[str] = frozenset()
    chars: dict[str, tuple[str, ...]] = field(default_factory=dict)
    terms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    char_factor: float = 0.9
    term_factor: float = 0.9
    source: str = ""


@dataclass(frozen=True)
class Variant:
    form: str
    factor: float
    kind: str


def variant_config(data: dict[str, Any], source: Path | str = "") -> VariantConfig:
    """Build the settings from a validated _variants.yaml mapping."""
    pinyin = data.get("pinyin", {})
    factors = data.get("factors", {})
    return VariantConfig(
        pinyin_factor=float(pinyin.get("factor", 0.9)),
        mixed_factor=float(pinyin.get("mixed_factor", 0.9)),
        initials_factor=float(pinyin.get("initials_factor", 0.7)),
        initials_min_chars=int(pinyin.get("initials_min_chars", 3)),
        stop=frozenset(s.lower() for s in pinyin.get("stop", ())),
        chars={k: tuple(v) for k, v in data.get("chars", {}).items()},
        terms={k: tuple(v) for k, v in data.get("terms", {}).items()},
        char_factor=float(factors.get("chars", 0.9)),
        term_factor=float(factors.get("terms", 0.9)),
        source=str(source),
    )


def _char_substitutions(term: str, chars: dict[str, tuple[str, ...]]) -> list[str]:
    out: list[str] = []
    positions = [i for i, c in enumerate(term) if c in chars]
    for i in positions:
        for substitute in chars[term[i]]:
            out.append(term[:i] + substitute + term[i + 1 :])
    if len(positions) > 1:
        out.append("".join(chars[c][0] if c in chars else c for c in term))
    return out[:_MAX_CHAR_VARIANTS]


def term_variants(term: str, config: VariantConfig) -> list[Variant]:
    """Respelt forms of ``term`` (not normalised; the matcher normalises them)."""
    out: list[Variant] = []
    forms = pinyin_forms(term)
    if forms is not None:
        for spelling in (*forms.joined, forms.spaced):
            out.append(Variant(spelling, config.pinyin_factor, PINYIN))
        for mixed in forms.mixed:
            out.append(Variant(mixed, config.mixed_factor, MIXED))
        if len(term) >= config.initials_min_chars:
            out.append(Variant(forms.initials, config.initials_factor, INITIALS))
    for form in config.terms.get(term, ()):
        out.append(Variant(form, config.term_factor, HOMOPHONE))
    if len(term) >= 2:
        for form in _char_substitutions(term, config.chars):
            out.append(Variant(form, config.char_factor, HOMOPHONE))
    return [v for v in out if v.form.replace(" ", "") not in config.stop and v.form != term]
