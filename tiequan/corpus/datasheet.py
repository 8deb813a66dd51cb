"""The count tables a datasheet keeps between markers, rewritten from the data."""

from __future__ import annotations

import re
from pathlib import Path

COUNTS_BEGIN, COUNTS_END = "<!-- counts:begin -->", "<!-- counts:end -->"


def write_counts(sheet: Path, tables: str) -> None:
    """Replace the block between the markers of ``sheet`` (if the file exists)."""
    if not sheet.is_file():
        return
    block = f"{COUNTS_BEGIN}\n{tables}{COUNTS_END}"
    text = sheet.read_text(encoding="utf-8")
    pattern = re.escape(COUNTS_BEGIN) + ".*?" + re.escape(COUNTS_END)
    sheet.write_text(re.sub(pattern, lambda _: block, text, flags=re.S), encoding="utf-8")
