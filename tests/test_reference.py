"""The reference set: valid entries, sealed splits by source, derived files up to date."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from detectors.dataset import read_examples
from detectors.model_store import training_files
from tiequan.corpus.datasheet import COUNTS_BEGIN, COUNTS_END
from tiequan.corpus.reference import (
    ONLINE_CATEGORIES,
    REFERENCE_DIR,
    SPLITS,
    ReferenceEntry,
    ReferenceError,
    assign_splits,
    counts_markdown,
    load,
    parse_entry,
    read_file,
    sources,
    split_lines,
)

GOOD = {
    "id": "t-0001",
    "text": "饭后来一条，大肚腩不见了",
    "labels": ["slimming_aphrodisiac"],
    "kind": "violation",
    "claim_type": "implicit_slimming",
    "claim_terms": ["大肚腩不见了"],
    "article": "《广告法》第十七条",
    "source": {"url": "http://example.org/a", "date": "2021-06", "title": "t", "query": "q"},
}


@pytest.fixture(scope="module")
def entries() -> list[ReferenceEntry]:
    return load(REFERENCE_DIR)


def test_every_source_is_sealed_in_exactly_one_split(entries: list[ReferenceEntry]) -> None:
    assert all(e.split in SPLITS for e in entries)
    for group in sources(entries):
        assert len({e.split for e in group}) == 1, [e.id for e in group]
    by_url: dict[str, set[str]] = {}
    for entry in entries:
        by_url.setdefault(entry.source.keys[0], set()).add(entry.split)
    assert all(len(splits) == 1 for splits in by_url.values())


def test_split_files_are_derived_from_the_entries(entries: list[ReferenceEntry]) -> None:
    for split, content in split_lines(entries).items():
        on_disk = (REFERENCE_DIR / f"{split}.jsonl").read_text(encoding="utf-8")
        stale = f"{split}.jsonl is stale: python -m tiequan.corpus.reference build"
        assert on_disk == content, stale


def test_datasheet_counts_are_current(entries: list[ReferenceEntry]) -> None:
    sheet = (REFERENCE_DIR / "DATASHEET.md").read_text(encoding="utf-8")
    assert f"{COUNTS_BEGIN}\n{counts_markdown(entries)}{COUNTS_END}" in sheet


def test_coverage_of_every_online_category(entries: list[ReferenceEntry]) -> None:
    violations = Counter(label for e in entries if e.kind == "violation" for label in e.labels)
    for category in ONLINE_CATEGORIES:
        assert violations[category] >= 40, category
        per_split = Counter(e.split for e in entries if category in e.labels)
        assert all(per_split[s] > 0 for s in SPLITS), (category, per_split)
    negatives = sum(1 for e in entries if e.kind != "violation")
    assert negatives >= sum(1 for e in entries if e.kind == "violation")


def test_no_page_feeds_more_than_a_few_entries_of_a_category(
    entries: list[ReferenceEntry],
) -> None:
    per_page = Counter((e.source.keys[0], e.labels) for e in entries if e.kind == "violation")
    assert max(per_page.values()) <= 8


def test_the_test_split_is_never_fitted_on() -> None:
    synthetic, real = training_files(REFERENCE_DIR.parent)
    assert all(p.name != "test.jsonl" or p.parent.name != "reference" for p in [*synthetic, *real])
    test_ids = {e.id for e in read_examples(REFERENCE_DIR / "test.jsonl")}
    seen = {e.id for path in [*synthetic, *real] for e in read_examples(path)}
    assert test_ids and not test_ids & seen


def test_new_sources_are_stratified_and_sealed_ones_never_move(tmp_path: Path) -> None:
    lines = []
    for i in range(40):
        raw = dict(GOOD, id=f"t-{i:04d}")
        raw["source"] = dict(GOOD["source"], url=f"http://example.org/{i}")
        lines.append(json.dumps(raw, ensure_ascii=False))
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    first = read_file(path)
    sealed = assign_splits(first, {})
    shares = Counter(sealed.values())
    assert 20 <= shares["train"] <= 24 and 7 <= shares["dev"] <= 9 and 9 <= shares["test"] <= 11
    moved = dict(sealed, **{"url:example.org/0": "test"})
    again = assign_splits(first, moved)
    assert again["url:example.org/0"] == "test"


def test_a_page_with_two_cases_keeps_both_in_one_split(tmp_path: Path) -> None:
    a = dict(GOOD, id="t-1", source=dict(GOOD["source"], case="甲公司"))
    b = dict(GOOD, id="t-2", source=dict(GOOD["source"], case="乙公司"))
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in (a, b)), "utf-8")
    sealed = assign_splits(read_file(path), {})
    assert sealed["case:甲公司"] == sealed["case:乙公司"] == sealed["url:example.org/a"]
    with pytest.raises(ReferenceError, match="one source sealed"):
        assign_splits(read_file(path), {"case:甲公司": "train", "case:乙公司": "test"})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "rumour"}, "kind"),
        ({"labels": ["elevator_overdue"]}, "labels"),
        ({"labels": []}, "labels"),
        ({"claim_terms": []}, "claim_terms"),
        ({"claim_terms": ["一" * 30]}, "claim_terms"),
        ({"source": {"url": "example.org", "date": "2021", "title": "", "query": "q"}}, "url"),
        ({"source": {"url": "http://a.b", "date": "21/6", "title": "", "query": "q"}}, "date"),
        ({"context": {"site_kind": "shop"}}, "context.site_kind"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_entries_name_the_field_and_value(change: dict[str, object], field: str) -> None:
    raw = dict(GOOD, **change)
    with pytest.raises(ReferenceError) as caught:
        parse_entry(raw, Path("entries/x.jsonl"), 7)
    assert "entries/x.jsonl:7" in str(caught.value)
    assert field in str(caught.value)


def test_a_non_violation_needs_its_negative_type() -> None:
    raw = dict(GOOD, kind="hard_negative", labels=[])
    with pytest.raises(ReferenceError, match="negative_type"):
        parse_entry(raw, Path("x.jsonl"), 1)
    ok = parse_entry(dict(raw, negative_type="news"), Path("x.jsonl"), 1)
    assert ok.kind == "hard_negative" and not ok.labels
