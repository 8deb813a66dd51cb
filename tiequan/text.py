"""Crawled text shown to officers: made inert, and measured in terminal columns."""

from __future__ import annotations

import unicodedata
from typing import Any

NONE_MARK = "—"  # what officers see for an empty field


def clean(value: Any) -> str:
    """Crawled text made inert for a terminal: no control or bidi characters, one line."""
    text = "" if value is None else str(value)
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cc" or ch in "\u2028\u2029":
            out.append(" ")
        elif cat != "Cf":
            out.append(ch)
    return " ".join("".join(out).split())


def char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    return sum(char_width(ch) for ch in text)


def truncate(text: str, width: int) -> str:
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = char_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))
