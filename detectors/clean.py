"""Text as it enters the system: characters no encoder, store or browser accepts, replaced.

Crawled JSON, imported sheets and ``tiequan detect`` input can carry lone UTF-16
surrogates (``"\\ud800"`` in JSON) and C0 control characters. They are replaced by U+FFFD
one for one, so offsets into the text stay valid, and counted by the caller.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
SURROGATES = "\ud800-\udfff"  # as a character-class range
# Lone surrogates; C0 controls except tab, newline and carriage return; DEL.
_INVALID = re.compile(f"[{SURROGATES}\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def repair_text(text: str) -> tuple[str, int]:
    """``text`` with invalid characters replaced by U+FFFD, and how many were replaced."""
    if _INVALID.search(text) is None:
        return text, 0
    return _INVALID.subn(REPLACEMENT, text)
