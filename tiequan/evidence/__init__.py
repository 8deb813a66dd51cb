"""Evidence fixing (固证): artefact store, WARC, evidence sets, manifests and verification."""

from __future__ import annotations

from tiequan.evidence.artefacts import (
    Artefact,
    ArtefactError,
    ArtefactStore,
    EvidenceFiles,
    default_root,
)
from tiequan.evidence.capture import evidence_id, shanghai_time

__all__ = [
    "Artefact",
    "ArtefactError",
    "ArtefactStore",
    "EvidenceFiles",
    "default_root",
    "evidence_id",
    "shanghai_time",
]
