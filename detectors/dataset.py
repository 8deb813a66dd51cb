"""Labelled examples for fitting and measuring the detectors, read from JSON Lines.

Two files share this reader: the synthetic corpus (``config/corpus/*.jsonl``: id, text,
labels, group) and the real-world reference set's splits (``config/reference/*.jsonl``:
also title, context and kind). A title is joined in front of the text as the detectors
read a listing (``join_title``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from detectors.base import CATEGORY_IDS, NO_CONTEXT, ListingContext, join_title


@dataclass(frozen=True)
class Example:
    text: str
    labels: tuple[str, ...]
    context: ListingContext = NO_CONTEXT
    group: str = ""  # violation, compliant, hard_negative or benign
    id: str = ""
    type: str = ""  # the reference set's claim type or negative type
    source: str = ""  # the reference set's source address: folds never split one


def parse_example(record: Any, path: Path, line: int) -> Example:
    """One record as an Example; ValueError names the file, line and field."""
    where = f"{path}:{line}"
    if not isinstance(record, dict):
        raise ValueError(f"{where}: not a JSON object")
    text, title = record.get("text"), record.get("title") or ""
    if not isinstance(text, str) or not isinstance(title, str):
        raise ValueError(f"{where}: text and title must be strings (text: {text!r})")
    labels = record.get("labels")
    if not isinstance(labels, list) or any(label not in CATEGORY_IDS for label in labels):
        raise ValueError(f"{where}: labels: {labels!r} is not a list of category ids")
    context = NO_CONTEXT
    raw = record.get("context")
    if raw is not None:
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: context: {raw!r} is not an object")
        try:
            context = ListingContext(
                site_kind=str(raw.get("site_kind", "")),
                category=str(raw.get("category", "")),
                shop=str(raw.get("shop", "")),
                hints=tuple(raw.get("hints", ())),
            )
        except ValueError as exc:
            raise ValueError(f"{where}: context.{exc}") from exc
    group = str(record.get("group") or record.get("kind") or "")
    return Example(
        join_title(title, text)[0],
        tuple(labels),
        context,
        group,
        str(record.get("id", "")),
        str(record.get("type", "")),
        str(record.get("source", "")),
    )


def read_examples(path: Path) -> list[Example]:
    out: list[Example] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not JSON ({exc})") from exc
        out.append(parse_example(record, path, number))
    return out
