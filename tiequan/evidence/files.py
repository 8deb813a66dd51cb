"""The evidence files of this installation: the directory or GridFS (TIEQUAN_EVIDENCE_STORE).

Everything that writes or reads evidence bytes (the evidence stage, the packager, workbench
downloads, ``tiequan evidence verify``) gets its store here, as an ``EvidenceFiles``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pymongo.database import Database

from tiequan.evidence.artefacts import ArtefactStore, EvidenceFiles
from tiequan.evidence.gridfs_files import GridFSArtefactStore
from tiequan.settings import environment


def uses_gridfs() -> bool:
    return environment().evidence_store == "gridfs"


def evidence_files(db: Database[dict[str, Any]] | None, root: Path | None = None) -> EvidenceFiles:
    """GridFS in ``db`` when TIEQUAN_EVIDENCE_STORE=gridfs, else the directory ``root``
    (default: TIEQUAN_EVIDENCE_DIR, else $TIEQUAN_HOME/evidence)."""
    if uses_gridfs():
        if db is None:
            raise ValueError("TIEQUAN_EVIDENCE_STORE=gridfs: evidence files need the database")
        return GridFSArtefactStore(db)
    return ArtefactStore(root)
