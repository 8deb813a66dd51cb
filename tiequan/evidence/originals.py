"""Oversized text fields: cut to a limit, the full original kept as an evidence artefact.

A seller's page or an imported spreadsheet can hold a description of millions of
characters; stored whole it would break MongoDB's 16 MB document limit and take its batch
with it. The field keeps its first characters (where a claim is read) and ends with a
marker an officer can see; the full text (UTF-8, after the character repair at the
boundary) goes to the artefact store, and ``{"field", "sha256", "chars", "bytes"}`` is
recorded on the record that holds the field, so ``tiequan evidence verify --orphans``
knows the file is referenced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from tiequan.evidence.artefacts import Artefact, ArtefactError, EvidenceFiles

logger = logging.getLogger(__name__)

ORIGINAL_KIND = "text"
ORIGINAL_MEDIA_TYPE = "text/plain; charset=utf-8"
# Enough of the marker to stay visible however the cut text is shown.
_MARKER_RESERVE = 80


@dataclass(frozen=True)
class Original:
    """Where the full text of one cut field is kept."""

    field: str  # e.g. "text", "extra.description", "内容"
    sha256: str | None  # None when the file could not be written
    chars: int
    bytes: int

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    def artefact(self, source_url: str | None = None) -> Artefact | None:
        """The artefact entry of an evidence set, when the file was written."""
        if self.sha256 is None:
            return None
        name = f"{self.field}-original.txt"
        return Artefact(self.sha256, self.bytes, ORIGINAL_KIND, ORIGINAL_MEDIA_TYPE, name,
                        source_url)  # fmt: skip


def marker(chars: int, sha256: str | None) -> str:
    """What ends a cut field: its full length and where the original is."""
    if sha256 is None:
        return f"……[超长内容已截断，原文共{chars}字，原文未能保存]"
    return f"……[超长内容已截断，原文共{chars}字，见证据附件 sha256:{sha256[:16]}]"


def keeper(store: EvidenceFiles) -> Callable[[str, int, str, str], tuple[str, dict[str, Any]]]:
    """``cut_text`` into ``store``, as the lead importer's ``keep_original`` takes it."""

    def keep(text: str, limit: int, field: str, source: str) -> tuple[str, dict[str, Any]]:
        cut, original = cut_text(text, limit, field=field, store=store, source_url=source)
        return cut, original.to_doc()

    return keep


def cut_text(
    text: str,
    limit: int,
    *,
    field: str,
    store: EvidenceFiles,
    source_url: str | None = None,
) -> tuple[str, Original]:
    """``text`` (longer than ``limit``) cut to at most ``limit`` characters, its original kept.

    Hashing and writing a few megabytes: call it off the reactor. A failed write is logged
    and noted in the marker; the cut text is returned either way.
    """
    if limit <= _MARKER_RESERVE:
        raise ValueError(f"field limit {limit} leaves no room for the marker")
    data = text.encode("utf-8")
    sha: str | None
    try:
        sha = store.put(data, kind=ORIGINAL_KIND, media_type=ORIGINAL_MEDIA_TYPE,
                        name=f"{field}-original.txt", source_url=source_url).sha256  # fmt: skip
    except (ArtefactError, OSError) as exc:
        logger.error("the original of oversized field %s (%s) could not be kept: %s",
                     field, source_url or "?", exc)  # fmt: skip
        sha = None
    tail = marker(len(text), sha)
    return text[: limit - len(tail)] + tail, Original(field, sha, len(text), len(data))
