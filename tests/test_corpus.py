"""The classifier corpus: schema, disjoint splits, datasheet counts, reproducible generator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from detectors.base import CATEGORY_IDS
from tiequan.corpus import negatives_more
from tiequan.corpus.build import (
    SPLITS,
    VARIANTS,
    counts_markdown,
    generate,
    read_split,
)
from tiequan.corpus.datasheet import COUNTS_BEGIN, COUNTS_END
from tiequan.sandbox.world import SITES, get_world

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


def test_later_hard_negatives_leave_earlier_examples_in_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = generate()
    monkeypatch.setattr(negatives_more, "KINDS", ())
    first = generate()
    for split in SPLITS:
        assert len(first[split]) < len(full[split])
        assert first[split] == full[split][: len(first[split])], split


# Wording the law prescribes, which both the corpus and the sandbox must use verbatim.
STATUTORY = ("本品不能代替药物", "医疗机构执业许可证")


def test_later_hard_negatives_share_no_phrase_with_the_sandbox() -> None:
    """The sandbox stays an independent check: no run of 8 characters in common."""
    world = get_world(20220101, 1.0)
    sandbox = "\n".join(f"{e.title}\n{e.text}" for prefix in SITES for e in world.entries[prefix])
    strings = [*negatives_more.PARAPHRASE_FRAMES, *negatives_more.DISCLAIMER_FRAMES]
    for kinds in negatives_more.KINDS:
        strings += [*kinds.lawful, *kinds.education, *kinds.topics]
    shared = set()
    for string in strings:
        for phrase in STATUTORY:
            string = string.replace(phrase, "|")
        for piece in re.split(r"\{[a-z]+\}|\|", string):
            shared |= {
                piece[i : i + 8] for i in range(len(piece) - 7) if piece[i : i + 8] in sandbox
            }
    assert not shared
