"""`leads import` of a file with a cell far over MongoDB's 16 MB document limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from detectors.combine import ListingDetector
from tests.conftest import TrainedModel
from tiequan.cli.main import main
from tiequan.evidence.artefacts import ArtefactStore
from tiequan.leads.importer import Importer
from tiequan.leads.importer_read import read_table
from tiequan.leads.queue import LeadQueue

CLAIM = "三天瘦十斤，无效退款。"


def _jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _rows(big: str) -> list[dict[str, str]]:
    return [
        {"标题": "纤体茶A", "内容": "喝一周瘦八斤", "链接": "https://shop.test/a"},
        {"标题": "纤体茶B", "内容": big, "链接": "https://shop.test/b"},
        {"标题": "祖传秘方", "内容": "祖传秘方根治糖尿病", "链接": "https://shop.test/c"},
    ]


def test_a_cell_over_16mb_is_cut_and_every_row_imported(
    db: Database[dict[str, Any]],
    mongo_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    trained_model: TrainedModel,
) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path / "home"))
    trained_model.promote_in(db)
    big = CLAIM + "瘦" * 6_000_000  # 18 MB of UTF-8 in one cell
    path = _jsonl(tmp_path / "tips.jsonl", _rows(big))

    assert main(["leads", "import", str(path), "--source", "tip", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert "Traceback" not in captured.err and "BulkWriteError" not in captured.err
    assert report["imported_rows"] == 3 and report["rejected"] == []
    [cut] = report["cut_cells"]
    assert (cut["row"], cut["column"], cut["chars"]) == (2, "内容", len(big))
    store = ArtefactStore(tmp_path / "home" / "evidence")
    assert store.read(cut["sha256"]).decode("utf-8") == big

    [case] = db.leads.find({"imports.row": 2})
    [entry] = [e for e in case["imports"] if e["row"] == 2]
    assert entry["originals"] == [
        {"field": "内容", "sha256": cut["sha256"], "chars": len(big), "bytes": len(big.encode())}
    ]
    stored = dict(entry["row_data"])["内容"]
    assert stored.startswith(CLAIM) and f"原文共{len(big)}字" in stored
    assert case["category"] == "slimming_aphrodisiac"  # the claim at the start was read
    # Imported once and whole: a second run adds nothing.
    assert main(["leads", "import", str(path), "--source", "tip", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["already_imported"] == [1, 2, 3]


def test_without_an_artefact_store_the_oversized_row_alone_is_rejected(
    db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    path = _jsonl(tmp_path / "tips.jsonl", _rows(CLAIM + "瘦" * 200))
    detector = ListingDetector.from_config()
    importer = Importer(LeadQueue(db), detector, source="tip", max_cell_chars=100)
    report = importer.run(read_table(path))
    assert [r.number for r in report.rejected] == [2]
    [reason] = [r.reason for r in report.rejected]
    assert reason == "“内容”列的内容超长（211 字，上限 100 字）"
    assert report.imported_rows == 2
    assert report.rejected[0].values["内容"] == CLAIM + "瘦" * 200  # kept whole for the file
