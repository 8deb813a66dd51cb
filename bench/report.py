"""Keep BENCHMARKS.md as one section per benchmark, replaced on each run."""

from __future__ import annotations

import re
from pathlib import Path

HEADER = "# Benchmarks\n\nEach section is rewritten by the command it names.\n"


def write_section(path: Path, key: str, title: str, body: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    block = f"<!-- bench:{key} -->\n## {title}\n\n{body}\n<!-- /bench:{key} -->\n"
    pattern = re.compile(rf"<!-- bench:{key} -->.*?<!-- /bench:{key} -->\n", re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text + "\n" + block
    path.write_text(text, encoding="utf-8")
