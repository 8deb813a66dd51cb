"""The real-world reference set: entries written around claims found in public sources.

Entries live in ``config/reference/entries/*.jsonl``, one JSON object per line (fields in
``config/reference/DATASHEET.md``). Each entry rests on one public page. Splits go by
source (the underlying case when the page names one, else the page address), so no source
feeds two splits. ``config/reference/splits.json`` seals them: once a source has a split
it never moves; ``build`` gives new sources one, stratified by category so that each
category's violations fall about 55/20/25 into train, dev and test.

``python -m tiequan.corpus.reference check`` validates every file and prints counts;
errors name the file, the line, the field and the value. ``build`` also writes the split
files ``config/reference/{train,dev,test}.jsonl`` that the detectors read (records in
the shape of ``detectors.dataset``); they are derived data, rebuilt from the entries.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from detectors.base import CATEGORY_IDS, NO_CONTEXT, SITE_KINDS, ListingContext
from tiequan.corpus.datasheet import write_counts
from tiequan.settings import REPO_CONFIG_DIR

REFERENCE_DIR = REPO_CONFIG_DIR / "reference"
SPLITS = ("train", "dev", "test")
SHARES = {"train": 0.55, "dev": 0.20, "test": 0.25}
SPLITS_FILE = "splits.json"
OFFLINE = frozenset({"elevator_overdue", "gas_pipe_overdue"})
ONLINE_CATEGORIES: tuple[str, ...] = tuple(c for c in CATEGORY_IDS if c not in OFFLINE)
KINDS = ("violation", "compliant", "hard_negative")
NEGATIVE_TYPES = (
    "compliant_ad",
    "regulation",
    "standard",
    "news",
    "enforcement_report",
    "warning",
    "education",
    "advice",
    "disclaimer",
    "everyday",
    "review",
)
MAX_TEXT = 2000
MAX_TERM = 24
_DATE = re.compile(r"^(?:\d{4}(?:-\d{2}(?:-\d{2})?)?|unknown)$")
_URL = re.compile(r"^https?://\S+$")


class ReferenceError(ValueError):
    """A reference entry is invalid: names the file, line, field and value."""

    def __init__(self, path: Path | str, line: int, field_name: str, value: Any, why: str) -> None:
        self.path, self.line, self.field = str(path), line, field_name
        super().__init__(f"{path}:{line}: {field_name}: {why} (value: {value!r})")


@dataclass(frozen=True)
class Source:
    url: str
    date: str
    title: str
    query: str
    case: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        """The page and, when named, the case: entries sharing either share a split."""
        page = f"url:{_plain_url(self.url)}"
        return (page, f"case:{self.case.strip()}") if self.case.strip() else (page,)


@dataclass(frozen=True)
class ReferenceEntry:
    id: str
    text: str
    labels: tuple[str, ...]
    kind: str
    source: Source
    title: str = ""
    context: ListingContext = NO_CONTEXT
    negative_type: str = ""
    claim_type: str = ""
    claim_terms: tuple[str, ...] = ()
    article: str = ""
    origin: str = ""  # file:line it was read from
    split: str = ""  # from splits.json; "" until ``build`` assigns the source one


def _plain_url(url: str) -> str:
    url = url.strip().rstrip("/")
    return re.sub(r"^https?://(www\.)?", "", url).lower()


def _stratum(entries: Sequence[ReferenceEntry]) -> str:
    """A source's stratum: its violations' most common category, else its entry file."""
    labels = Counter(label for e in entries if e.kind == "violation" for label in e.labels)
    if labels:
        return max(sorted(labels), key=lambda c: labels[c])
    return "negatives:" + entries[0].origin.split(":", 1)[0]


def sources(entries: Sequence[ReferenceEntry]) -> list[list[ReferenceEntry]]:
    """Entries grouped by source: linked by a shared page or a shared case key."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for entry in entries:
        first, *rest = entry.source.keys
        for key in rest:
            parent[root(key)] = root(first)
    groups: dict[str, list[ReferenceEntry]] = {}
    for entry in entries:
        groups.setdefault(root(entry.source.keys[0]), []).append(entry)
    return list(groups.values())


def assign_splits(entries: Sequence[ReferenceEntry], sealed: dict[str, str]) -> dict[str, str]:
    """``sealed`` plus a split for the keys of every new source; sealed keys never move.

    Within a stratum, new sources (in hash order, so the result is deterministic) each
    go to the split that is furthest below its share of the stratum's entries.
    """
    out = dict(sealed)
    strata: dict[str, list[tuple[str, list[ReferenceEntry], set[str]]]] = {}
    for group in sources(entries):
        keys = {k for e in group for k in e.source.keys}
        found = {out[k] for k in keys if k in out}
        if len(found) > 1:
            entry = group[0]
            path, line = entry.origin.rsplit(":", 1)
            raise ReferenceError(
                path, int(line), "source", sorted(keys), f"one source sealed in {sorted(found)}"
            )
        name = min(keys)
        strata.setdefault(_stratum(group), []).append((name, group, keys))
        if found:
            split = found.pop()
            out.update((k, split) for k in keys)
    for members in strata.values():
        total = sum(len(group) for _, group, _ in members)
        filled = Counter({s: 0 for s in SPLITS})
        fresh = []
        for name, group, keys in members:
            if name in out:
                filled[out[name]] += len(group)
            else:
                fresh.append((name, group, keys))
        for _name, group, keys in sorted(fresh, key=lambda m: _digest(m[0])):
            split = max(SPLITS, key=lambda s: SHARES[s] * total - filled[s])
            out.update((k, split) for k in keys)
            filled[split] += len(group)
    return dict(sorted(out.items()))


def split_of(entry: ReferenceEntry, sealed: dict[str, str]) -> str:
    """The split sealed for the entry's page or case ("" when neither has one)."""
    return next((sealed[k] for k in entry.source.keys if k in sealed), "")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def read_sealed(directory: Path) -> dict[str, str]:
    path = directory / SPLITS_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    bad = {k: v for k, v in data.items() if v not in SPLITS}
    if bad:
        key, value = next(iter(bad.items()))
        raise ReferenceError(path, 1, key, value, f"split must be one of {', '.join(SPLITS)}")
    return {str(k): str(v) for k, v in data.items()}


def _text(raw: dict[str, Any], key: str, where: tuple[Path, int], *, required: bool) -> str:
    value = raw.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ReferenceError(*where, key, value, "must be a string")
    if required and not value.strip():
        raise ReferenceError(*where, key, value, "is required")
    return value


def parse_entry(raw: Any, path: Path, line: int) -> ReferenceEntry:
    """One validated entry; raises ReferenceError naming the first bad field."""
    where = (path, line)
    if not isinstance(raw, dict):
        raise ReferenceError(path, line, "(line)", raw, "must be a JSON object")
    known = {
        "id", "text", "labels", "kind", "source", "title", "context", "negative_type",
        "claim_type", "claim_terms", "article",
    }  # fmt: skip
    for key in raw:
        if key not in known:
            raise ReferenceError(path, line, key, raw[key], "unknown field")
    entry_id = _text(raw, "id", where, required=True)
    text = _text(raw, "text", where, required=True)
    if len(text) > MAX_TEXT:
        raise ReferenceError(path, line, "text", text[:40] + "…", f"longer than {MAX_TEXT}")
    kind = _text(raw, "kind", where, required=True)
    if kind not in KINDS:
        raise ReferenceError(path, line, "kind", kind, f"must be one of {', '.join(KINDS)}")
    labels = raw.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise ReferenceError(path, line, "labels", labels, "must be a list of category ids")
    for label in labels:
        if label not in ONLINE_CATEGORIES:
            raise ReferenceError(path, line, "labels", label, "not an online category id")
    if len(set(labels)) != len(labels):
        raise ReferenceError(path, line, "labels", labels, "repeats a category")
    if kind == "violation" and not labels:
        raise ReferenceError(path, line, "labels", labels, "a violation needs a category")
    if kind != "violation" and labels:
        raise ReferenceError(path, line, "labels", labels, f"a {kind} entry has no category")
    negative_type = _text(raw, "negative_type", where, required=kind != "violation")
    if kind != "violation" and negative_type not in NEGATIVE_TYPES:
        allowed = ", ".join(NEGATIVE_TYPES)
        raise ReferenceError(
            path, line, "negative_type", negative_type, f"must be one of {allowed}"
        )
    terms = raw.get("claim_terms", [])
    if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
        raise ReferenceError(path, line, "claim_terms", terms, "must be a list of phrases")
    for term in terms:
        if len(term) > MAX_TERM:
            raise ReferenceError(
                path, line, "claim_terms", term, f"a phrase, not a sentence (≤ {MAX_TERM} chars)"
            )
    if kind == "violation" and not terms:
        raise ReferenceError(path, line, "claim_terms", terms, "a violation names its claim")
    return ReferenceEntry(
        id=entry_id,
        text=text,
        labels=tuple(labels),
        kind=kind,
        source=_source(raw.get("source"), where),
        title=_text(raw, "title", where, required=False),
        context=_context(raw.get("context"), where),
        negative_type=negative_type,
        claim_type=_text(raw, "claim_type", where, required=kind == "violation"),
        claim_terms=tuple(terms),
        article=_text(raw, "article", where, required=kind == "violation"),
        origin=f"{path.name}:{line}",
    )


def _source(raw: Any, where: tuple[Path, int]) -> Source:
    if not isinstance(raw, dict):
        raise ReferenceError(*where, "source", raw, "must be an object {url, date, title, query}")
    for key in raw:
        if key not in ("url", "date", "title", "query", "case"):
            raise ReferenceError(*where, f"source.{key}", raw[key], "unknown field")
    values = {k: raw.get(k, "") for k in ("url", "date", "title", "query", "case")}
    for key, value in values.items():
        if not isinstance(value, str):
            raise ReferenceError(*where, f"source.{key}", value, "must be a string")
    if not _URL.match(values["url"]):
        raise ReferenceError(*where, "source.url", values["url"], "must be an http(s) address")
    if not _DATE.match(values["date"]):
        raise ReferenceError(
            *where, "source.date", values["date"], "must be YYYY, YYYY-MM, YYYY-MM-DD or unknown"
        )
    if not values["query"].strip():
        raise ReferenceError(*where, "source.query", values["query"], "is required")
    return Source(**values)


def _context(raw: Any, where: tuple[Path, int]) -> ListingContext:
    if raw is None:
        return NO_CONTEXT
    if not isinstance(raw, dict):
        raise ReferenceError(
            *where, "context", raw, "must be an object (site_kind, category, shop)"
        )
    for key, value in raw.items():
        if key not in ("site_kind", "category", "shop"):
            raise ReferenceError(*where, f"context.{key}", value, "unknown field")
        if not isinstance(value, str):
            raise ReferenceError(*where, f"context.{key}", value, "must be a string")
    site_kind = raw.get("site_kind", "")
    if site_kind and site_kind not in SITE_KINDS:
        raise ReferenceError(
            *where, "context.site_kind", site_kind, f"must be one of {', '.join(SITE_KINDS)}"
        )
    return ListingContext(site_kind, raw.get("category", ""), raw.get("shop", ""))


def read_file(path: Path) -> list[ReferenceEntry]:
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ReferenceError(path, number, "(line)", line[:60], f"not JSON: {exc}") from exc
        entries.append(parse_entry(raw, path, number))
    return entries


def load(directory: Path = REFERENCE_DIR, *, split: str | None = None) -> list[ReferenceEntry]:
    """Every entry under ``directory/entries`` (or of one split), ids checked unique.

    Each entry carries the split ``splits.json`` seals for its source ("" if none yet).
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; one of {', '.join(SPLITS)}")
    sealed = read_sealed(directory)
    entries: list[ReferenceEntry] = []
    seen: dict[str, str] = {}
    for path in sorted((directory / "entries").glob("*.jsonl")):
        for entry in read_file(path):
            if entry.id in seen:
                line = int(entry.origin.rsplit(":", 1)[1])
                raise ReferenceError(path, line, "id", entry.id, f"also at {seen[entry.id]}")
            seen[entry.id] = entry.origin
            entries.append(replace(entry, split=split_of(entry, sealed)))
    return [e for e in entries if split is None or e.split == split]


def counts(entries: Iterable[ReferenceEntry]) -> dict[str, Counter[str]]:
    """Per split: violations per category, and non-violations per kind."""
    out: dict[str, Counter[str]] = {s: Counter() for s in (*SPLITS, "")}
    for entry in entries:
        bucket = out[entry.split]
        if entry.kind == "violation":
            bucket.update(entry.labels)
        else:
            bucket[f"({entry.kind})"] += 1
    return out


def split_record(entry: ReferenceEntry) -> dict[str, Any]:
    """The entry as the detectors' example reader takes it (see detectors.dataset)."""
    record: dict[str, Any] = {"id": entry.id}
    if entry.title:
        record["title"] = entry.title
    record["text"] = entry.text
    context = {
        "site_kind": entry.context.site_kind,
        "category": entry.context.category,
        "shop": entry.context.shop,
    }
    if any(context.values()):
        record["context"] = {k: v for k, v in context.items() if v}
    record["labels"] = list(entry.labels)
    record["kind"] = entry.kind
    record["type"] = entry.claim_type if entry.kind == "violation" else entry.negative_type
    record["source"] = entry.source.url
    return record


def split_lines(entries: Iterable[ReferenceEntry]) -> dict[str, str]:
    """The content of each split file, entries in file order."""
    lines: dict[str, list[str]] = {s: [] for s in SPLITS}
    for entry in entries:
        if not entry.split:
            raise ValueError(f"{entry.origin}: source {entry.source.keys[0]} has no split; build")
        lines[entry.split].append(json.dumps(split_record(entry), ensure_ascii=False))
    return {s: "\n".join(rows) + "\n" if rows else "" for s, rows in lines.items()}


def counts_markdown(entries: Sequence[ReferenceEntry]) -> str:
    """The datasheet's tables: entries per category or kind and split, sources per split."""
    table = counts(entries)
    keys = sorted({k for c in table.values() for k in c})
    lines = ["| violations of / kind | train | dev | test | total |", "|---|---:|---:|---:|---:|"]
    for key in keys:
        row = [table[s][key] for s in SPLITS]
        lines.append(f"| {key} | {' | '.join(map(str, row))} | {sum(row)} |")
    groups = sources(entries)
    row = [sum(1 for g in groups if g[0].split == s) for s in SPLITS]
    lines.append(f"| sources | {' | '.join(map(str, row))} | {sum(row)} |")
    return "\n".join(lines) + "\n"


def build(directory: Path) -> list[ReferenceEntry]:
    """Seal a split for every new source, write splits.json, the split files and counts."""
    entries = load(directory)
    sealed = assign_splits(entries, read_sealed(directory))
    text = json.dumps(sealed, ensure_ascii=False, indent=0, sort_keys=True) + "\n"
    (directory / SPLITS_FILE).write_text(text, encoding="utf-8")
    entries = [replace(e, split=split_of(e, sealed)) for e in entries]
    for split, content in split_lines(entries).items():
        (directory / f"{split}.jsonl").write_text(content, encoding="utf-8")
    write_counts(directory / "DATASHEET.md", counts_markdown(entries))
    return entries


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Validate the reference set and count it.")
    parser.add_argument("command", choices=["check", "build"])
    parser.add_argument("--dir", type=Path, default=REFERENCE_DIR)
    args = parser.parse_args(argv)
    try:
        entries = load(args.dir)
    except ReferenceError as exc:
        print(f"error: {exc}")  # CLI output
        return 1
    if args.command == "build":
        entries = build(args.dir)
    table = counts(entries)
    keys = sorted({k for c in table.values() for k in c})
    columns = [*SPLITS, ""] if table[""] else list(SPLITS)
    header = "".join(f"{s or 'no split':>9}" for s in columns)
    print(f"{'':24}{header}    total")  # CLI output
    for key in keys:
        row = [table[s][key] for s in columns]
        print(f"{key:24}" + "".join(f"{n:>9}" for n in row) + f"{sum(row):>9}")  # CLI output
    print(f"{len(entries)} entries from {len(sources(entries))} sources")  # CLI output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
