"""The typed lead: a case (one per party and category) as read from the ``leads`` collection.

``Case.from_doc`` accepts every lead document the code writes (tiequan.leads.cases,
queue, followup, importer) and the schema-1 shapes ``upgrade_legacy_leads`` turns into
cases. Nothing is lost on the way: keys the model does not know are kept in ``extra``,
and the known keys a document lacks in ``absent``, so ``Case.from_doc(d).to_doc() == d``
for every stored document. Values are kept as stored (no coercion); lists become tuples.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Self, TypeGuard, TypeVar

# The dataclass fields that carry the document's own shape, not a key of it.
_SHAPE_FIELDS = frozenset({"extra", "absent"})


class CaseDocError(ValueError):
    """A stored lead document whose shape the model cannot read."""


@dataclass(frozen=True)
class _Codec:
    decode: Callable[[Any, str], Any]
    encode: Callable[[Any], Any]


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _seq(value: Any, path: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise CaseDocError(f"lead field {path}: expected a list, got {_shown(value)}")
    return tuple(value)


def _unseq(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _spans(value: Any, path: str) -> Any:
    spans = _seq(value, path)
    if spans is None:
        return None
    return tuple(_seq(s, f"{path}[{i}]") for i, s in enumerate(spans))


def _unspans(value: Any) -> Any:
    return [_unseq(s) for s in value] if isinstance(value, tuple) else value


def _nested(model: type[DocModel]) -> _Codec:
    def decode(value: Any, path: str) -> Any:
        return None if value is None else model.from_doc(value, path=path)

    def encode(value: Any) -> Any:
        return value.to_doc() if isinstance(value, DocModel) else value

    return _Codec(decode, encode)


def _nested_seq(model: type[DocModel]) -> _Codec:
    def decode(value: Any, path: str) -> Any:
        items = _seq(value, path)
        if items is None:
            return None
        return tuple(model.from_doc(v, path=f"{path}[{i}]") for i, v in enumerate(items))

    def encode(value: Any) -> Any:
        if not isinstance(value, tuple):
            return value
        return [v.to_doc() if isinstance(v, DocModel) else v for v in value]

    return _Codec(decode, encode)


SEQ = _Codec(_seq, _unseq)
SPANS = _Codec(_spans, _unspans)


def _codec(codec: _Codec, key: str | None = None) -> dict[str, Any]:
    return {"codec": codec, "key": key} if key else {"codec": codec}


class DocModel:
    """``from_doc``/``to_doc`` for the frozen dataclasses below (declared fields, in order).

    A field's document key is its name unless its metadata names another (``_id``); its
    codec, if any, turns the stored value into the typed one and back. Hand-written rather
    than cattrs/pydantic: plain frozen dataclasses like crawlers/items.py, and an exact
    round trip (unknown keys, missing keys, values as stored) that those would coerce.
    """

    extra: Mapping[str, Any]
    absent: frozenset[str]

    @classmethod
    def from_doc(cls, doc: Any, *, path: str = "") -> Self:
        if not isinstance(doc, Mapping):
            where = path or cls.__name__
            raise CaseDocError(f"lead field {where}: expected an object, got {_shown(doc)}")
        values: dict[str, Any] = {}
        absent: list[str] = []
        spec = _spec(cls)
        for name, key, codec in spec.fields:
            if key not in doc:
                absent.append(key)
                continue
            value = doc[key]
            values[name] = codec.decode(value, _where(path, key)) if codec else value
        values["extra"] = {k: v for k, v in doc.items() if k not in spec.keys}
        values["absent"] = frozenset(absent)
        return cls(**values)

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {}
        for name, key, codec in _spec(type(self)).fields:
            if key in self.absent:
                continue
            value = getattr(self, name)
            doc[key] = codec.encode(value) if codec else value
        doc.update(self.extra)
        return doc


@dataclass(frozen=True)
class _Spec:
    fields: tuple[tuple[str, str, _Codec | None], ...]  # (field name, document key, codec)
    keys: frozenset[str]


_SPECS: dict[type[DocModel], _Spec] = {}


def _spec(cls: type[DocModel]) -> _Spec:
    """A model's fields in declared order, worked out once per class."""
    spec = _SPECS.get(cls)
    if spec is None:
        named = tuple(
            (f.name, f.metadata.get("key") or f.name, f.metadata.get("codec"))
            for f in fields(cls)  # type: ignore[arg-type]
            if f.name not in _SHAPE_FIELDS
        )
        spec = _SPECS[cls] = _Spec(named, frozenset(key for _, key, _ in named))
    return spec


_M = TypeVar("_M", bound=DocModel)


def filled(part: _M | None) -> TypeGuard[_M]:
    """Whether a nested part was stored with something in it (not None, not ``{}``)."""
    return part is not None and bool(part.to_doc())


@dataclass(frozen=True)
class ImageClaim(DocModel):
    """The product image a claim was read from, and what OCR read in it."""

    url: str | None = None
    text: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()


@dataclass(frozen=True)
class JurisdictionDoc(DocModel):
    """The stored form of tiequan.party.Jurisdiction (with its ``label``)."""

    bureau_key: str | None = None
    bureau_name: str | None = None
    in_league: bool | None = None
    method: str | None = None
    basis: str | None = None
    transfer: bool | None = None
    mark: str | None = None
    outside_region: str | None = None
    division_code: str | None = None
    label: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()


@dataclass(frozen=True)
class PartyDoc(DocModel):
    """The stored form of tiequan.party.Party; a schema-1 lead holds the bare licence here."""

    key: str | None = None
    identified: bool | None = None
    label: str | None = None
    credit_code: str | None = None
    credit_code_check: Mapping[str, Any] | None = None
    name: str | None = None
    address: str | None = None
    licence_url: str | None = None
    shop_name: str | None = None
    shop_url: str | None = None
    platform: str | None = None
    item_id: str | None = None
    jurisdiction: JurisdictionDoc | None = field(
        default=None, metadata=_codec(_nested(JurisdictionDoc))
    )
    extra: Mapping[str, Any] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CaseListing(DocModel):
    """One listing's sightings inside a case: what was seen, its finding, its state."""

    platform: str = ""
    item_id: str = ""
    url: str | None = None
    final_url: str | None = None
    title: str | None = None
    shop_name: str | None = None
    price: float | None = None
    kind: str | None = None
    platform_name: str | None = None
    captured_at: Any = None  # the crawler's ISO string
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    seen_count: int | None = None
    last_run_id: str | None = None
    run_ids: tuple[str, ...] | None = field(default=None, metadata=_codec(SEQ))
    evidence_id: str | None = None
    state: str | None = None  # "online" | "changed" | "removed"
    state_at: datetime | None = None
    score: float | None = None
    severity: str | None = None
    article: str | None = None
    explanation: str | None = None
    matched: tuple[str, ...] | None = field(default=None, metadata=_codec(SEQ))
    spans: tuple[tuple[int, ...], ...] | None = field(default=None, metadata=_codec(SPANS))
    image: ImageClaim | None = field(default=None, metadata=_codec(_nested(ImageClaim)))
    finding_type: str | None = None  # "claim" | "price_fraud"
    extra: Mapping[str, Any] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision(DocModel):
    action: str | None = None  # the action's Chinese label
    by: str | None = None
    at: datetime | None = None
    reason: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Referral(DocModel):
    units: tuple[str | None, ...] | None = field(default=None, metadata=_codec(SEQ))
    bureau: str | None = None
    bureau_key: str | None = None
    by: str | None = None
    at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Outcome(DocModel):
    text: str | None = None
    by: str | None = None
    at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Followup(DocModel):
    """A takedown follow-up of one listing (tiequan.leads.followup); its details in extra."""

    run_id: str | None = None
    at: datetime | None = None
    platform: str | None = None
    item_id: str | None = None
    state: str | None = None
    evidence_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Case(DocModel):
    """A lead. The fields from ``platform`` to ``finding_type`` are its strongest listing's."""

    id: str = field(default="", metadata={"key": "_id"})
    schema: int | None = None
    party_key: str | None = None
    category: str | None = None
    category_name: str | None = None
    party: PartyDoc | None = field(default=None, metadata=_codec(_nested(PartyDoc)))
    jurisdiction: JurisdictionDoc | None = field(
        default=None, metadata=_codec(_nested(JurisdictionDoc))
    )
    source: str | None = None
    source_ref: str | None = None
    lead_unit: str | None = None
    lead_unit_key: str | None = None
    co_units: tuple[str, ...] | None = field(default=None, metadata=_codec(SEQ))
    co_unit_keys: tuple[str, ...] | None = field(default=None, metadata=_codec(SEQ))
    status: str | None = None
    status_at: datetime | None = None
    due_at: datetime | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    created_at: datetime | None = None
    first_run_id: str | None = None
    run_ids: tuple[str, ...] | None = field(default=None, metadata=_codec(SEQ))
    listings: tuple[CaseListing, ...] | None = field(
        default=None, metadata=_codec(_nested_seq(CaseListing))
    )
    evidence_count: int | None = None
    followups: tuple[Followup, ...] | None = field(
        default=None, metadata=_codec(_nested_seq(Followup))
    )
    version: int | None = None
    write_token: str | None = None
    listing_count: int | None = None
    night_count: int | None = None
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    finding_score: float | None = None
    max_severity: str | None = None
    score: float | None = None
    platform: str | None = None
    platform_name: str | None = None
    item_id: str | None = None
    title: str | None = None
    url: str | None = None
    shop_name: str | None = None
    severity: str | None = None
    article: str | None = None
    explanation: str | None = None
    matched: tuple[str, ...] | None = field(default=None, metadata=_codec(SEQ))
    spans: tuple[tuple[int, ...], ...] | None = field(default=None, metadata=_codec(SPANS))
    image: ImageClaim | None = field(default=None, metadata=_codec(_nested(ImageClaim)))
    finding_type: str | None = None
    decision: Decision | None = field(default=None, metadata=_codec(_nested(Decision)))
    referral: Referral | None = field(default=None, metadata=_codec(_nested(Referral)))
    outcome: Outcome | None = field(default=None, metadata=_codec(_nested(Outcome)))
    # The tip-sheet rows this case was imported from (tiequan.leads.importer).
    imports: tuple[Mapping[str, Any], ...] | None = field(default=None, metadata=_codec(SEQ))
    # The hash record of the evidence manifest last made for it (tiequan.evidence.manifest).
    manifest: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()
