"""The shapes of the queries a process sends, recorded by a pymongo CommandListener.

A shape is a collection, an operation, the fields its filter narrows on (equality: a value,
``$eq``, ``$in``; range: ``$gt``/``$gte``/``$lt``/``$lte``), the fields it names without
narrowing (``$exists``, ``$ne``, ``$nin``, ``$regex``...) and its sort. A ``$or`` gives one
shape per branch (each must be served). ``RECORDER_SCRIPT`` runs a `tiequan` command in a
child process with a recorder registered for every client, and writes the shapes to a file.
"""

from __future__ import annotations

import json
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import monitoring

EQUALITY = frozenset({"$eq", "$in", "$all"})
RANGE = frozenset({"$gt", "$gte", "$lt", "$lte"})
# Commands whose filters we record, and where their filter and sort are.
RECORDED = frozenset(
    {"find", "aggregate", "count", "distinct", "update", "delete", "findAndModify"}
)


@dataclass(frozen=True, order=True)
class Shape:
    collection: str
    op: str
    equality: tuple[str, ...]
    range: tuple[str, ...]
    other: tuple[str, ...]
    sort: tuple[str, ...]

    @property
    def narrowing(self) -> frozenset[str]:
        return frozenset(self.equality) | frozenset(self.range)

    def describe(self) -> str:
        parts = [f"{self.collection}.{self.op}"]
        if self.equality:
            parts.append("eq=" + ",".join(self.equality))
        if self.range:
            parts.append("range=" + ",".join(self.range))
        if self.other:
            parts.append("other=" + ",".join(self.other))
        if self.sort:
            parts.append("sort=" + ",".join(self.sort))
        return " ".join(parts)

    def to_json(self) -> list[Any]:
        fields = (self.equality, self.range, self.other, self.sort)
        return [self.collection, self.op, *(list(f) for f in fields)]

    @classmethod
    def from_json(cls, row: list[Any]) -> Shape:
        collection, op, eq, rng, other, sort = row
        return cls(str(collection), str(op), tuple(eq), tuple(rng), tuple(other), tuple(sort))


@dataclass
class _Fields:
    equality: set[str]
    range: set[str]
    other: set[str]


def _walk(flt: dict[str, Any], prefix: str, acc: _Fields) -> list[dict[str, Any]]:
    """Add ``flt``'s fields to ``acc``; returns the ``$or`` lists' branches met on the way."""
    branches: list[dict[str, Any]] = []
    for key, value in flt.items():
        if key == "$and":
            for part in value:
                branches += _walk(part, prefix, acc)
        elif key == "$or":
            branches.append({"$or": list(value)})
        elif key.startswith("$"):
            acc.other.add(key)  # $nor, $expr, $where, $comment...
        else:
            _field(prefix + key, value, acc)
    return branches


def _field(path: str, value: Any, acc: _Fields) -> None:
    if not isinstance(value, dict) or not any(k.startswith("$") for k in value):
        acc.equality.add(path)
        return
    for op, arg in value.items():
        if op in EQUALITY:
            acc.equality.add(path)
        elif op in RANGE:
            acc.range.add(path)
        elif op == "$elemMatch" and isinstance(arg, dict):
            _walk(arg, path + ".", acc)
        else:
            acc.other.add(path)


def shapes_of(collection: str, op: str, flt: dict[str, Any] | None, sort: Any) -> list[Shape]:
    """The shapes of one filter: one, or one per branch of its ``$or``."""
    sort_keys = tuple(sort) if isinstance(sort, dict) else ()
    pending: list[tuple[_Fields, dict[str, Any]]] = [(_Fields(set(), set(), set()), flt or {})]
    done: list[_Fields] = []
    while pending:
        acc, part = pending.pop()
        branches = _walk(part, "", acc)
        ors = [b["$or"] for b in branches if "$or" in b]
        if not ors:
            done.append(acc)
            continue
        first, rest = ors[0], ors[1:]
        for branch in first:
            copy = _Fields(set(acc.equality), set(acc.range), set(acc.other))
            pending.append((copy, {"$and": [branch, *({"$or": r} for r in rest)]}))
    return [
        Shape(
            collection,
            op,
            tuple(sorted(f.equality)),
            tuple(sorted(f.range - f.equality)),
            tuple(sorted(f.other - f.equality - f.range)),
            sort_keys,
        )
        for f in done
    ]


def command_shapes(command: dict[str, Any]) -> list[Shape]:
    """The shapes of one command as pymongo sends it (empty for others)."""
    op = next(iter(command), "")
    if op not in RECORDED:
        return []
    collection = str(command[op])
    if op == "find":
        return shapes_of(collection, op, command.get("filter"), command.get("sort"))
    if op in ("count", "distinct"):
        return shapes_of(collection, op, command.get("query"), None)
    if op == "findAndModify":
        return shapes_of(collection, op, command.get("query"), command.get("sort"))
    if op == "update":
        return [
            s for u in command.get("updates", []) for s in shapes_of(collection, op, u["q"], None)
        ]
    if op == "delete":
        return [
            s for d in command.get("deletes", []) for s in shapes_of(collection, op, d["q"], None)
        ]
    # aggregate: its leading $match stages, and a $sort right after them.
    flt: dict[str, Any] = {}
    sort = None
    for stage in command.get("pipeline", []):
        if "$match" in stage:
            flt = {"$and": [flt, stage["$match"]]} if flt else stage["$match"]
        elif "$sort" in stage:
            sort = stage["$sort"]
            break
        else:
            break
    return shapes_of(collection, op, flt, sort)


OWN_CODE = ("/tiequan/", "/pipelines/", "/crawlers/")


def caller() -> str:
    """The innermost frame of the project's own code: where a query comes from."""
    for frame in reversed(traceback.extract_stack()):
        for part in OWN_CODE:
            if part in frame.filename:
                return f"{part[1:]}{frame.filename.rsplit(part, 1)[1]}:{frame.lineno}"
    return "?"


class ShapeRecorder(monitoring.CommandListener):
    """Records the shapes of the commands every client it listens to sends, and where
    in the project's code each shape was first sent from."""

    def __init__(self) -> None:
        self.shapes: dict[Shape, str] = {}
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        found = command_shapes(dict(event.command))
        if found:
            where = caller()
            with self._lock:
                for shape in found:
                    self.shapes.setdefault(shape, where)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def dump(self, path: Path) -> None:
        with self._lock:
            rows = [[*s.to_json(), where] for s, where in sorted(self.shapes.items())]
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")


def load_shapes(path: Path) -> dict[Shape, str]:
    """The shapes a recorder dumped, each with where it was sent from."""
    rows = json.loads(path.read_text(encoding="utf-8"))
    return {Shape.from_json(row[:6]): str(row[6]) for row in rows}


# argv: [sys.executable, "-c", RECORDER_SCRIPT, shapes.json, *tiequan args]
RECORDER_SCRIPT = """
import sys
from pathlib import Path
from pymongo import monitoring
from tests.query_shapes import ShapeRecorder
recorder = ShapeRecorder()
monitoring.register(recorder)
from tiequan.cli.main import main
try:
    code = main(sys.argv[2:])
finally:
    recorder.dump(Path(sys.argv[1]))
sys.exit(code)
"""
