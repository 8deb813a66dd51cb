"""Broken files of every kind each entry point reads: one line naming file and line or field.

Profile YAML (`tiequan sweep --sites-dir`), detect JSON Lines (`tiequan detect`) and the
CSV, XLSX and JSON files of `tiequan leads import`, each truncated, in a wrong encoding,
with wrong types, empty, binary garbage and with a huge line. Exit codes as README's
table: 1 when some lines or rows were rejected and the valid ones processed, 2 when the
file cannot be used at all; never a traceback.
"""

from __future__ import annotations

import functools
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from pymongo.database import Database

from detectors.combine import ListingDetector
from tests.test_detect_cli import run_cli
from tests.test_profiles import STATIC
from tiequan.cli import leads_import_cmd
from tiequan.cli.main import main

GARBAGE = bytes(range(256)) * 8 + b"\x00\xff\xfe" * 100


_LOAD = ListingDetector.from_config


@functools.cache
def _detector() -> ListingDetector:
    return _LOAD()


def _profile(**changes: Any) -> bytes:
    data = json.loads(json.dumps(STATIC))
    data.update(changes)
    return yaml.safe_dump(data, allow_unicode=True).encode("utf-8")


def _with_field(**fields: Any) -> bytes:
    data = json.loads(json.dumps(STATIC))
    data["listing"].update(fields)
    return yaml.safe_dump(data, allow_unicode=True).encode("utf-8")


@dataclass(frozen=True)
class Broken:
    name: str  # the file's name (its stem is the profile name)
    data: bytes
    code: int
    says: tuple[str, ...]  # in the one error line, besides the file's path
    where: str | None = None  # "第 N 行" or a field name the line must name


PROFILES = [
    Broken("demo_mall.yaml", _profile()[:150], 2, ("demo_mall",)),
    Broken("demo_mall.yaml", _profile(platform="演示商城").decode().encode("gb18030"), 2,
           ("UTF-8",)),
    Broken("demo_mall.yaml", _with_field(max_pages="three"), 2, ("three",), "max_pages"),
    Broken("demo_mall.yaml", b"", 2, ()),
    Broken("demo_mall.yaml", GARBAGE, 2, ()),
    Broken("demo_mall.yaml", _profile() + b"junk: [" + b"x" * 2_000_000 + b"\n", 2, ("YAML",),
           "line"),
    Broken("demo_mall.yaml", _with_field(item_links="a.item[href"), 2, ("a.item[href",),
           "item_links"),
]  # fmt: skip


@pytest.mark.parametrize("case", PROFILES, ids=lambda c: f"profile-{PROFILES.index(c)}")
def test_broken_profiles(case: Broken, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / case.name
    path.write_bytes(case.data)
    code = main(["sweep", "--sites-dir", str(tmp_path), "--site", path.stem])
    _one_line(capsys.readouterr().err, path, case)
    assert code == case.code


GOOD = json.dumps({"id": "ok1", "text": "三天瘦十斤"}, ensure_ascii=False).encode()
GOOD2 = json.dumps({"id": "ok2", "text": "月瘦二十斤"}, ensure_ascii=False).encode()


def _lines(*middle: bytes) -> bytes:
    return b"\n".join([GOOD, *middle, GOOD2]) + b"\n"


DETECT = [
    Broken("in.jsonl", _lines(b'{"id": "t", "text": "\xe4\xb8\x89\xe5\xa4\xa9'), 1, ("JSON",),
           "第 2 行"),
    Broken("in.jsonl", _lines('{"id": "g", "text": "减肥"}'.encode("gb18030")), 1, ("UTF-8",),
           "第 2 行"),
    Broken("in.jsonl", _lines(b'{"id": "w", "text": 5}'), 1, ("text",), "第 2 行"),
    Broken("in.jsonl", _lines(b'{"id": "p", "text": "t", "price": "' + b"9" * 100_000 + b'"}'),
           1, ("price",), "第 2 行"),
    Broken("in.jsonl", _lines(b""), 0, ()),
    Broken("in.jsonl", _lines(GARBAGE.replace(b"\n", b"")), 1, (), "第 2 行"),
    Broken("in.jsonl", _lines(b'{"id": "h", "text": "' + b"a" * 5_000_000 + b'"'), 1,
           ("JSON",), "第 2 行"),
]  # fmt: skip


@pytest.mark.parametrize("case", DETECT, ids=lambda c: f"detect-{DETECT.index(c)}")
def test_broken_detect_input(
    case: Broken,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("tiequan.cli.detect_cmd.load_live", lambda *_a, **_k: _detector())
    path = tmp_path / case.name
    path.write_bytes(case.data)
    out = tmp_path / "out.jsonl"
    code = run_cli("--input", str(path), "--output", str(out))
    err = capsys.readouterr().err
    rows = [json.loads(line)["id"] for line in out.read_text("utf-8").splitlines()]
    assert rows == ["ok1", "ok2"]  # the valid lines around the broken one are processed
    bad = [line for line in err.splitlines() if "第 " in line and " 行" in line]
    if case.code == 0:
        assert not bad and "Traceback" not in err
    else:
        assert len(bad) == 1, err[:2000]
        _one_line(bad[0], None, case)
    assert code == case.code


def _csv(*lines: str, encoding: str = "utf-8") -> bytes:
    return "\n".join(["标题,内容,链接,价格", *lines]).encode(encoding) + b"\n"


ROW_A = "商品A,三天瘦十斤,https://shop.test/a,39"
ROW_C = "商品C,祖传秘方根治糖尿病,https://shop.test/c,59"


def _xlsx(rows: list[list[Any]], *, cut: int | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()[:cut] if cut else buffer.getvalue()


def _zip_of_text() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "不是工作簿")
    return buffer.getvalue()


HEAD = ["标题", "内容", "链接", "价格"]
XA = ["商品A", "三天瘦十斤", "https://shop.test/a", 39]
XC = ["商品C", "祖传秘方根治糖尿病", "https://shop.test/c", 59]


def _json(*rows: Any) -> bytes:
    return json.dumps(list(rows), ensure_ascii=False).encode()


JA = dict(zip(HEAD, XA, strict=True))
JC = dict(zip(HEAD, XC, strict=True))

IMPORTS = [
    # CSV
    Broken("t.csv", _csv(ROW_A, ROW_C, '商品D,"没有闭合'), 1, ("引号",), "第 4 行"),
    Broken("t.csv", b"\xef\xbb\xbf" + _csv(ROW_A, ROW_C) + b"\x80\x81\xff\n", 2,
           ("编码",), "第 4 行"),
    Broken("t.csv", _csv(ROW_A, "商品B,减肥茶,https://shop.test/b,面议", ROW_C), 1,
           ("价格", "面议"), "第 3 行"),
    Broken("t.csv", b"", 2, ("表头",)),
    Broken("t.csv", GARBAGE, 2, ()),
    Broken("t.csv", _csv(ROW_A, "商品B," + "瘦" * 17_000_000 + ",https://shop.test/b,1", ROW_C),
           1, ("单元格",), "第 3 行"),
    # XLSX
    Broken("t.xlsx", _xlsx([HEAD, XA, XC], cut=900), 2, ("XLSX",)),
    Broken("t.xlsx", _zip_of_text(), 2, ("XLSX",)),
    Broken("t.xlsx", _xlsx([HEAD, XA, ["商品B", "减肥茶", "https://shop.test/b", True], XC]), 1,
           ("价格",), "第 3 行"),
    Broken("t.xlsx", _xlsx([]), 2, ("表头",)),
    Broken("t.xlsx", GARBAGE, 2, ("XLSX",)),
    Broken("t.xlsx", _xlsx([HEAD, XA, ["商品B", "减肥茶", "https://shop.test/b", "9" * 32_000],
                            XC]), 1, ("价格",), "第 3 行"),
    # JSON
    Broken("t.json", _json(JA, JC)[:-10], 2, ("JSON",), "第 1 行"),
    Broken("t.json", _json(JA, JC).decode().encode("utf-16"), 2, ("编码",)),
    Broken("t.json", _json(JA, ["不是对象"], JC), 1, ("对象",), "第 2 条"),
    Broken("t.json", _json(JA, {**JA, "价格": "面议", "标题": "商品B"}, JC), 1, ("价格", "面议"),
           "第 2 条"),
    Broken("t.json", b"", 2, ("JSON",)),
    Broken("t.json", GARBAGE, 2, ()),
    Broken("t.json", b"[" * 200_000 + b"]" * 200_000, 2, ("嵌套",)),
    Broken("t.jsonl", b"\n".join([json.dumps(JA, ensure_ascii=False).encode(),
                                  b"[" * 200_000 + b"]" * 200_000,
                                  json.dumps(JC, ensure_ascii=False).encode()]), 1,
           ("嵌套",), "第 2 行"),
]  # fmt: skip


@pytest.mark.parametrize("case", IMPORTS, ids=lambda c: f"{c.name}-{IMPORTS.index(c)}")
def test_broken_import_files(
    case: Broken,
    tmp_path: Path,
    db: Database[dict[str, Any]],
    mongo_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path / "home"))
    # The command as it runs, but the model is loaded once for all these files.
    monkeypatch.setattr(leads_import_cmd, "load_live", lambda *_a, **_k: _detector())
    path = tmp_path / case.name
    path.write_bytes(case.data)
    code = main(["leads", "import", str(path), "--source", "tip", "--json"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    if case.code == 2:
        _one_line(captured.err, path, case)
        assert db.leads.count_documents({}) == 0
    else:
        report = json.loads(captured.out)
        [rejected] = report["rejected"]
        unit = "条" if path.suffix == ".json" else "行"
        line = f"第 {rejected['row']} {unit}：{rejected['reason']}"
        _one_line(line, None, case)
        assert report["imported_rows"] == 2  # the valid rows around it are imported
        assert len(rejected["reason"]) < 300
    assert code == case.code


def _one_line(err: str, path: Path | None, case: Broken) -> None:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err[:3000]
    [line] = lines
    assert "Traceback" not in line and len(line) < 1000, line[:1000]
    if path is not None:
        assert str(path) in line, line
    for word in case.says:
        assert word in line, line
    if case.where is not None:
        assert case.where in line, line
