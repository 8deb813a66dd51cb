"""Content-addressed, write-once storage of evidence files (固证 artefacts).

A file's name is the SHA-256 of its bytes: ``<root>/sha256/ab/<64 hex>``. A file is written
to a temporary name in its final directory, fsynced, then hard-linked into place, so a
reader never sees half a file and an existing file is never replaced. Files are made
read-only. Verification re-hashes the bytes against the name.

``EvidenceFiles`` is what every writer and reader of evidence uses; this directory store is
one backend, tiequan.evidence.gridfs_files the other (chosen by TIEQUAN_EVIDENCE_STORE,
tiequan.evidence.files).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from tiequan.settings import environment
from tiequan.storage.connect import resolve_home

logger = logging.getLogger(__name__)

KINDS = (
    "warc",
    "screenshot",
    "live_screenshot",
    "image",
    "html",
    "licence_page",
    "manifest",
    "text",
)
CheckResult = Literal["ok", "changed", "missing"]
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20


class ArtefactError(RuntimeError):
    """An artefact could not be stored, or a stored file does not match its name."""


@dataclass(frozen=True)
class Artefact:
    sha256: str
    size: int
    kind: str  # one of KINDS
    media_type: str
    name: str  # a human name for the file, e.g. "page.warc.gz"
    source_url: str | None = None

    @classmethod
    def of(
        cls, data: bytes, kind: str, media_type: str, name: str, source_url: str | None = None
    ) -> Artefact:
        """The artefact ``data`` makes: its hash and size, its kind checked."""
        if kind not in KINDS:
            raise ValueError(f"unknown artefact kind {kind!r}; expected one of {KINDS}")
        return cls(hashlib.sha256(data).hexdigest(), len(data), kind, media_type, name, source_url)

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Artefact:
        return cls(
            sha256=str(doc["sha256"]),
            size=int(doc["size"]),
            kind=str(doc["kind"]),
            media_type=str(doc.get("media_type") or "application/octet-stream"),
            name=str(doc.get("name") or ""),
            source_url=doc.get("source_url"),
        )


class EvidenceFiles(Protocol):
    """Content-addressed, write-once evidence files: the sha256 of the bytes is the id,
    a second put of the same bytes is a no-op, and a stored file is never replaced."""

    def put(
        self,
        data: bytes,
        *,
        kind: str,
        media_type: str,
        name: str,
        source_url: str | None = None,
    ) -> Artefact: ...

    def read(self, sha256: str) -> bytes:
        """The file's bytes (FileNotFoundError when it is not stored)."""
        ...

    def check(self, sha256: str) -> CheckResult:
        """Re-hash the stored bytes against the id."""
        ...

    def location(self, sha256: str) -> str:
        """Where the file is, for an officer's listing (a path, or the GridFS file)."""
        ...

    def describe(self) -> str:
        """Where the files are kept: the directory, or the GridFS bucket and database."""
        ...


def default_root(home: Path | None = None) -> Path:
    """``<home>/evidence`` for a given home, else TIEQUAN_EVIDENCE_DIR or $TIEQUAN_HOME/evidence."""
    return resolve_home(home) / "evidence" if home is not None else environment().evidence_dir


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checked_sha256(sha256: str) -> str:
    value = sha256.strip().lower()
    if not _HEX64.match(value):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return value


class ArtefactStore:
    """Write-once files under ``root/sha256/``; safe for several threads and processes."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    def path(self, sha256: str) -> Path:
        value = checked_sha256(sha256)
        return self.root / "sha256" / value[:2] / value

    def put(
        self,
        data: bytes,
        *,
        kind: str,
        media_type: str,
        name: str,
        source_url: str | None = None,
    ) -> Artefact:
        artefact = Artefact.of(data, kind, media_type, name, source_url)
        sha = artefact.sha256
        target = self.path(sha)
        if target.exists():
            self._confirm(target, sha)
            self._touch(target)
            return artefact
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o444)
            try:
                os.link(tmp, target)
            except FileExistsError:
                # Another writer got there first; its file must hold the same bytes.
                self._confirm(target, sha)
            else:
                self._sync_dir(target.parent)
        finally:
            tmp.unlink(missing_ok=True)
        return artefact

    @staticmethod
    def _touch(target: Path) -> None:
        """Mark a file just put again as new: its record is about to be written, and
        ``prune_orphans`` leaves young files alone."""
        try:
            os.utime(target)
        except OSError:
            logger.debug("cannot touch %s", target)

    def files(self) -> Iterator[tuple[Path, str | None]]:
        """Every file under ``sha256/``: (path, its hash by name), or None for a leftover
        temporary file of an interrupted write."""
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for directory in sorted(base.iterdir()):
            if not directory.is_dir():
                yield directory, None
                continue
            for path in sorted(directory.iterdir()):
                name = path.name
                ok = _HEX64.match(name) and name[:2] == directory.name and path.is_file()
                yield path, name if ok else None

    def _confirm(self, target: Path, sha: str) -> None:
        found = file_sha256(target)
        if found != sha:
            # Both are kept: the stored file is evidence of tampering, and we refuse to
            # overwrite it; the caller's bytes are still in its hands.
            raise ArtefactError(
                f"stored artefact {target} does not match its name (its bytes hash to {found})"
            )

    @staticmethod
    def _sync_dir(directory: Path) -> None:
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            logger.debug("cannot fsync directory %s", directory)
        finally:
            os.close(fd)

    @contextmanager
    def open(self, sha256: str) -> Iterator[IO[bytes]]:
        with self.path(sha256).open("rb") as fh:
            yield fh

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def location(self, sha256: str) -> str:
        return str(self.path(sha256))

    def describe(self) -> str:
        return str(self.root)

    def check(self, sha256: str) -> CheckResult:
        path = self.path(sha256)
        try:
            found = file_sha256(path)
        except FileNotFoundError:
            return "missing"
        return "ok" if found == checked_sha256(sha256) else "changed"
