"""docs/indexes.md lists every index of the registry and the query it serves."""

from __future__ import annotations

from pathlib import Path

from tiequan.storage.indexes import main, missing_descriptions, render
from tiequan.storage.store import INDEXES

DOC = Path(__file__).resolve().parents[1] / "docs" / "indexes.md"


def test_every_index_has_a_description() -> None:
    assert missing_descriptions() == []


def test_the_doc_is_generated_from_the_registry() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text == render(), "docs/indexes.md is out of date: python -m tiequan.storage.indexes"
    for collection, models in INDEXES.items():
        assert f"## {collection}\n" in text
        for model in models:
            assert f"| `{model.document['name']}` |" in text


def test_check_fails_on_a_stale_doc(tmp_path: Path) -> None:
    stale = tmp_path / "indexes.md"
    stale.write_text(render().replace("lead_created", "lead_gone"), encoding="utf-8")
    assert main(["--check", str(stale)]) == 1
    stale.write_text(render(), encoding="utf-8")
    assert main(["--check", str(stale)]) == 0
