"""Lexicons, regex rules and context cues: loading and validation of the YAML data.

Every error names the file, the field (with entry index) and the bad value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from detectors.anchors import anchor_problem
from detectors.base import CATEGORY_IDS
from detectors.normalize import normalize
from detectors.variants import VariantConfig, variant_config

SEVERITIES: tuple[str, ...] = ("提醒告诫", "立案", "移送公安")
CONTEXT_FILE = "_context.yaml"
CUES_GLOB = "_cues_*.yaml"
VARIANTS_FILE = "_variants.yaml"
PRICE_FLOORS_FILE = "price_floors.yaml"
VOCAB_FILE = "_vocab.yaml"
DEFAULT_MIN_SCORE = 0.5


class ConfigError(ValueError):
    """A lexicon, rule or context file is invalid."""

    def __init__(self, path: Path | str, field: str, value: Any, problem: str) -> None:
        self.path, self.field, self.value = str(path), field, value
        super().__init__(f"{path}: {field}: {problem} (value: {value!r})")


@dataclass(frozen=True)
class Term:
    term: str
    weight: float
    article: str
    severity: str
    label: str
    note: str = ""


@dataclass(frozen=True)
class Lexicon:
    category: str
    explanation: str
    terms: tuple[Term, ...]
    exceptions: tuple[str, ...] = ()
    source: str = ""
    crime_explanation: str = ""


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    pattern: str
    weight: float
    article: str
    severity: str
    explanation: str
    price_below: float | None = None
    context_any: tuple[str, ...] = ()
    note: str = ""
    source: str = ""
    # Literal phrases, one of which every match contains: the rule's regex runs only
    # when the automaton has seen one of them (see detectors.anchors).
    anchors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cue:
    cue: str
    scope: str  # "sentence", "clause" or "document"


@dataclass(frozen=True)
class Context:
    """Warning/news/negation cues that down-weight hits in the same sentence or clause."""

    cues: tuple[Cue, ...] = ()
    factor: float = 0.3
    min_score: float = DEFAULT_MIN_SCORE
    # A text with this many distinct "document" cues (查处, 当事人, 行政处罚…) reads as an
    # enforcement report or a regulation: every hit in it is cued.
    document_cues: int = 2


def default_config_dir() -> Path:
    """TIEQUAN_CONFIG_DIR if set, else <repo>/config next to this package."""
    env = os.environ.get("TIEQUAN_CONFIG_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "config"


def _schema(config_dir: Path, name: str) -> dict[str, Any]:
    path = config_dir / "schemas" / name
    if not path.is_file():  # a trimmed config dir (tests, overrides) uses the repo's schemas
        path = Path(__file__).resolve().parent.parent / "config" / "schemas" / name
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def _field(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _error_order(error: Any) -> tuple[tuple[int, int, str], ...]:
    # Report the first error in file order; paths mix list indices and keys.
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.path)


# libyaml's parser when PyYAML was built with it (the wheels are): the same documents as
# yaml.safe_load (same SafeConstructor) at about a seventh of the CPU; a sweep reads every
# lexicon and rule file when it loads its detector.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, parsed by libyaml when available."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # nosec B506 # a safe loader


def _read(path: Path, schema: dict[str, Any]) -> dict[str, Any]:
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(path, "(yaml)", None, f"not valid YAML: {exc}") from exc
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=_error_order)
    if errors:
        err = errors[0]
        raise ConfigError(path, _field(err.absolute_path), err.instance, err.message)
    if not isinstance(data, dict):
        raise ConfigError(path, "(top level)", data, "expected a mapping")
    return data


def _check_template(path: Path, field: str, template: str, **keys: str) -> None:
    try:
        template.format(**keys)
    except (KeyError, IndexError, ValueError) as exc:
        allowed = ", ".join("{" + k + "}" for k in keys)
        raise ConfigError(
            path, field, template, f"bad placeholder {exc}; allowed: {allowed}"
        ) from exc


def _check_norm(path: Path, field: str, phrase: str) -> None:
    if not normalize(phrase).text:
        raise ConfigError(path, field, phrase, "normalises to an empty string")


def load_lexicon(path: Path, schema: dict[str, Any]) -> Lexicon:
    data = _read(path, schema)
    category = data["category"]
    if category not in CATEGORY_IDS or category != path.stem:
        raise ConfigError(
            path, "category", category, f"must be a category id equal to {path.stem!r}"
        )
    _check_template(path, "explanation", data["explanation"], claims="", article="")
    crime = data.get("crime_explanation", "")
    if crime:
        _check_template(path, "crime_explanation", crime, claims="", crime="", article="")
    defaults = data.get("defaults", {})
    terms: list[Term] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(data["terms"]):
        for key in ("article", "severity"):
            if key not in entry and key not in defaults:
                raise ConfigError(path, f"terms[{i}].{key}", None, "missing and no default given")
        _check_norm(path, f"terms[{i}].term", entry["term"])
        key_norm = normalize(entry["term"]).text
        if key_norm in seen:
            raise ConfigError(
                path, f"terms[{i}].term", entry["term"], f"duplicate of terms[{seen[key_norm]}]"
            )
        seen[key_norm] = i
        terms.append(
            Term(
                term=entry["term"],
                weight=float(entry["weight"]),
                article=entry.get("article", defaults.get("article", "")),
                severity=entry.get("severity", defaults.get("severity", "")),
                label=entry.get("label", entry["term"]),
                note=entry.get("note", ""),
            )
        )
    exceptions = tuple(data.get("exceptions", ()))
    for i, phrase in enumerate(exceptions):
        _check_norm(path, f"exceptions[{i}]", phrase)
    return Lexicon(category, data["explanation"], tuple(terms), exceptions, str(path), crime)


Vocabulary = dict[str, tuple[str, ...]]
_PLACEHOLDER = re.compile(r"\{([a-z][a-z_]*)\}")


def load_vocabulary(
    path: Path, schema: dict[str, Any], shared: Vocabulary, data: dict[str, Any] | None = None
) -> Vocabulary:
    """The file's word classes on top of ``shared``; every word must be in normalised form.
    ``data``: the file as already read (and checked against ``schema``) by the caller."""
    if data is None:
        data = _read(path, schema)
    vocab = dict(shared)
    for name, words in data.get("vocab", {}).items():
        for j, word in enumerate(words):
            if normalize(word).text != word:
                raise ConfigError(
                    path,
                    f"vocab.{name}[{j}]",
                    word,
                    f"write it as the normalised text has it: {normalize(word).text!r}",
                )
        vocab[name] = tuple(words)
    return vocab


def expand_pattern(pattern: str, vocab: Vocabulary, path: Path, field: str) -> str:
    """``{name}`` → a non-capturing alternation of the class's words, longest first."""

    def alternation(match: re.Match[str]) -> str:
        words = vocab.get(match.group(1))
        if words is None:
            raise ConfigError(path, field, match.group(0), "unknown vocabulary class")
        ordered = sorted(words, key=len, reverse=True)
        return "(?:" + "|".join(re.escape(w) for w in ordered) + ")"

    return _PLACEHOLDER.sub(alternation, pattern)


def expand_phrases(
    phrases: Iterable[str], vocab: Vocabulary, path: Path, field: str
) -> tuple[str, ...]:
    """Phrases with each whole-entry ``{name}`` replaced by the class's words."""
    out: list[str] = []
    for j, phrase in enumerate(phrases):
        match = _PLACEHOLDER.fullmatch(phrase)
        if match is None:
            _check_norm(path, f"{field}[{j}]", phrase)
            out.append(phrase)
            continue
        words = vocab.get(match.group(1))
        if words is None:
            raise ConfigError(path, f"{field}[{j}]", phrase, "unknown vocabulary class")
        out.extend(words)
    return tuple(dict.fromkeys(out))


def load_rules(
    path: Path, schema: dict[str, Any], shared_vocab: Vocabulary | None = None
) -> list[Rule]:
    data = _read(path, schema)
    vocab = load_vocabulary(path, schema, shared_vocab or {}, data)
    rules: list[Rule] = []
    for i, entry in enumerate(data.get("rules", ())):
        if entry["category"] not in CATEGORY_IDS:
            raise ConfigError(path, f"rules[{i}].category", entry["category"], "unknown category")
        pattern = expand_pattern(entry["pattern"], vocab, path, f"rules[{i}].pattern")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(
                path, f"rules[{i}].pattern", entry["pattern"], f"bad regex: {exc}"
            ) from exc
        _check_template(path, f"rules[{i}].explanation", entry["explanation"], match="", article="")
        context_any = expand_phrases(
            entry.get("context_any", ()), vocab, path, f"rules[{i}].context_any"
        )
        anchors = expand_phrases(entry["anchors"], vocab, path, f"rules[{i}].anchors")
        problem = anchor_problem(pattern, anchors)
        if problem:
            raise ConfigError(path, f"rules[{i}].anchors", list(entry["anchors"]), problem)
        rules.append(
            Rule(
                id=entry["id"],
                category=entry["category"],
                pattern=pattern,
                weight=float(entry["weight"]),
                article=entry["article"],
                severity=entry["severity"],
                explanation=entry["explanation"],
                price_below=entry.get("price_below"),
                context_any=context_any,
                note=entry.get("note", ""),
                source=str(path),
                anchors=anchors,
            )
        )
    return rules


def load_context(path: Path, schema: dict[str, Any]) -> Context:
    context_schema = {"$schema": schema.get("$schema"), "$defs": schema["$defs"]}
    context_schema["$ref"] = "#/$defs/context"
    data = _read(path, context_schema)
    cues = tuple(Cue(c["cue"], c["scope"]) for c in data["cues"])
    for i, cue in enumerate(cues):
        _check_norm(path, f"cues[{i}].cue", cue.cue)
    return Context(
        cues,
        float(data["factor"]),
        float(data.get("min_score", DEFAULT_MIN_SCORE)),
        int(data.get("document_cues", 2)),
    )


def load_cues(path: Path, schema: dict[str, Any]) -> tuple[Cue, ...]:
    """More context cues, kept apart by subject (``_cues_<subject>.yaml``: a cues list)."""
    cue_schema = {
        "$schema": schema.get("$schema"),
        "$defs": schema["$defs"],
        "type": "object",
        "required": ["cues"],
        "additionalProperties": False,
        "properties": {
            "description": {"type": "string"},
            "cues": {"$ref": "#/$defs/context/properties/cues"},
        },
    }
    data = _read(path, cue_schema)
    cues = tuple(Cue(c["cue"], c["scope"]) for c in data["cues"])
    for i, cue in enumerate(cues):
        _check_norm(path, f"cues[{i}].cue", cue.cue)
    return cues


def load_variants(config_dir: Path) -> VariantConfig:
    """The respelling settings in lexicons/_variants.yaml (defaults when the file is absent)."""
    path = config_dir / "lexicons" / VARIANTS_FILE
    if not path.is_file():
        return VariantConfig()
    schema = _schema(config_dir, "lexicon.schema.json")
    variants_schema = {"$schema": schema.get("$schema"), "$defs": schema["$defs"]}
    variants_schema["$ref"] = "#/$defs/variants"
    data = _read(path, variants_schema)
    for table in ("chars", "terms"):
        for key, forms in data.get(table, {}).items():
            for j, form in enumerate(forms):
                _check_norm(path, f"{table}.{key}[{j}]", form)
                if normalize(form).text == normalize(key).text:
                    raise ConfigError(path, f"{table}.{key}[{j}]", form, "same as the original")
    return variant_config(data, path)


def load_config(config_dir: Path) -> tuple[list[Lexicon], list[Rule], Context]:
    """Load every lexicon, rule file and the context cues under ``config_dir``."""
    lexicon_schema = _schema(config_dir, "lexicon.schema.json")
    rules_schema = _schema(config_dir, "rules.schema.json")
    lexicon_dir, rules_dir = config_dir / "lexicons", config_dir / "rules"
    lexicons = [
        load_lexicon(p, lexicon_schema)
        for p in sorted(lexicon_dir.glob("*.yaml"))
        if not p.name.startswith("_")  # _context.yaml, _variants.yaml: not lexicons
    ]
    rules: list[Rule] = []
    ids: dict[str, str] = {}
    vocab_path = rules_dir / VOCAB_FILE
    shared = load_vocabulary(vocab_path, rules_schema, {}) if vocab_path.is_file() else {}
    for path in sorted(rules_dir.glob("*.yaml")):
        # price_floors.yaml is data for detectors.price; _vocab.yaml holds shared classes
        if path.name == PRICE_FLOORS_FILE or path.name.startswith("_"):
            continue
        for i, rule in enumerate(load_rules(path, rules_schema, shared)):
            if rule.id in ids:
                raise ConfigError(
                    path, f"rules[{i}].id", rule.id, f"duplicate id, also in {ids[rule.id]}"
                )
            ids[rule.id] = str(path)
            rules.append(rule)
    context_path = lexicon_dir / CONTEXT_FILE
    context = load_context(context_path, lexicon_schema) if context_path.is_file() else Context()
    extra = [c for p in sorted(lexicon_dir.glob(CUES_GLOB)) for c in load_cues(p, lexicon_schema)]
    if extra:
        known = {c.cue for c in context.cues}
        added = tuple(c for c in dict.fromkeys(extra) if c.cue not in known)
        context = replace(context, cues=context.cues + added)
    return lexicons, rules, context


@dataclass(frozen=True)
class ExtraTerm:
    """A term added on top of a category's lexicon file (the analysts' overlay).

    ``variants`` are further spellings reported under the term's label; ``exceptions`` join
    the category's allow-list phrases.
    """

    category: str
    term: Term
    variants: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()


def term_key(term: str) -> str:
    """The form two terms are compared in: their normalised text."""
    return normalize(term).text


def merge_terms(
    lexicons: Iterable[Lexicon],
    added: Iterable[ExtraTerm] = (),
    removed: Iterable[tuple[str, str]] = (),
) -> list[Lexicon]:
    """``lexicons`` with the (category, term) pairs of ``removed`` taken out and ``added``
    put in (a term replaces an equal one of its category). The inputs stay unchanged."""
    out = {lex.category: lex for lex in lexicons}
    gone: dict[str, set[str]] = {}
    for category, term in removed:
        gone.setdefault(category, set()).add(term_key(term))
    extra: dict[str, list[ExtraTerm]] = {}
    for item in added:
        if item.category not in out:
            raise ConfigError("lexicon overlay", "category", item.category, "no such lexicon")
        extra.setdefault(item.category, []).append(item)
    for category in set(gone) | set(extra):
        lex = out.get(category)
        if lex is None:
            continue
        new = extra.get(category, [])
        drop = gone.get(category, set()) | {term_key(x.term.term) for x in new}
        terms = [t for t in lex.terms if term_key(t.term) not in drop]
        exceptions = list(lex.exceptions)
        for item in new:
            terms.append(item.term)
            for form in item.variants:
                if term_key(form) and term_key(form) not in drop:
                    terms.append(replace(item.term, term=form, label=item.term.label))
            exceptions.extend(p for p in item.exceptions if p not in exceptions)
        out[category] = replace(lex, terms=tuple(terms), exceptions=tuple(exceptions))
    return list(out.values())
