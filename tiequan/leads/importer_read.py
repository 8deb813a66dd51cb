"""Read an import file (CSV, XLSX, JSON, JSON Lines) into numbered raw rows.

Row numbers are the ones an officer sees: the spreadsheet row (header = row 1, blank rows
counted) for CSV and XLSX, the line for JSON Lines, the object's position for a JSON list.
A file that cannot be read at all raises ImportFileError naming the file; a single bad
record (a JSON Lines line that is not an object) becomes a row with ``error`` set.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.clean import repair_text

HEADER_SCAN_ROWS = 10  # title rows above the header that spreadsheets often carry
CSV_FIELD_LIMIT = 16 << 20  # characters; the csv module's default (131,072) refuses real cells
RAW_COLUMN = "原始记录"  # a JSON record that is not an object, kept as text
EXTENSIONS = (".csv", ".xlsx", ".json", ".jsonl", ".ndjson")


class ImportFileError(ValueError):
    """The file as a whole cannot be read; the message (Chinese) names the file."""


@dataclass
class RawRow:
    number: int  # the row (or record) number an officer sees
    values: dict[str, Any]  # header -> cell value, in column order
    error: str | None = None  # set when the record itself could not be read


@dataclass
class ImportTable:
    path: Path
    sha256: str
    unit: str  # "行" (rows, lines) or "条" (objects of a JSON list)
    headers: list[str]
    rows: list[RawRow] = field(default_factory=list)
    encoding: str | None = None
    sheet: str | None = None
    repaired: int = 0  # invalid characters (lone surrogates, controls) replaced in cells

    def add(self, row: RawRow) -> None:
        """Append ``row`` with its text cells repaired (``detectors.clean``)."""
        for key, value in row.values.items():
            if isinstance(value, str):
                row.values[key], count = repair_text(value)
                self.repaired += count
        self.rows.append(row)

    @property
    def name(self) -> str:
        return self.path.name


def read_table(
    path: Path | str,
    *,
    sheet: str | None = None,
    is_header: Callable[[list[str]], bool] | None = None,
) -> ImportTable:
    """Read ``path`` by its extension; ``is_header`` picks the header row of a sheet."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        raise ImportFileError(
            f"无法读取文件 {path}：不支持的文件类型“{path.suffix or '无扩展名'}”"
            "（支持 CSV、XLSX、JSON、JSONL）"
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ImportFileError(f"无法读取文件 {path}：文件不存在") from exc
    except IsADirectoryError as exc:
        raise ImportFileError(f"无法读取文件 {path}：这是一个目录") from exc
    except PermissionError as exc:
        raise ImportFileError(f"无法读取文件 {path}：没有读取权限") from exc
    except OSError as exc:
        raise ImportFileError(f"无法读取文件 {path}：{exc.strerror or exc}") from exc
    sha = hashlib.sha256(data).hexdigest()
    if suffix == ".csv":
        text, encoding = decode_text(path, data)
        grid, broken = csv_grid(text)
        table = _from_grid(path, sha, grid, is_header, first_row=1, broken=broken)
        table.encoding = encoding
        return table
    if suffix == ".xlsx":
        return _read_xlsx(path, sha, data, sheet, is_header)
    text, encoding = decode_text(path, data)
    table = _read_json(path, sha, text, jsonl=suffix != ".json")
    table.encoding = encoding
    return table


def decode_text(path: Path, data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM), else GB18030 as Excel on Chinese Windows writes it."""
    if data.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    else:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            encoding = "gb18030"
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        # The utf-8-sig codec counts from after the byte-order mark.
        offset = exc.start + len(data) - len(exc.object)
        line = data.count(b"\n", 0, offset) + 1
        raise ImportFileError(
            f"无法读取文件 {path}：既不是 UTF-8 也不是 GB18030 编码"
            f"（第 {line} 行，第 {offset} 字节）"
        ) from exc


def csv_grid(text: str) -> tuple[list[list[str]], dict[int, tuple[str, str]]]:
    """The records of a CSV text, and the ones that could not be read.

    A record the strict parser refuses (a quote never closed, a stray quote, a field over
    ``CSV_FIELD_LIMIT``) is kept as its first physical line with the reason, keyed by its
    record index, and parsing resumes on the next line: without this, one unclosed quote
    swallows the rest of the file into a single cell.
    """
    if csv.field_size_limit() < CSV_FIELD_LIMIT:
        csv.field_size_limit(CSV_FIELD_LIMIT)
    # The csv module's own line splitting (\n, \r, \r\n), so that its line_num indexes these.
    lines = io.StringIO(text, newline="").readlines()
    grid: list[list[str]] = []
    broken: dict[int, tuple[str, str]] = {}
    source = _Lines(lines)
    while source.at < len(lines):
        start = source.at
        reader = csv.reader(source, strict=True)
        consumed = 0
        try:
            for row in reader:
                grid.append(row)
                consumed = reader.line_num
            return grid, broken
        except csv.Error as exc:
            bad = start + consumed
            broken[len(grid)] = (lines[bad].rstrip("\r\n"), _csv_reason(str(exc)))
            grid.append([])
            source.at = bad + 1
    return grid, broken


class _Lines:
    """The lines of a text from a position that can be moved back: each restart after a
    broken record resumes in place (a fresh slice per broken record was quadratic)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.at = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.at >= len(self.lines):
            raise StopIteration
        self.at += 1
        return self.lines[self.at - 1]


def _csv_reason(message: str) -> str:
    if "field larger" in message:
        return f"单元格超过 {CSV_FIELD_LIMIT:,} 个字符，无法读取"
    if "unexpected end of data" in message or "EOF" in message:
        return "引号未闭合（本行起的内容无法分行），已跳过本行"
    return f"引号使用不规范，无法分列（{message}）"


def _cell_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _from_grid(
    path: Path,
    sha: str,
    grid: Iterable[list[Any]],
    is_header: Callable[[list[str]], bool] | None,
    *,
    first_row: int,
    sheet: str | None = None,
    broken: dict[int, tuple[str, str]] | None = None,
) -> ImportTable:
    rows = [list(r) for r in grid]
    broken = broken or {}
    header_at = _find_header(rows, is_header)
    if header_at is None:
        raise ImportFileError(
            f"无法读取文件 {path}：前 {HEADER_SCAN_ROWS} 行中找不到表头"
            "（需含“标题”“内容”“链接”“类别”等列名）"
        )
    headers = _unique_headers([_cell_text(c) for c in rows[header_at]])
    table = ImportTable(path, sha, "行", headers, sheet=sheet)
    for offset, row in enumerate(rows[header_at + 1 :], header_at + 1):
        if offset in broken:
            raw, why = broken[offset]
            table.add(RawRow(first_row + offset, {RAW_COLUMN: raw}, why))
            continue
        if not any(_cell_text(c) for c in row):
            continue  # blank rows are skipped but still counted in the numbering
        values: dict[str, Any] = {}
        for i, cell in enumerate(row):
            if i >= len(headers):
                headers.append(f"第{i + 1}列")
            values[headers[i]] = cell
        table.add(RawRow(first_row + offset, values))
    return table


def _find_header(
    rows: list[list[Any]], is_header: Callable[[list[str]], bool] | None
) -> int | None:
    candidates = [i for i, r in enumerate(rows[:HEADER_SCAN_ROWS]) if any(map(_cell_text, r))]
    if not candidates:
        return None
    if is_header is None:
        return candidates[0]
    for i in candidates:
        if is_header([_cell_text(c) for c in rows[i]]):
            return i
    return None


def _unique_headers(names: list[str]) -> list[str]:
    """Name empty header cells by position and make repeated names distinct."""
    out: list[str] = []
    for i, name in enumerate(names):
        name = name or f"第{i + 1}列"
        base, n = name, 2
        while name in out:
            name, n = f"{base}（{n}）", n + 1
        out.append(name)
    return out


def _read_xlsx(
    path: Path,
    sha: str,
    data: bytes,
    sheet: str | None,
    is_header: Callable[[list[str]], bool] | None,
) -> ImportTable:
    import openpyxl  # only imports that read spreadsheets pay for it
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise ImportFileError(f"无法读取文件 {path}：不是有效的 XLSX 工作簿（{exc}）") from exc
    try:
        if sheet is not None and sheet not in book.sheetnames:
            names = "、".join(book.sheetnames)
            raise ImportFileError(
                f"无法读取文件 {path}：没有名为“{sheet}”的工作表（现有：{names}）"
            )
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        # Read-only mode trusts the sheet's declared <dimension>, which many exporters
        # write wrong (rows beyond it would be dropped silently); read to the real end.
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()
        grid = ws.iter_rows(values_only=True)
        return _from_grid(path, sha, grid, is_header, first_row=1, sheet=ws.title)
    finally:
        book.close()


def _read_json(path: Path, sha: str, text: str, *, jsonl: bool) -> ImportTable:
    records: list[tuple[int, Any, str | None]] = []
    stripped = text.lstrip()
    if not jsonl or stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"第 {exc.lineno} 行第 {exc.colno} 列"
            raise ImportFileError(
                f"无法读取文件 {path}：JSON 格式错误（{where}：{exc.msg}）"
            ) from exc
        except RecursionError as exc:
            raise ImportFileError(f"无法读取文件 {path}：JSON 嵌套层数过深") from exc
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list):
            raise ImportFileError(f"无法读取文件 {path}：JSON 顶层应为对象列表")
        records = [(i, obj, None) for i, obj in enumerate(data, 1)]
        unit = "条"
    else:
        unit = "行"
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append((n, json.loads(line), None))
            except json.JSONDecodeError as exc:
                records.append((n, line, f"不是有效的 JSON（{exc.msg}）"))
            except RecursionError:
                records.append((n, line, "JSON 嵌套层数过深"))
    headers: list[str] = []
    table = ImportTable(path, sha, unit, headers)
    for number, obj, error in records:
        if error is None and not isinstance(obj, dict):
            error = "应为 JSON 对象（键为列名）"
        if error is not None:
            # Keep what the record said, for the rejected-rows file.
            text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
            table.add(RawRow(number, {RAW_COLUMN: text}, error))
            continue
        values = {str(k): v for k, v in obj.items()}
        headers.extend(k for k in values if k not in headers)
        table.add(RawRow(number, values))
    return table
