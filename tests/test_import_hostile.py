"""Import files as other programs write them: wrong declared sizes, huge cells, broken quotes."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import openpyxl

from tiequan.leads.importer_read import RAW_COLUMN, read_table

HEADER = ["标题", "内容", "链接", "类别"]


def _rows(n: int) -> list[list[str]]:
    return [
        [f"商品{i}", f"三天瘦十斤 第{i}款", f"https://shop.test/item/{i}", "减肥"] for i in range(n)
    ]


def test_xlsx_with_a_stale_dimension_reads_every_row(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [HEADER, *_rows(5)]:
        sheet.append(row)
    good = tmp_path / "good.xlsx"
    book.save(good)
    # Exporters often declare a wrong used range; openpyxl's read-only mode believes it.
    stale = tmp_path / "stale.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(stale, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:D2"', data)
                assert b'ref="A1:D2"' in data
            dst.writestr(item, data)
    table = read_table(stale)
    assert [r.values["标题"] for r in table.rows] == [f"商品{i}" for i in range(5)]
    assert [r.number for r in table.rows] == [2, 3, 4, 5, 6]


def test_csv_cell_beyond_the_csv_module_default_limit(tmp_path: Path) -> None:
    big = "瘦" * 200_000  # the csv module refuses fields over 131,072 characters by default
    buffer = io.StringIO()
    csv.writer(buffer).writerows(
        [HEADER, ["大字段", big, "https://shop.test/big", "减肥"], *_rows(1)]
    )
    path = tmp_path / "big.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    table = read_table(path)
    assert [len(r.values["内容"]) for r in table.rows] == [200_000, len("三天瘦十斤 第0款")]
    assert all(r.error is None for r in table.rows)


def test_csv_unterminated_quote_rejects_its_row_and_keeps_the_rest(tmp_path: Path) -> None:
    lines = [
        ",".join(HEADER),
        "商品A,三天瘦十斤,https://shop.test/a,减肥",
        '商品B,"引号没有闭合,https://shop.test/b,减肥',
        "商品C,祖传秘方根治糖尿病,https://shop.test/c,神药",
        "商品D,月瘦二十斤,https://shop.test/d,减肥",
    ]
    path = tmp_path / "quote.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = read_table(path)
    by_number = {r.number: r for r in table.rows}
    assert sorted(by_number) == [2, 3, 4, 5]
    assert by_number[3].error is not None and "引号" in by_number[3].error
    assert "引号没有闭合" in by_number[3].values[RAW_COLUMN]
    assert [by_number[n].values["标题"] for n in (2, 4, 5)] == ["商品A", "商品C", "商品D"]
    assert all(by_number[n].error is None for n in (2, 4, 5))


def test_json_lines_with_lone_surrogates_are_repaired(tmp_path: Path) -> None:
    path = tmp_path / "tips.jsonl"
    path.write_text(
        '{"标题": "\\u51cf\\u80a5\\ud800", "内容": "\\u4e09\\u5929\\udfff\\u7626\\u5341\\u65a4"}\n',
        encoding="utf-8",
    )
    table = read_table(path)
    assert [r.values for r in table.rows] == [{"标题": "减肥\ufffd", "内容": "三天\ufffd瘦十斤"}]
    assert table.repaired == 2
