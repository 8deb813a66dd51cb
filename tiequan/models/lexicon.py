"""The analysts' lexicon overlay: terms added to or removed from the shipped YAML lexicons.

config/lexicons/<category>.yaml stays the shipped base. Every change an analyst makes is
an append-only record of ``lexicon_changes`` (who, when, why, the gate's figures) that
bumps the lexicon version; folding the records in version order gives the ``Overlay``,
and ``with_overlay`` builds the detector of base + overlay around an already loaded model
(the classifier and stacker are the model's; only the rules change). Rejected suggestions
are kept in the same collection without a version, so ``suggest`` never offers them again.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from detectors.combine import ListingDetector
from detectors.config import SEVERITIES, ExtraTerm, Lexicon, Term, merge_terms, term_key
from detectors.engine import Detector
from tiequan.storage.store import INDEXES, LEXICON_CHANGES, utcnow

ADD, REMOVE, REJECT = "add", "remove", "reject"
ACTION_NAMES = {ADD: "新增", REMOVE: "删除", REJECT: "不采纳建议"}
CHANGE_SCHEMA = 1
# Alone, a term of this weight raises a lead (the rules' usual min_score is 0.5).
DEFAULT_WEIGHT = 0.6
ANALYST_NOTE = "分析人员添加"  # the note of an overlay term in the merged lexicon
_ARTICLE = re.compile(r"《.+》")
_WORDY = re.compile(r"\w")


class LexiconError(ValueError):
    """A lexicon change that cannot be made; the message is one line naming field and value."""


def field_error(name: str, value: Any, problem: str) -> LexiconError:
    return LexiconError(f"词条字段 {name} 的值 {value!r} 有误：{problem}")


@dataclass(frozen=True)
class TermSpec:
    """A term as an analyst gives it (a removal needs only category and term)."""

    category: str
    term: str
    article: str = ""
    severity: str = ""
    weight: float = 0.0
    variants: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return self.category, term_key(self.term)

    def extra(self) -> ExtraTerm:
        term = Term(self.term, self.weight, self.article, self.severity, self.term, ANALYST_NOTE)
        return ExtraTerm(self.category, term, self.variants, self.exceptions)

    def to_doc(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "term": self.term,
            "article": self.article,
            "severity": self.severity,
            "weight": self.weight,
            "variants": list(self.variants),
            "exceptions": list(self.exceptions),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> TermSpec:
        return cls(
            str(doc["category"]),
            str(doc["term"]),
            str(doc.get("article") or ""),
            str(doc.get("severity") or ""),
            float(doc.get("weight") or 0.0),
            tuple(str(v) for v in doc.get("variants") or ()),
            tuple(str(v) for v in doc.get("exceptions") or ()),
        )


@dataclass(frozen=True)
class LexiconChange:
    """One record: ``version`` is the lexicon version it made (a rejection: the one in force)."""

    version: int
    action: str
    spec: TermSpec
    by: str
    at: datetime
    reason: str
    figures: str = ""  # the gate's before/after figures, as shown to the analyst
    forced: bool = False

    @property
    def action_name(self) -> str:
        return ACTION_NAMES.get(self.action, self.action)

    def to_doc(self) -> dict[str, Any]:
        return {
            "schema": CHANGE_SCHEMA,
            "version": self.version,
            "action": self.action,
            **self.spec.to_doc(),
            "by": self.by,
            "at": self.at,
            "reason": self.reason,
            "figures": self.figures,
            "forced": self.forced,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> LexiconChange:
        at: datetime = doc["at"]
        return cls(
            version=int(doc["version"]),
            action=str(doc["action"]),
            spec=TermSpec.from_doc(doc),
            by=str(doc["by"]),
            at=at if at.tzinfo else at.replace(tzinfo=UTC),
            reason=str(doc.get("reason") or ""),
            figures=str(doc.get("figures") or ""),
            forced=bool(doc.get("forced")),
        )


@dataclass(frozen=True)
class Overlay:
    """The analysts' terms at one lexicon version: added specs, removed base terms."""

    version: int = 0
    added: Mapping[tuple[str, str], TermSpec] = field(default_factory=dict)
    removed: Mapping[tuple[str, str], str] = field(default_factory=dict)  # key: term as given

    @property
    def empty(self) -> bool:
        return not self.added and not self.removed

    def extras(self) -> list[ExtraTerm]:
        return [spec.extra() for spec in self.added.values()]

    def removals(self) -> list[tuple[str, str]]:
        return [(category, term) for (category, _key), term in self.removed.items()]

    def changed(self, action: str, spec: TermSpec) -> Overlay:
        """The overlay after one more change (the next version)."""
        added, removed = dict(self.added), dict(self.removed)
        if action == ADD:
            added[spec.key] = spec
            removed.pop(spec.key, None)
        elif action == REMOVE:
            if added.pop(spec.key, None) is None:
                removed[spec.key] = spec.term
        return Overlay(self.version + 1, added, removed)

    def lexicons(self, base: Iterable[Lexicon]) -> list[Lexicon]:
        return merge_terms(base, self.extras(), self.removals())


class LexiconStore:
    """The ``lexicon_changes`` collection."""

    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self.coll = db[LEXICON_CHANGES]

    def ensure_indexes(self) -> None:
        self.coll.create_indexes(INDEXES[LEXICON_CHANGES])

    def version(self) -> int:
        """The lexicon version in force (0: the shipped files alone): one indexed read."""
        doc = self.coll.find_one(
            {"action": {"$in": [ADD, REMOVE]}}, {"version": 1}, sort=[("version", DESCENDING)]
        )
        return int(doc["version"]) if doc else 0

    def changes(self) -> list[LexiconChange]:
        """Every add and remove, oldest first."""
        docs = self.coll.find({"action": {"$in": [ADD, REMOVE]}}, sort=[("version", ASCENDING)])
        return [LexiconChange.from_doc(d) for d in docs]

    def history(self, limit: int = 0) -> list[LexiconChange]:
        """Every record, rejections too, newest first."""
        docs = self.coll.find({}, sort=[("at", DESCENDING), ("version", DESCENDING)], limit=limit)
        return [LexiconChange.from_doc(d) for d in docs]

    def overlay(self) -> Overlay:
        out = Overlay()
        for change in self.changes():
            out = out.changed(change.action, change.spec)
        return out

    def record(self, change: LexiconChange) -> LexiconChange:
        """Append an add or remove as its version (a concurrent change of it: LexiconError)."""
        self.ensure_indexes()
        try:
            self.coll.insert_one({"_id": f"v{change.version}", **change.to_doc()})
        except DuplicateKeyError as exc:
            raise LexiconError(
                f"词库版本 {change.version} 刚被他人写入，请重新查看后再提交"
            ) from exc
        return change

    def reject(self, spec: TermSpec, *, by: str, reason: str) -> LexiconChange:
        """Record that ``spec`` was proposed and turned down (again: the record is replaced)."""
        self.ensure_indexes()
        change = LexiconChange(self.version(), REJECT, spec, by, utcnow(), reason)
        category, key = spec.key
        self.coll.replace_one({"_id": f"reject:{category}:{key}"}, change.to_doc(), upsert=True)
        return change

    def rejected(self) -> set[tuple[str, str]]:
        """(category, normalised term) of every rejected suggestion."""
        docs = self.coll.find({"action": REJECT}, {"category": 1, "term": 1})
        return {(str(d["category"]), term_key(str(d["term"]))) for d in docs}


def effective(detector: ListingDetector) -> dict[str, Lexicon]:
    return {lex.category: lex for lex in detector.rules.lexicons}


def check_spec(lexicons: Mapping[str, Lexicon], action: str, spec: TermSpec) -> None:
    """LexiconError naming the field and value when ``spec`` cannot be ``action``-ed on
    ``lexicons`` (the lexicons in force)."""
    if spec.category not in lexicons:
        known = "、".join(sorted(lexicons))
        raise field_error("category", spec.category, f"没有这个类别的词库（可选：{known}）")
    if not _WORDY.search(term_key(spec.term)):
        raise field_error("term", spec.term, "词条为空，或只有标点和空白")
    present = {term_key(t.term): t for t in lexicons[spec.category].terms}
    if action == REMOVE:
        if term_key(spec.term) not in present:
            raise field_error("term", spec.term, f"{spec.category} 词库中没有这个词条")
        return
    for name, form in [("term", spec.term), *(("variants", v) for v in spec.variants)]:
        if term_key(form) in present:
            raise field_error(name, form, f"与 {spec.category} 词库已有词条重复")
    if not 0.0 < spec.weight <= 1.0:
        raise field_error("weight", spec.weight, "权重须大于 0 且不超过 1")
    if spec.severity not in SEVERITIES:
        raise field_error("severity", spec.severity, f"可选：{'、'.join(SEVERITIES)}")
    if not _ARTICLE.search(spec.article):
        raise field_error("article", spec.article, "须写明法规及条款，如《广告法》第十七条")
    for variant in spec.variants:
        if not _WORDY.search(term_key(variant)):
            raise field_error("variants", variant, "变体为空，或只有标点和空白")
    for phrase in spec.exceptions:
        if len(term_key(phrase)) < 2:
            raise field_error("exceptions", phrase, "例外短语至少两个字")


def with_overlay(base: ListingDetector, overlay: Overlay) -> ListingDetector:
    """``base`` (the live model over the shipped lexicons) with the overlay's terms: the
    same fitted classifier and stacker, rules compiled from base + overlay."""
    if overlay.empty:
        return base
    rules = base.rules
    merged = Detector(
        overlay.lexicons(rules.lexicons), rules.rules, context=rules.context,
        min_score=rules.min_score, variants=rules.variants, price_floors=rules.price_floors,
    ).compile()  # fmt: skip
    detector = ListingDetector(
        merged, base.model, window=base.window, trigger_words=base.trigger_words,
        max_chars=base.max_chars, short_text=base.short_text,
        articles=base.articles, names=base.names,
    )  # fmt: skip
    return detector.restore(
        base.scorer_, base.stacker_, base.keywords_, version=base.model_version_
    )


def defaults_for(lexicon: Lexicon) -> tuple[str, str]:
    """(article, severity) most of the category's terms carry: an accepted suggestion's."""
    articles = Counter(t.article for t in lexicon.terms if t.article).most_common(1)
    severities = Counter(t.severity for t in lexicon.terms if t.severity).most_common(1)
    article = articles[0][0] if articles else ""
    return article, severities[0][0] if severities else SEVERITIES[0]


def rules_in_force(overlay: Overlay, config_dir: Path | None = None) -> Detector:
    """The rule detector of the shipped configuration and ``overlay`` (no model needed)."""
    base = Detector.from_config(config_dir)
    return Detector(
        overlay.lexicons(base.lexicons), base.rules, context=base.context,
        min_score=base.min_score, variants=base.variants, price_floors=base.price_floors,
    ).compile()  # fmt: skip


def new_term(
    lexicons: Mapping[str, Lexicon],
    category: str,
    term: str,
    *,
    weight: float = DEFAULT_WEIGHT,
    article: str = "",
    severity: str = "",
    variants: Iterable[str] = (),
    exceptions: Iterable[str] = (),
) -> TermSpec:
    """A term to add; article and severity default to those most of the category's carry."""
    lexicon = lexicons.get(category)
    if lexicon is None:
        known = "、".join(sorted(lexicons))
        raise field_error("category", category, f"没有这个类别的词库（可选：{known}）")
    default_article, default_severity = defaults_for(lexicon)
    return TermSpec(
        category, term.strip(), article.strip() or default_article,
        severity.strip() or default_severity, weight,
        tuple(v.strip() for v in variants if v.strip()),
        tuple(e.strip() for e in exceptions if e.strip()),
    )  # fmt: skip
