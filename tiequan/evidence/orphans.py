"""Artefact files that no record points at (孤立证据文件), and removing them when asked.

Files are written before the records that point at them (the evidence stage stores its
artefacts, then batches the evidence set; the validate stage keeps an oversized field's
original before its listing is stored), so a crash, a killed sweep or a rejected import
row can leave files behind. A file counts as referenced when any of ``REFERENCES`` names
its hash, or when a spooled batch waiting for replay mentions it. Pruning never removes a
file younger than ``min_age`` (a sweep may be about to write its record; putting an
existing file again refreshes its time) and checks each file's references again just
before removing it.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo.database import Database

from tiequan.evidence.artefacts import ArtefactStore
from tiequan.storage.store import EVIDENCE, LEADS, LISTINGS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reference:
    """A place records name artefacts: a collection and the dotted path of the hash."""

    collection: str
    path: str


# Every record kind that points at artefact files; a new one must be added here.
REFERENCES = (
    Reference(EVIDENCE, "artefacts.sha256"),  # evidence sets (and their oversized originals)
    Reference(LEADS, "manifest.sha256"),  # a lead's evidence manifest
    Reference(LISTINGS, "originals.sha256"),  # oversized fields cut by the validate stage
    Reference(LEADS, "imports.originals.sha256"),  # oversized cells of imported rows
)
DEFAULT_MIN_AGE_SECONDS = 15 * 60
_HEX64 = re.compile(rb"\b[0-9a-f]{64}\b")
TEMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class Orphan:
    path: Path
    sha256: str | None  # None: a leftover temporary file of an interrupted write
    size: int
    age_seconds: float

    @property
    def leftover(self) -> bool:
        return self.sha256 is None


@dataclass
class OrphanScan:
    files: int = 0  # files in the store
    orphans: list[Orphan] = field(default_factory=list)
    unknown: list[Path] = field(default_factory=list)  # not ours: listed, never removed
    removed: list[Orphan] = field(default_factory=list)
    kept_young: list[Orphan] = field(default_factory=list)  # too young to remove
    kept_referenced: list[Orphan] = field(default_factory=list)  # referenced by now

    @property
    def orphan_bytes(self) -> int:
        return sum(o.size for o in self.orphans)


def _values(doc: Any, parts: list[str]) -> Iterator[Any]:
    """The values at a dotted path, through lists as MongoDB reads it."""
    if isinstance(doc, list):
        for element in doc:
            yield from _values(element, parts)
        return
    if not parts:
        yield doc
        return
    if isinstance(doc, dict) and parts[0] in doc:
        yield from _values(doc[parts[0]], parts[1:])


def referenced_hashes(db: Database[Any], references: Iterable[Reference] = REFERENCES) -> set[str]:
    """Every hash any record names."""
    found: set[str] = set()
    for ref in references:
        parts = ref.path.split(".")
        cursor = db[ref.collection].find({ref.path: {"$exists": True}}, {ref.path: 1, "_id": 0})
        for doc in cursor:
            found.update(v for v in _values(doc, parts) if isinstance(v, str))
    return found


def _is_referenced(db: Database[Any], sha: str) -> bool:
    return any(db[r.collection].find_one({r.path: sha}, {"_id": 1}) for r in REFERENCES)


def spooled_hashes(spool_dir: Path) -> set[str]:
    """Hashes mentioned in spooled batches: their records are not in the database yet."""
    found: set[str] = set()
    if not spool_dir.is_dir():
        return found
    for path in sorted(spool_dir.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                for line in fh:
                    found.update(m.decode() for m in _HEX64.findall(line))
    return found


def find_orphans(
    db: Database[Any], store: ArtefactStore, *, spool_dir: Path | None = None
) -> OrphanScan:
    """The store's files that no record (and no spooled batch) points at."""
    keep = referenced_hashes(db)
    if spool_dir is not None:
        keep |= spooled_hashes(spool_dir)
    scan = OrphanScan()
    now = time.time()
    for path, sha in store.files():
        scan.files += 1
        if sha is not None and sha in keep:
            continue
        if sha is None and not path.name.startswith(TEMP_PREFIX):
            scan.unknown.append(path)
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed meanwhile (a finished temporary file)
            continue
        scan.orphans.append(Orphan(path, sha, stat.st_size, max(0.0, now - stat.st_mtime)))
    return scan


def prune_orphans(
    db: Database[Any],
    scan: OrphanScan,
    *,
    min_age_seconds: float = DEFAULT_MIN_AGE_SECONDS,
    spool_dir: Path | None = None,
) -> OrphanScan:
    """Remove the orphans of ``scan`` older than ``min_age_seconds`` that are still orphans."""
    spooled = spooled_hashes(spool_dir) if spool_dir is not None else set()
    for orphan in scan.orphans:
        try:
            age = time.time() - orphan.path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age < min_age_seconds:
            scan.kept_young.append(orphan)
            continue
        sha = orphan.sha256
        if sha is not None and (sha in spooled or _is_referenced(db, sha)):
            scan.kept_referenced.append(orphan)
            continue
        orphan.path.unlink(missing_ok=True)
        logger.info("removed orphaned evidence file %s", orphan.path)
        scan.removed.append(orphan)
    return scan
