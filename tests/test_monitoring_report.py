"""网络交易监测报告: the DOCX of a period, written by `tiequan report monitoring`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.document import Document as DocxDocument
from PIL import Image
from pymongo.database import Database

from tests.dashboard_seed import HOSTILE_PARTY, HOSTILE_SHOP, NOW, PERIOD, TOP_PARTY, seed
from tiequan.cli.main import main
from tiequan.documents.charts import bar_chart, cjk_font, day_chart
from tiequan.documents.monitoring import build_monitoring_report, report_filename
from tiequan.documents.referral import Letterhead
from tiequan.leads.stats import dashboard

LETTERHEAD = Letterhead("乌兰塔拉盟市场监督管理局", "网络交易监督管理股")


def open_docx(body: bytes) -> DocxDocument:
    return docx.Document(io.BytesIO(body))


def texts(document: DocxDocument) -> list[str]:
    return [p.text for p in document.paragraphs]


def table_rows(document: DocxDocument) -> list[list[str]]:
    return [[c.text for c in row.cells] for t in document.tables for row in t.rows]


@pytest.fixture
def cli_db(
    db: Database[dict[str, Any]], mongo_uri: str, monkeypatch: pytest.MonkeyPatch
) -> Database[dict[str, Any]]:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    return db


def test_the_report_of_a_seeded_period(db: Database[dict[str, Any]]) -> None:
    seed(db)
    document = open_docx(build_monitoring_report(dashboard(db, PERIOD, NOW), LETTERHEAD))
    paragraphs = texts(document)
    assert paragraphs[:2] == ["乌兰塔拉盟市场监督管理局", "网络交易监测报告"]
    assert "监测期间：2026-03-01 至 2026-03-10" in paragraphs
    assert "编制单位：乌兰塔拉盟市场监督管理局网络交易监督管理股" in paragraphs
    summary = next(p for p in paragraphs if p.startswith("本期共开展网络巡查"))
    assert summary == (
        "本期共开展网络巡查 2 次，抓取页面 15 个、商品信息 12 条，发现违法线索 4 条，"
        "其中减肥壮阳类 3 条，居各类别之首；研判线索 4 条，确认类 3 条，准确率 75.0%；"
        "截至报告生成时有超期线索 2 条。"
    )
    rows = table_rows(document)
    for row in (
        ["巡查次数", "2"],
        ["抓取页面", "15"],
        ["抓取商品信息", "12"],
        ["发现线索", "4"],
        ["减肥壮阳类", "3", "75.0%"],
        ["立案", "3", "75.0%"],
        ["提醒告诫", "1", "25.0%"],
        ["1", TOP_PARTY, "2"],
        ["移送公安", "1"],
        ["办结", "1"],
        ["减肥壮阳类", "3", "2", "1", "66.7%"],
        ["L6", "减肥壮阳类", HOSTILE_PARTY, "已确认", "2026-03-06 11:00"],
        ["R1", "2026-03-02 02:00", "10", "8", "2", "1", "12.5"],
    ):
        assert row in rows, row
    # Crawled names are text in Word: the payloads are there as written, nothing else.
    assert ["2", HOSTILE_SHOP, "1"] in rows and ["3", HOSTILE_PARTY, "1"] in rows
    pictures = document.inline_shapes
    assert len(pictures) == 3  # categories, per day, top parties
    for blob in document.part.package.image_parts:
        assert Image.open(io.BytesIO(blob.blob)).format == "PNG"


def test_the_report_of_an_empty_database(db: Database[dict[str, Any]]) -> None:
    document = open_docx(build_monitoring_report(dashboard(db, PERIOD, NOW), LETTERHEAD))
    paragraphs = texts(document)
    assert "本期未发现线索。" in paragraphs and "本期没有巡查运行记录。" in paragraphs
    assert any(p.startswith("本期共开展网络巡查 0 次") for p in paragraphs)
    assert len(document.inline_shapes) == 0


def test_charts_are_pngs_with_a_cjk_font() -> None:
    font = cjk_font()
    assert font is not None, "make system-deps installs fonts-wqy-microhei"
    png = bar_chart("各类别线索数", ["减肥壮阳类", "$\\frac{$ 神药"], [3, 1])
    assert Image.open(io.BytesIO(png)).format == "PNG"
    png = day_chart(
        "每日新增线索", ["2026-03-01", "2026-03-02"], [("合计", [1, 2]), ("甲", [1, 1])]
    )
    assert Image.open(io.BytesIO(png)).size[0] > 600


def test_cli_writes_the_report(
    cli_db: Database[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(cli_db)
    out = tmp_path / "报告.docx"
    argv = ["report", "monitoring", "--from", "2026-03-01", "--to", "2026-03-10", "--out", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == (
        f"网络交易监测报告已生成：{out}（2026-03-01 至 2026-03-10；线索 4 条，巡查 2 次）"
    )
    document = docx.Document(str(out))
    assert "监测期间：2026-03-01 至 2026-03-10" in texts(document)
    assert ["1", TOP_PARTY, "2"] in table_rows(document)
    assert len(document.inline_shapes) >= 1


def test_cli_default_file_name(
    cli_db: Database[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["report", "monitoring", "--from", "2026-03-01", "--to", "2026-03-10"]) == 0
    assert (tmp_path / report_filename(PERIOD)).is_file()
    assert report_filename(PERIOD) == "网络交易监测报告_2026-03-01_2026-03-10.docx"
    assert "线索 0 条，巡查 0 次" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-3-1"], "参数有误：日期格式有误：--from 2026-3-1（应为 YYYY-MM-DD）"),
        (["--to", "2026-02-30"], "参数有误：日期格式有误：--to 2026-02-30（应为 YYYY-MM-DD）"),
        (
            ["--from", "2026-03-10", "--to", "2026-03-01"],
            "参数有误：起始日期 2026-03-10 晚于截止日期 2026-03-01",
        ),
        (["--out", "report.pdf"], "参数有误：--out report.pdf 须以 .docx 结尾"),
    ],
)
def test_cli_bad_arguments_give_one_line(
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIEQUAN_MONGO_URI", "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=50")
    assert main(["report", "monitoring", *args]) == 2
    err = capsys.readouterr().err
    assert err == message + "\n"
    assert list(tmp_path.iterdir()) == []
