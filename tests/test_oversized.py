"""Oversized fields: cut with a visible marker, the full original kept as an evidence artefact."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database
from scrapy.utils.test import get_crawler

from crawlers.items import KINDS, Licence, Listing
from detectors import Detector
from pipelines.config import PipelineConfig
from pipelines.validate import ValidatePipeline
from tiequan.evidence.artefacts import ArtefactStore
from tiequan.evidence.capture import Gathered, build_evidence_set
from tiequan.storage.store import LISTINGS, Store

CLAIM = "三天瘦十斤，月瘦二十斤，"
BSON_LIMIT = 16 * 1024 * 1024


def _stage(tmp_path: Path, **settings: Any) -> tuple[ValidatePipeline, Any]:
    crawler = get_crawler(settings_dict={"TIEQUAN_EVIDENCE_DIR": str(tmp_path / "ev"), **settings})
    return ValidatePipeline.from_crawler(crawler), crawler.stats


def _listing(item_id: str, text: str, **fields: Any) -> Listing:
    return Listing(platform="shop", kind=KINDS[0], url=f"http://127.0.0.1/item/{item_id}",
                   item_id=item_id, title=f"商品{item_id}", text=text, **fields)  # fmt: skip


def test_a_6m_description_is_cut_and_its_original_kept(
    tmp_path: Path, db: Database[dict[str, Any]]
) -> None:
    stage, stats = _stage(tmp_path)
    limit = PipelineConfig.from_settings(get_crawler().settings).max_field_chars
    original = CLAIM + "瘦" * 6_000_000
    item = asyncio.run(stage.process_item(_listing("big", original)))

    assert len(item.text) <= limit and item.text.startswith(CLAIM)
    assert item.text.endswith("]") and f"原文共{len(original)}字" in item.text
    [kept] = item.originals
    assert kept["field"] == "text" and kept["chars"] == len(original)
    assert f"sha256:{kept['sha256'][:16]}" in item.text
    store = ArtefactStore(tmp_path / "ev")
    assert store.read(kept["sha256"]).decode("utf-8") == original
    assert store.check(kept["sha256"]) == "ok"
    assert stats.get_value("pipeline/oversized_fields") == 1
    # The claim at the start is still read.
    assert "slimming_aphrodisiac" in {f.category for f in Detector.from_config().detect(item.text)}
    # The cut listing now fits a document, and does not take a normal one down with it.
    normal = _listing("small", "普通毛巾")
    Store(db).record_listings([item.to_dict(), normal.to_dict()], run_id="R1")
    stored = db[LISTINGS].find_one({"_id": "shop:big"})
    assert stored is not None and stored["originals"] == [kept]
    assert len(stored["text"].encode("utf-8")) < BSON_LIMIT
    assert db[LISTINGS].count_documents({}) == 2


def test_every_long_field_is_cut_and_short_ones_are_left(tmp_path: Path) -> None:
    stage, stats = _stage(tmp_path, TIEQUAN_MAX_FIELD_CHARS=1000)
    item = _listing(
        "x", "短描述", shop_name="店" * 1001, image_urls=["http://127.0.0.1/a.jpg", "u" * 5000],
        extra={"spec": "规格" * 800, "n": 3}, licence=Licence(address="地址" * 600),
    )  # fmt: skip
    out = asyncio.run(stage.process_item(item))
    fields = sorted(o["field"] for o in out.originals)
    assert fields == ["extra.spec", "image_urls[1]", "licence.address", "shop_name"]
    assert out.text == "短描述" and out.image_urls[0] == "http://127.0.0.1/a.jpg"
    assert out.shop_name is not None and len(out.shop_name) <= 1000
    assert out.licence is not None and out.licence.address is not None
    assert len(out.licence.address) <= 1000 and "原文共1200字" in out.licence.address
    assert len(out.extra["spec"]) <= 1000 and out.extra["n"] == 3
    assert stats.get_value("pipeline/oversized_fields") == 4


def test_the_evidence_set_lists_the_originals(tmp_path: Path) -> None:
    stage, _ = _stage(tmp_path, TIEQUAN_MAX_FIELD_CHARS=1000)
    item = asyncio.run(stage.process_item(_listing("e", CLAIM + "瘦" * 3000)))
    item.findings = [{"category": "slimming_aphrodisiac", "score": 0.9}]
    doc = build_evidence_set(Gathered(item.to_dict(), "R1"), ArtefactStore(tmp_path / "ev"))
    [text] = [a for a in doc["artefacts"] if a["kind"] == "text"]
    assert text["sha256"] == item.originals[0]["sha256"]
    assert text["name"] == "text-original.txt" and text["size"] == len(
        (CLAIM + "瘦" * 3000).encode("utf-8")
    )


def test_an_original_that_cannot_be_written_is_said_so(tmp_path: Path) -> None:
    blocked = tmp_path / "ev"
    blocked.write_text("a file where the evidence directory should be")
    stage, _ = _stage(tmp_path, TIEQUAN_MAX_FIELD_CHARS=1000)
    out = asyncio.run(stage.process_item(_listing("f", "瘦" * 2000)))
    assert out.originals == [{"field": "text", "sha256": None, "chars": 2000, "bytes": 6000}]
    assert out.text.endswith("原文未能保存]") and len(out.text) <= 1000


@pytest.mark.parametrize("value", ["10", "1000001", "many"])
def test_the_limit_setting_is_checked(value: str) -> None:
    with pytest.raises(ValueError, match="TIEQUAN_MAX_FIELD_CHARS"):
        PipelineConfig.from_settings(
            get_crawler(settings_dict={"TIEQUAN_MAX_FIELD_CHARS": value}).settings
        )
