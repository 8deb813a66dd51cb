"""Every decision on a lead, kept as a training label: what was decided about which texts.

``LeadQueue.apply`` records one ``Label`` per decision (``LABEL_ACTIONS``) in the
``labels`` collection, in the same call as the audit record and under the same id (lead
id and lead version), so a retried write stays one label; ``apply_many`` builds the same
labels and writes them a batch at a time (``build``, ``record_many``). The listing texts are copied
from the ``listings`` collection when the decision is made: retraining reads what the
officer saw, even after the listing changes or disappears.

``model_version`` is the stored detector model that made the lead's strongest finding
(``detectors.model_store.model_version``: code version and cache key); it is None for
leads found before findings carried it, and for imported tips. ``run_ids`` (the sweeps
that found the lead) and ``source`` identify the detection beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from tiequan.storage.bulk import insert_new
from tiequan.storage.listings import listing_id
from tiequan.storage.store import LABELS, LISTINGS

log = logging.getLogger(__name__)

LABEL_SCHEMA = 1
# The decision says the texts are an offence of the lead's category…
POSITIVE_ACTIONS = frozenset({"confirm", "refer", "admonish", "police", "close"})
# …or that they are not.
NEGATIVE_ACTIONS = frozenset({"dismiss"})
# Decisions without a verdict on the texts: a dismissal withdrawn, or a referral sent back
# (often for jurisdiction, which says nothing about the claim).
NEUTRAL_ACTIONS = frozenset({"reopen", "return"})
LABEL_ACTIONS = POSITIVE_ACTIONS | NEGATIVE_ACTIONS | NEUTRAL_ACTIONS
MAX_TITLE = 500  # characters kept of a listing's title
MAX_TEXT = 4000  # characters kept of its description and of its other text


class LabelDocError(ValueError):
    """A stored label whose shape this code cannot read."""


def clip(text: Any, limit: int) -> tuple[str, bool]:
    """``text`` as a string of at most ``limit`` characters, and whether it was cut."""
    value = "" if text is None else str(text)
    return (value[:limit], True) if len(value) > limit else (value, False)


def _field(doc: Mapping[str, Any], key: str, kinds: type | tuple[type, ...], where: str) -> Any:
    if key not in doc:
        raise LabelDocError(f"{where}: field {key} is missing")
    value = doc[key]
    if not isinstance(value, kinds):
        raise LabelDocError(f"{where}: field {key}: unexpected value {value!r:.80}")
    return value


def _list(doc: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value: list[Any] = _field(doc, key, list, where)
    return value


OPT_STR = (str, type(None))
OPT_NUM = (int, float, type(None))


@dataclass(frozen=True)
class LabelListing:
    """One listing's texts as they were stored when the decision was made."""

    platform: str
    item_id: str
    title: str
    description: str
    text: str
    truncated: bool = False

    def to_doc(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "item_id": self.item_id,
            "title": self.title,
            "description": self.description,
            "text": self.text,
            "truncated": self.truncated,
        }

    @classmethod
    def from_doc(cls, doc: Any, where: str) -> LabelListing:
        if not isinstance(doc, Mapping):
            raise LabelDocError(f"{where}: expected an object, got {doc!r:.80}")
        return cls(
            platform=_field(doc, "platform", str, where),
            item_id=_field(doc, "item_id", str, where),
            title=_field(doc, "title", str, where),
            description=_field(doc, "description", str, where),
            text=_field(doc, "text", str, where),
            truncated=bool(doc.get("truncated")),
        )


@dataclass(frozen=True)
class LabelFinding:
    """What the detector found in one listing: the finding the officer decided on."""

    platform: str
    item_id: str
    category: str | None
    matched: tuple[str, ...]
    article: str | None
    score: float | None
    severity: str | None = None
    finding_type: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "item_id": self.item_id,
            "category": self.category,
            "matched": list(self.matched),
            "article": self.article,
            "score": self.score,
            "severity": self.severity,
            "finding_type": self.finding_type,
        }

    @classmethod
    def from_doc(cls, doc: Any, where: str) -> LabelFinding:
        if not isinstance(doc, Mapping):
            raise LabelDocError(f"{where}: expected an object, got {doc!r:.80}")
        return cls(
            platform=_field(doc, "platform", str, where),
            item_id=_field(doc, "item_id", str, where),
            category=_field(doc, "category", OPT_STR, where),
            matched=tuple(str(t) for t in _list(doc, "matched", where)),
            article=_field(doc, "article", OPT_STR, where),
            score=_field(doc, "score", OPT_NUM, where),
            severity=doc.get("severity"),
            finding_type=doc.get("finding_type"),
        )


@dataclass(frozen=True)
class Label:
    """One decision on a lead: ``positive`` True/False for its category, None for no verdict."""

    id: str
    lead_id: str
    version: int
    action: str
    action_label: str
    from_status: str
    to_status: str
    category: str | None
    positive: bool | None
    listings: tuple[LabelListing, ...]
    findings: tuple[LabelFinding, ...]
    model_version: str | None
    run_ids: tuple[str, ...]
    source: str | None
    actor: str
    reason: str | None
    outcome: str | None
    at: datetime
    schema: int = LABEL_SCHEMA

    def to_doc(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "schema": self.schema,
            "lead_id": self.lead_id,
            "version": self.version,
            "action": self.action,
            "action_label": self.action_label,
            "from_status": self.from_status,
            "to_status": self.to_status,
            "category": self.category,
            "positive": self.positive,
            "listings": [x.to_doc() for x in self.listings],
            "findings": [x.to_doc() for x in self.findings],
            "model_version": self.model_version,
            "run_ids": list(self.run_ids),
            "source": self.source,
            "actor": self.actor,
            "reason": self.reason,
            "outcome": self.outcome,
            "at": self.at,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Label:
        where = f"label {doc.get('_id')!r}"
        at: datetime = _field(doc, "at", datetime, where)
        return cls(
            id=_field(doc, "_id", str, where),
            lead_id=_field(doc, "lead_id", str, where),
            version=_field(doc, "version", int, where),
            action=_field(doc, "action", str, where),
            action_label=_field(doc, "action_label", str, where),
            from_status=_field(doc, "from_status", str, where),
            to_status=_field(doc, "to_status", str, where),
            category=_field(doc, "category", OPT_STR, where),
            positive=_field(doc, "positive", (bool, type(None)), where),
            listings=tuple(
                LabelListing.from_doc(x, f"{where}: listings[{i}]")
                for i, x in enumerate(_list(doc, "listings", where))
            ),
            findings=tuple(
                LabelFinding.from_doc(x, f"{where}: findings[{i}]")
                for i, x in enumerate(_list(doc, "findings", where))
            ),
            model_version=_field(doc, "model_version", OPT_STR, where),
            run_ids=tuple(str(r) for r in _list(doc, "run_ids", where)),
            source=_field(doc, "source", OPT_STR, where),
            actor=_field(doc, "actor", str, where),
            reason=_field(doc, "reason", OPT_STR, where),
            outcome=_field(doc, "outcome", OPT_STR, where),
            at=at if at.tzinfo else at.replace(tzinfo=UTC),
            schema=_field(doc, "schema", int, where),
        )

    def to_json(self) -> dict[str, Any]:
        """The label as one JSON object (``id`` for ``_id``, the time in ISO 8601, UTC)."""
        doc = self.to_doc()
        doc["id"] = doc.pop("_id")
        doc["at"] = self.at.astimezone(UTC).isoformat()
        return doc


def polarity(action: str) -> bool | None:
    if action in POSITIVE_ACTIONS:
        return True
    if action in NEGATIVE_ACTIONS:
        return False
    return None


class LabelStore:
    """The ``labels`` collection: written by ``LeadQueue.apply``, read by retraining."""

    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self.coll = db[LABELS]
        self.listings = db[LISTINGS]

    def record(
        self,
        lead: Mapping[str, Any],
        action: str,
        action_label: str,
        actor: str,
        from_status: str,
        *,
        reason: str | None,
        outcome: str | None,
        now: datetime,
    ) -> Label:
        """The label of a decision just applied to ``lead`` (the updated lead document)."""
        label = self.build(
            lead, action, action_label, actor, from_status, reason=reason, outcome=outcome, now=now
        )
        self.record_many([label])
        return label

    def build(
        self,
        lead: Mapping[str, Any],
        action: str,
        action_label: str,
        actor: str,
        from_status: str,
        *,
        reason: str | None,
        outcome: str | None,
        now: datetime,
        stored: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Label:
        """The label ``record`` writes, unwritten. ``stored``: the listings of the lead's
        entries by id, as ``stored_listings`` reads them; None to read them now."""
        entries: Sequence[Mapping[str, Any]] = lead.get("listings") or []
        if stored is None:
            stored = self.stored_listings([lead])
        return Label(
            id=f"{lead['_id']}:{lead['version']}",
            lead_id=str(lead["_id"]),
            version=int(lead["version"]),
            action=action,
            action_label=action_label,
            from_status=from_status,
            to_status=str(lead["status"]),
            category=lead.get("category"),
            positive=polarity(action),
            listings=tuple(_texts(entry, stored.get(_key(entry))) for entry in entries),
            findings=tuple(_finding(e, lead.get("category")) for e in entries),
            model_version=lead.get("model_version"),
            run_ids=tuple(str(r) for r in lead.get("run_ids") or ()),
            source=lead.get("source"),
            actor=actor,
            reason=reason,
            outcome=outcome,
            at=now,
        )

    def stored_listings(self, leads: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
        """The stored listings of every entry of ``leads``, by listing id: one read."""
        keys = sorted({_key(e) for lead in leads for e in lead.get("listings") or []})
        if not keys:
            return {}
        return {d["_id"]: d for d in self.listings.find({"_id": {"$in": keys}})}

    def record_many(self, labels: Sequence[Label]) -> int:
        """Write ``labels``, keeping any already written under the same id (a retried
        write stays one label); returns how many were new."""
        new = insert_new(self.coll, [label.to_doc() for label in labels])
        if new < len(labels):
            log.info("%d of %d labels already written", len(labels) - new, len(labels))
        return new

    def iter(self, since: datetime | None = None) -> Iterator[Label]:
        """Every label (those at or after ``since``), oldest first."""
        query = {"at": {"$gte": since}} if since is not None else {}
        for doc in self.coll.find(query).sort([("at", 1), ("_id", 1)]):
            yield Label.from_doc(doc)

    def for_lead(self, lead_id: str) -> list[Label]:
        """A lead's labels, oldest first."""
        cursor = self.coll.find({"lead_id": lead_id}).sort([("at", 1), ("version", 1)])
        return [Label.from_doc(d) for d in cursor]


def _key(entry: Mapping[str, Any]) -> str:
    return listing_id(str(entry.get("platform")), str(entry.get("item_id")))


def _texts(entry: Mapping[str, Any], stored: Mapping[str, Any] | None) -> LabelListing:
    doc = stored or {"title": entry.get("title")}  # e.g. an imported tip
    title, cut_title = clip(doc.get("title"), MAX_TITLE)
    description, cut_description = clip(doc.get("description"), MAX_TEXT)
    text, cut_text = clip(doc.get("text"), MAX_TEXT)
    return LabelListing(
        str(entry.get("platform")),
        str(entry.get("item_id")),
        title,
        description,
        text,
        truncated=cut_title or cut_description or cut_text,
    )


def _finding(entry: Mapping[str, Any], category: str | None) -> LabelFinding:
    score = entry.get("score")
    return LabelFinding(
        platform=str(entry.get("platform")),
        item_id=str(entry.get("item_id")),
        category=category,
        matched=tuple(str(t) for t in entry.get("matched") or ()),
        article=entry.get("article"),
        score=float(score) if isinstance(score, int | float) else None,
        severity=entry.get("severity"),
        finding_type=entry.get("finding_type"),
    )
