"""Duplicate-key errors of unordered bulk writes: which index a write collided on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DUPLICATE_KEY = 11000


def is_id_conflict(error: Mapping[str, Any]) -> bool:
    """True when a duplicate-key write error is on ``_id`` (not on a unique business key)."""
    pattern = error.get("keyPattern")
    if isinstance(pattern, dict):
        return list(pattern) == ["_id"]
    return "index: _id_ " in str(error.get("errmsg", ""))
