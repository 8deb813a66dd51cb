"""The first N documents of a query in the order of an indexed key, read a window at a time.

A server that materialises every candidate of a query before it sorts and limits (the
embedded SecantusDB does; mongod stops early) reads the whole collection for "the newest
50 leads". Asking instead for the documents whose key lies within a span of its extreme
value lets the index narrow the read to that span. The span grows until it holds at least
N documents; every document outside it ranks after every document inside, so the result
is exactly the first N of the whole query. Only the spans are guessed (and remembered per
query shape, as a starting point); never the result.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.collection import Collection

RANGE_OPS = frozenset({"$gt", "$gte", "$lt", "$lte"})
MAX_PROBES = 30  # an empty window costs a millisecond or so
MEMO_SIZE = 256
ASCENDING_STEP = 0.8
FLOOR = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WindowKey:
    """An indexed key, and how its windows grow.

    Descending (largest first): the window is ``key >= top - span``, ``span`` growing from
    ``span``. Ascending (smallest first): ``key <= top - span``, ``span`` shrinking from
    ``limit`` by a fifth a probe. ``top`` is ``anchor``; for a time (``anchor`` None) a day
    after now, and spans are seconds. ``limit`` is the widest span worth a window (beyond
    it, read the query whole).
    """

    field: str
    descending: bool
    span: float
    limit: float
    anchor: float | None = None

    def top(self) -> Any:
        if self.anchor is None:
            return datetime.now(UTC) + timedelta(days=1)
        return self.anchor

    def bound(self, span: float) -> Any:
        if self.anchor is None:
            return self.top() - timedelta(seconds=span)
        return self.anchor - span

    def span_holding(self, first: Any, last: Any, fallback: float) -> float:
        """The span of a window that holds the documents from ``first`` to ``last`` (the
        first and the last wanted, in order), widened by a quarter of their range;
        ``fallback`` when the values are not of the key's kind."""
        try:
            gap = self.top() - (last + (last - first) / 4)
        except TypeError:
            return fallback
        span = gap.total_seconds() if isinstance(gap, timedelta) else float(gap)
        if not 0 < span < self.limit:
            return fallback
        return span


@dataclass(frozen=True)
class Exclusion:
    """Documents whose ``field`` holds one of ``values``, left out on the client: a
    ``$nin`` in the query itself keeps the embedded server off its compound indexes."""

    field: str
    values: frozenset[Any]

    def keeps(self, doc: Mapping[str, Any]) -> bool:
        return doc.get(self.field) not in self.values


class SpanMemo:
    """The span that last served a query shape and length, so the next read starts there."""

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self.size = size
        self.spans: OrderedDict[tuple[Any, ...], float] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, shape: tuple[Any, ...]) -> float | None:
        with self.lock:
            return self.spans.get(shape)

    def put(self, shape: tuple[Any, ...], span: float) -> None:
        with self.lock:
            self.spans[shape] = span
            self.spans.move_to_end(shape)
            while len(self.spans) > self.size:
                self.spans.popitem(last=False)


def _merged(query: Mapping[str, Any], name: str, ops: Mapping[str, Any]) -> dict[str, Any] | None:
    """``query`` with ``ops`` added to its clause on ``name`` (both must hold), first; None
    when that clause is not a range the ops can join."""
    existing = query.get(name)
    clause: dict[str, Any] = {}
    if existing is not None:
        if not isinstance(existing, Mapping) or not existing or set(existing) - RANGE_OPS:
            return None
        clause = dict(existing)
    for op, value in ops.items():
        if op in clause and op != "$eq":
            tighter = max if op in ("$gt", "$gte") else min
            clause[op] = tighter(clause[op], value)
        else:
            clause[op] = value
    return {name: clause, **{k: v for k, v in query.items() if k != name}}


def _windowed(query: Mapping[str, Any], key: WindowKey, bound: Any) -> dict[str, Any] | None:
    """``query`` with the window on ``key`` as its first clause (the one the server's
    planner tries first); None when ``query`` holds ``key`` in a form a window cannot join."""
    windowed = _merged(query, key.field, {"$gte" if key.descending else "$lte": bound})
    if windowed is None:
        return None
    clause = windowed[key.field]
    if not key.descending and isinstance(bound, datetime) and not {"$gt", "$gte"} & set(clause):
        # An open lower end walks the index's null entries too (the embedded server):
        # bound it below every date a driver can read, which matches the same documents.
        clause["$gte"] = FLOOR
    return windowed


def grown(span: float, found: int, need: int) -> float:
    """The next span of a window that held ``found`` of the ``need`` documents asked for:
    about wide enough for them (the documents' density in the last window), at most 16×."""
    return span * (8.0 if not found else min(16.0, max(1.1, 1.1 * need / found)))


def _shape(coll: Collection[Any], query: Mapping[str, Any], key: WindowKey) -> tuple[Any, ...]:
    """What a remembered span is filed under: times in the query (such as "now") left
    out, so a query asked again a moment later finds its span."""

    def strip(value: Any) -> Any:
        if isinstance(value, Mapping):
            return tuple(sorted((str(k), strip(v)) for k, v in value.items()))
        return "<time>" if isinstance(value, datetime) else repr(value)

    return (coll.full_name, key.field, key.descending, strip(query))


def first_ids(
    coll: Collection[Any],
    query: Mapping[str, Any],
    sort: Sequence[tuple[str, int]],
    key: WindowKey,
    need: int,
    memo: SpanMemo | None = None,
    unless: Exclusion | None = None,
) -> list[Any] | None:
    """The ``_id``s of the first ``need`` documents of ``query`` in ``sort`` order (whose
    leading field is ``key``), or None when a window cannot tell (the caller reads the
    query whole): ``key`` is not the sort's leading field, or even the widest window
    holds fewer than ``need`` documents. Documents that ``unless`` excludes do not count.

    The span remembered is the one that just holds the ``need`` documents found (with a
    quarter of their range to spare), not the window that found them: a window far wider
    than needed costs a read of every document in it, each time the query is asked."""
    if not sort or sort[0] != (key.field, -1 if key.descending else 1) or need < 1:
        return None
    existing = query.get(key.field)
    if not key.descending and not (isinstance(existing, Mapping) and set(existing) & RANGE_OPS):
        return None  # documents without the key come first in ascending order
    shape = (*_shape(coll, query, key), need, unless)
    span: float = key.span if key.descending else key.limit * ASCENDING_STEP
    remembered = memo.get(shape) if memo is not None else None
    if remembered is not None:
        span = remembered
    fields = {name: 1 for name, _ in sort}
    if unless is not None:
        fields[unless.field] = 1
    for _ in range(MAX_PROBES):
        if span >= key.limit:
            return None
        windowed = _windowed(query, key, key.bound(span))
        if windowed is None:
            return None
        docs = [
            d
            for d in coll.find(windowed, fields).sort(list(sort))
            if unless is None or unless.keeps(d)
        ]
        if len(docs) >= need:
            if memo is not None:
                memo.put(
                    shape,
                    key.span_holding(docs[0].get(key.field), docs[need - 1].get(key.field), span),
                )
            return [d["_id"] for d in docs[:need]]
        if key.descending:
            span = grown(span, len(docs), need)
        else:
            span = span * ASCENDING_STEP
    return None


@dataclass(frozen=True)
class Cursor:
    """A row of a read sorted by (key, ``_id``): its key's value and its ``_id``."""

    value: Any
    id: Any


def _shifted(value: Any, span: float, down: bool) -> Any:
    step = timedelta(seconds=span) if isinstance(value, datetime) else span
    return value - step if down else value + step


def ids_beyond(
    coll: Collection[Any],
    query: Mapping[str, Any],
    key: WindowKey,
    cursor: Cursor,
    need: int,
    *,
    backward: bool = False,
    memo: SpanMemo | None = None,
) -> list[Any] | None:
    """The ``_id``s of the ``need`` documents of ``query`` that follow ``cursor`` in the
    order (``key``, ``_id`` ascending), or that precede it when ``backward`` (nearest
    first): keyset paging, so page 50 reads what page 1 does. None when the query cannot
    take the cursor (it holds ``_id`` or ``key`` in another form); the caller pages by count.

    Documents tied with the cursor on ``key`` come first, by ``_id``; then windows of
    ``key`` beyond the cursor's value, growing as ``first_ids``'s do.
    """
    if "_id" in query or need < 1:
        return None
    direction = -1 if key.descending else 1
    if backward:
        direction = -direction
    id_order = -1 if backward else 1
    down = direction == -1
    ties = _merged(query, key.field, {"$eq": cursor.value})
    if ties is None:
        return None
    ties["_id"] = {"$lt" if backward else "$gt": cursor.id}
    ids = [d["_id"] for d in coll.find(ties, {"_id": 1}).sort("_id", id_order).limit(need)]
    if len(ids) >= need:
        return ids
    rest, beyond = need - len(ids), "$lt" if down else "$gt"
    order = [(key.field, direction), ("_id", id_order)]
    fields = {key.field: 1}
    shape = (*_shape(coll, query, key), "beyond", backward, rest)
    remembered = memo.get(shape) if memo is not None else None
    span = remembered if remembered is not None else key.span
    for _ in range(MAX_PROBES):
        if span >= key.limit:
            break
        bound = _shifted(cursor.value, span, down)
        windowed = _merged(
            query, key.field, {beyond: cursor.value, "$gte" if down else "$lte": bound}
        )
        if windowed is None:
            return None
        found = [d["_id"] for d in coll.find(windowed, fields).sort(order)]
        if len(found) >= rest:
            if memo is not None:
                memo.put(shape, span)
            return ids + found[:rest]
        span = grown(span, len(found), rest)
    whole = _merged(query, key.field, {beyond: cursor.value})
    if whole is None:
        return None
    return ids + [d["_id"] for d in coll.find(whole, {"_id": 1}).sort(order).limit(rest)]
