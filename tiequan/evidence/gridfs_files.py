"""Evidence files in GridFS, in the tiequan database: shared by every machine of a cluster.

The file id is the SHA-256 of the bytes (bucket ``evidence_files``; metadata: kind, media
type, name, source URL). GridFS writes a file's chunks, then its files document, and the
chunks' unique (files_id, n) index makes a second upload of an id fail (FileExists): so a
second put of the same bytes is a no-op, and a stored file is never replaced. A put whose
id exists re-hashes the stored bytes; a files document missing after a writer's chunks
means that writer is still uploading, or died: after a short wait its chunks are removed
and the upload made again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from gridfs import GridFSBucket
from gridfs.errors import CorruptGridFile, FileExists, NoFile
from pymongo.database import Database
from pymongo.errors import PyMongoError

from tiequan.evidence.artefacts import Artefact, ArtefactError, CheckResult, checked_sha256
from tiequan.storage.store import EVIDENCE_FILES

log = logging.getLogger(__name__)

BUCKET = EVIDENCE_FILES
# How long a put waits for another writer's upload of the same file to finish.
PARTIAL_WAIT_S = 10.0
_POLL_S = 0.1


class GridFSArtefactStore:
    """Write-once evidence files in the ``evidence_files`` GridFS bucket of ``db``."""

    def __init__(self, db: Database[dict[str, Any]], partial_wait_s: float = PARTIAL_WAIT_S):
        self.db = db
        self.bucket = GridFSBucket(db, bucket_name=BUCKET)
        self.files = db[f"{BUCKET}.files"]
        self.chunks = db[f"{BUCKET}.chunks"]
        self.partial_wait_s = partial_wait_s

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
        try:
            return self._put(data, artefact)
        except PyMongoError as exc:
            raise ArtefactError(f"cannot store {self.location(sha)}: {exc}") from exc

    def _put(self, data: bytes, artefact: Artefact) -> Artefact:
        sha = artefact.sha256
        if self._stored(sha):
            self._confirm(sha)
            return artefact
        for attempt in range(2):
            try:
                self.bucket.upload_from_stream_with_id(sha, sha, data, metadata=artefact.to_doc())
                return artefact
            except FileExists:
                if self._wait_stored(sha):
                    self._confirm(sha)  # another writer stored the same id first
                    return artefact
                if attempt:
                    raise ArtefactError(f"GridFS file {sha} stays half-written") from None
                # Chunks without a files document: a writer that died mid-upload.
                log.warning("removing the chunks of an interrupted upload of %s", sha)
                self.chunks.delete_many({"files_id": sha})
        raise AssertionError("unreachable")

    def _stored(self, sha: str) -> bool:
        return self.files.find_one({"_id": sha}, {"_id": 1}) is not None

    def _wait_stored(self, sha: str) -> bool:
        deadline = time.monotonic() + self.partial_wait_s
        while not self._stored(sha):
            if time.monotonic() > deadline:
                return False
            time.sleep(_POLL_S)
        return True

    def _confirm(self, sha: str) -> None:
        found = hashlib.sha256(self.read(sha)).hexdigest()
        if found != sha:
            # The stored file is evidence of tampering: kept, never overwritten.
            raise ArtefactError(
                f"stored artefact {self.location(sha)} does not match its id "
                f"(its bytes hash to {found})"
            )

    def read(self, sha256: str) -> bytes:
        sha = checked_sha256(sha256)
        try:
            with self.bucket.open_download_stream(sha) as stream:
                return stream.read()
        except NoFile as exc:
            raise FileNotFoundError(f"no evidence file {self.location(sha)}") from exc
        except CorruptGridFile:
            raise
        except PyMongoError as exc:
            raise ArtefactError(f"cannot read {self.location(sha)}: {exc}") from exc

    def check(self, sha256: str) -> CheckResult:
        sha = checked_sha256(sha256)
        try:
            data = self.read(sha)
        except FileNotFoundError:
            return "missing"
        except CorruptGridFile:  # a chunk removed or resized
            return "changed"
        return "ok" if hashlib.sha256(data).hexdigest() == sha else "changed"

    def location(self, sha256: str) -> str:
        return f"gridfs://{self.db.name}/{BUCKET}/{sha256}"

    def describe(self) -> str:
        return f"GridFS {self.db.name}/{BUCKET}"
