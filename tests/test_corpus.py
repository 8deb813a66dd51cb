"""The classifier corpus: schema, disjoint splits, datasheet counts, reproducible generator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from detectors.base import CATEGORY_IDS
from tiequan.corpus.build import (
    COUNTS_BEGIN,
    COUNTS_END,
    SPLITS,
    VARIANTS,
    counts_markdown,
    generate,
    read_split,
)

CORPUS = Path(__file__).resolve().parents[1] / "config" / "corpus"
ONLINE = set(CATEGORY_IDS) - {"elevator_overdue", "gas_pipe_overdue"}


@pytest.fixture(scope="module")
def splits() -> dict[str, list[dict[str, Any]]]:
    return {s: read_split(CORPUS / f"{s}.jsonl") for s in SPLITS}


def test_records_follow_the_schema(splits: dict[str, list[dict[str, Any]]]) -> None:
    ids = set()
    for records in splits.values():
        for r in records:
            assert set(r) == {"id", "text", "labels", "group", "variant", "source"}, r
            assert r["text"].strip() and r["id"] not in ids
            ids.add(r["id"])
            assert set(r["labels"]) <= ONLINE, r
            assert r["group"] in {"violation", "benign", "hard_negative"}, r
            assert r["variant"] in VARIANTS, r
            assert bool(r["labels"]) == (r["group"] == "violation"), r


def test_splits_share_no_text(splits: dict[str, list[dict[str, Any]]]) -> None:
    texts = {s: {r["text"] for r in records} for s, records in splits.items()}
    assert not texts["train"] & texts["valid"]
    assert not texts["train"] & texts["test"]
    assert not texts["valid"] & texts["test"]


def test_every_online_category_and_kind_is_in_every_split(
    splits: dict[str, list[dict[str, Any]]],
) -> None:
    for split, records in splits.items():
        labels = {label for r in records for label in r["labels"]}
        assert labels == ONLINE, split
        variants = {r["variant"] for r in records if r["group"] == "violation"}
        assert variants == set(VARIANTS), split
        hard = sum(r["group"] == "hard_negative" for r in records)
        assert hard / len(records) > 0.2, split


def test_datasheet_counts_match_the_files(splits: dict[str, list[dict[str, Any]]]) -> None:
    sheet = (CORPUS / "DATASHEET.md").read_text(encoding="utf-8")
    block = re.search(re.escape(COUNTS_BEGIN) + r"\n(.*?)" + re.escape(COUNTS_END), sheet, re.S)
    assert block is not None
    assert block.group(1) == counts_markdown(splits)
    assert "never used for fitting, tuning thresholds or choosing features" in sheet


def test_files_are_the_seeded_generator_output(splits: dict[str, list[dict[str, Any]]]) -> None:
    generated = generate()
    for split in SPLITS:
        assert [r["text"] for r in generated[split]] == [r["text"] for r in splits[split]]
        assert [r["labels"] for r in generated[split]] == [r["labels"] for r in splits[split]]
