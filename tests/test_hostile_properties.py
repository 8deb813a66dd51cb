"""Hypothesis: arbitrary hostile text through every place crawled or imported text is read.

Surrogates, combining marks, RTL and zero-width marks, controls and long runs of one
character class go to the normaliser, the detector (rules alone, and the ListingDetector
``tiequan detect`` uses), the profile extractors and the profile spider on generated HTML,
and the importer (CSV, XLSX, JSON rows). Each must return, say something checkable about
its output, and take linear time: the time of a 4n run is at most 8 times that of an n run
(CPU time, best of three; linear is 4, quadratic 16). Examples are derandomised by the
default profile (tests/conftest.py).
"""

from __future__ import annotations

import csv
import functools
import html
import io
import itertools
import json
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from parsel import Selector

from crawlers.extract import SelectorSpec, collapse_ws, evaluate
from crawlers.items import Listing
from detectors import Detector
from detectors.clean import repair_text
from detectors.combine import ListingDetector
from detectors.normalize import normalize, normalize_text
from tests.test_profiles import STATIC
from tests.test_spider_unit import collect, make_spider
from tests.test_spider_unit import html as response
from tiequan.leads.importer_parse import RowParser
from tiequan.leads.importer_read import RAW_COLUMN, csv_grid, read_table
from tiequan.leads.importer_rows import RowError, looks_like_header
from tiequan.referral import load_categories

CLAIM = "三天瘦十斤"
SLIMMING = "slimming_aphrodisiac"
CLASSES: dict[str, st.SearchStrategy[str]] = {
    "surrogate": st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    "combining": st.characters(categories=["Mn", "Mc", "Me"]),
    "rtl": st.sampled_from("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2069\u061c"),
    "zero_width": st.sampled_from("\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad"),
    "control": st.characters(categories=["Cc"]),
    "space": st.sampled_from(" \t\n\r\u3000\u00a0\u2028\u2029\u205f"),
    "cjk": st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    "numeral": st.sampled_from("零〇一二两三四五六七八九十百千万亿壹贰叁肆伍陆柒捌玖拾佰仟"),
    "digit": st.characters(categories=["Nd"]),
    "punctuation": st.characters(categories=["Po", "Ps", "Pe", "Pd", "Pi", "Pf"]),
    "symbol": st.characters(categories=["So", "Sm", "Sc", "Sk"]),
    "latin": st.characters(min_codepoint=0x20, max_codepoint=0x24F),
}
# One character of each class, for the timed runs.
RUN_CHARS = {
    "surrogate": "\ud800", "combining": "\u0301", "rtl": "\u202e", "zero_width": "\u200b",
    "control": "\x07", "space": " ", "cjk": "瘦", "numeral": "一", "zero": "零", "digit": "9",
    "punctuation": "，", "symbol": "❤", "latin": "a", "mixed": "减*肥",
}  # fmt: skip


def hostile(classes: list[str] | None = None, *, run: int = 3000) -> st.SearchStrategy[str]:
    """Text of short mixtures and long runs of the given character classes."""
    chars = st.one_of(*(CLASSES[c] for c in classes or CLASSES))
    piece = st.one_of(
        st.text(chars, max_size=40),
        st.builds(lambda c, n: c * n, chars, st.integers(50, run)),
    )
    return st.lists(piece, max_size=5).map("".join)


VALID = [c for c in CLASSES if c not in ("surrogate", "control")]


@functools.cache
def rules() -> Detector:
    return Detector.from_config()


@functools.cache
def listing_detector() -> ListingDetector:
    return ListingDetector.from_config()


def linear(run: Callable[[int], object], n: int) -> None:
    """CPU time of ``run(4n)`` is at most 8 times that of ``run(n)`` (best of three)."""

    def best(size: int) -> float:
        times = []
        for _ in range(3):
            start = time.process_time()
            run(size)
            times.append(time.process_time() - start)
        return min(times)

    small, large = best(n), best(4 * n)
    # Below a few milliseconds the clock says nothing; such a run is fast whatever it is.
    assert large < 0.02 or large <= 8 * max(small, 1e-3), (small, large)


# --- the normaliser ------------------------------------------------------------------


@settings(max_examples=60)
@given(hostile())
def test_normaliser_maps_every_character_back(text: str) -> None:
    norm = normalize(text)
    assert norm.text == normalize_text(text)
    offsets = norm.offsets
    assert all(0 <= a <= b < len(text) for a, b in itertools.pairwise(offsets))
    if norm.text:
        start, end = norm.original_span(0, len(norm.text))
        assert 0 <= start < end <= len(text)


# --- the detectors -------------------------------------------------------------------


@settings(max_examples=40)
@given(hostile(), hostile(), st.sampled_from(["\n", "。", "！\n"]))
def test_rules_find_a_claim_amid_hostile_text(before: str, after: str, sep: str) -> None:
    text = f"{before}{sep}{CLAIM}{sep}{after}"
    analysis = rules().analyse(text)
    for finding in analysis.findings:
        assert all(0 <= s < e <= len(text) for s, e in finding.spans)
        assert 0.0 <= finding.score <= 1.0
    assert SLIMMING in {f.category for f in analysis.findings}, text[:200]


prices = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=30)
@given(hostile(), prices)
def test_listing_detector_on_hostile_text(text: str, price: float | None) -> None:
    # As `tiequan detect`, the crawl and the import hand it text: repaired at the boundary.
    repaired = repair_text(f"{text}\n{CLAIM}\n")[0]
    findings = listing_detector().detect(repaired, price=price)
    assert SLIMMING in {f.category for f in findings}
    for finding in findings:
        assert math.isfinite(finding.score) and 0.0 <= finding.score <= 1.0
        assert "nan" not in finding.explanation and "inf" not in finding.explanation


def test_listing_detector_reads_unrepaired_surrogates() -> None:
    text = f"\ud800{CLAIM}"
    findings = listing_detector().detect(text)
    found = [f for f in findings if f.category == SLIMMING]
    assert found and all(CLAIM.find(m) >= 0 for f in found for m in f.matched)
    for start, end in found[0].spans:  # spans still point into the unrepaired text
        assert text[start:end] and "\ud800" not in text[start:end]


# --- the profile extractors and the spider -------------------------------------------


@settings(max_examples=60)
@given(hostile(VALID))
def test_extractor_reads_text_as_it_was_written(text: str) -> None:
    page = Selector(text=f"<html><body><p class='d'>{html.escape(text)}</p></body></html>")
    got = evaluate(page, SelectorSpec(css="p.d::text"))
    # lxml reads \r as \n and drops nothing else of these classes.
    assert got == (collapse_ws(text.replace("\r", "\n")) or None)
    number = evaluate(page, SelectorSpec(css="p.d", type="float"))
    assert number is None or math.isfinite(number)


def test_a_number_of_hundreds_of_digits_is_no_number() -> None:
    # Before: parse_number gave inf, and an "int" field raised OverflowError in the spider.
    page = Selector(text="<p>月销 " + "9" * 400 + "+ 件</p><b>¥" + "１" * 400 + "</b>")
    assert evaluate(page, SelectorSpec(css="p::text", type="int")) is None
    assert evaluate(page, SelectorSpec(css="b::text", type="float")) is None
    assert evaluate(page, SelectorSpec(css="p::text", type="int", many=True)) == []


ITEM_PROFILE = {
    **STATIC,
    "item": {
        "fields": {
            "id": {"css": ".sku::text", "regex": r"SKU-(\d+)"},
            "title": "h1::text",
            "text": {"css": ".desc"},
            "price": {"css": ".price::text", "type": "float"},
        },
    },
}


def test_profile_spider_on_hostile_pages(tmp_path: Path) -> None:
    spider = make_spider(tmp_path, ITEM_PROFILE)

    @settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
    @given(hostile(), hostile(), hostile(["digit", "punctuation", "latin", "space"], run=200))
    def check(title: str, desc: str, price: str) -> None:
        body = (
            f"<html><body><h1>{html.escape(title)}</h1><span class='sku'>SKU-7</span>"
            f"<div class='desc'>{html.escape(desc)}</div>"
            f"<span class='price'>{html.escape(price)}</span></body></html>"
        )
        # Lone surrogates reach the page as the invalid bytes a broken site sends.
        page = response("http://127.0.0.1:8000/mall/item/7", "")
        page = page.replace(body=body.encode("utf-8", "surrogatepass"))
        out = collect(spider.parse_item(page))
        for listing in out:
            assert isinstance(listing, Listing) and listing.item_id == "7"
            assert listing.title.strip() and listing.title == collapse_ws(listing.title)
            assert listing.price is None or math.isfinite(listing.price)
        if not out:  # a title of nothing visible: the item is reported incomplete
            assert not collapse_ws(repair_text(title)[0].replace("\ufffd", ""))

    check()


# --- the importer --------------------------------------------------------------------

HEADER = ["标题", "内容", "链接", "类别"]


@functools.cache
def row_parser_parts() -> tuple[Any, ListingDetector]:
    return load_categories(), listing_detector()


def _parse_all(path: Path) -> None:
    table = read_table(path, is_header=looks_like_header)
    categories, detector = row_parser_parts()
    parser = RowParser(table, categories, detector, source="tip", by=None, min_score=0.5,
                       now=datetime(2024, 6, 1, tzinfo=UTC))  # fmt: skip
    for row in table.rows:
        try:
            parser.parse(row)
        except RowError:
            pass  # reported per row, as the import does


cells = st.lists(hostile(run=300), min_size=4, max_size=4)


def test_importer_reads_hostile_csv_xlsx_and_json(tmp_path: Path) -> None:
    @settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(cells, min_size=1, max_size=4))
    def check(rows: list[list[str]]) -> None:
        # JSON Lines: surrogates travel as \\ud800 escapes and are repaired on reading.
        jsonl = tmp_path / "t.jsonl"
        jsonl.write_text("".join(json.dumps(dict(zip(HEADER, r, strict=True))) + "\n"
                                 for r in rows), "utf-8")  # fmt: skip
        table = read_table(jsonl)
        assert [[r.values[h] for h in HEADER] for r in table.rows] == [
            [repair_text(c)[0] for c in r] for r in rows
        ]
        _parse_all(jsonl)
        # CSV (UTF-8 cannot carry a surrogate: a broken exporter's bytes are tried as GB18030).
        text = [[repair_text(c)[0] for c in r] for r in rows]
        buffer = io.StringIO()
        csv.writer(buffer).writerows([HEADER, *text])
        path = tmp_path / "t.csv"
        path.write_bytes(buffer.getvalue().encode("utf-8"))
        table = read_table(path, is_header=looks_like_header)
        read = {r.number: r for r in table.rows}
        for r in read.values():
            assert r.error is None, r.values.get(RAW_COLUMN)
        # Blank rows are skipped; every other row is read cell for cell.
        assert all(
            [read[n].values[h] for h in HEADER] == row for n, row in enumerate(text, 2) if n in read
        )
        assert len(read) == sum(any(c.strip() for c in row) for row in text)
        _parse_all(path)
        # XLSX: the cell values openpyxl can write at all.
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(HEADER)
        for row in text:
            sheet.append([ILLEGAL_CHARACTERS_RE.sub("", c) for c in row])
        xlsx = tmp_path / "t.xlsx"
        book.save(xlsx)
        _parse_all(xlsx)

    check()


# --- linear time on long runs of each class ------------------------------------------

RUNS = sorted(RUN_CHARS.items())


@pytest.mark.parametrize(("name", "char"), RUNS, ids=[n for n, _ in RUNS])
def test_detectors_take_linear_time(name: str, char: str) -> None:
    detector, combined = rules(), listing_detector()
    linear(lambda n: normalize(char * (n // len(char))), 20_000)
    linear(lambda n: detector.analyse(char * (n // len(char))), 10_000)
    repaired = repair_text(char)[0]
    linear(lambda n: combined.detect(repaired * (n // len(char))), 10_000)


@pytest.mark.parametrize(("name", "char"), RUNS, ids=[n for n, _ in RUNS])
def test_extractor_and_importer_take_linear_time(name: str, char: str, tmp_path: Path) -> None:
    def page(n: int) -> object:
        run = html.escape(repair_text(char * (n // len(char)))[0])
        return evaluate(Selector(text=f"<p>{run}</p>"), SelectorSpec(css="p::text"))

    def jsonl(n: int) -> object:
        path = tmp_path / "run.jsonl"
        path.write_text(json.dumps({"内容": char * (n // len(char))}) + "\n", "utf-8")
        return read_table(path)

    linear(page, 50_000)
    linear(jsonl, 50_000)


@pytest.mark.parametrize(
    "line", ['"a\n', 'a,"b"c\n', '"a"b,c\n', 'a,b"c\n'], ids=["open", "stray", "close", "bare"]
)
def test_broken_csv_lines_take_linear_time(line: str) -> None:
    # Before: each broken record restarted the reader on a fresh copy of the rest.
    linear(lambda n: csv_grid("标题,内容\n" + line * n), 20_000)
