"""Lead import: tips (投诉举报) and leads sent down (上级交办) from CSV, XLSX and JSON."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from pymongo.database import Database

from detectors.combine import ListingDetector
from tests.conftest import TrainedModel
from tiequan.cli.main import main
from tiequan.leads.importer import CATEGORY_ONLY_TEXT, NOT_A_LEAD, Importer, run_id_for
from tiequan.leads.importer_read import ImportFileError, read_table
from tiequan.leads.importer_report import ImportReport, write_rejected
from tiequan.leads.importer_rows import (
    looks_like_header,
    mask_reporter,
    parse_categories,
    parse_price,
    parse_time,
)
from tiequan.leads.queue import LeadQueue
from tiequan.models.live import NO_LIVE_MODEL
from tiequan.party.creditcode import check_digit
from tiequan.referral import load_categories

HEADER = [
    "举报编号",
    "举报人",
    "联系电话",
    "标题",
    "举报内容",
    "链接",
    "店铺名称",
    "统一社会信用代码",
    "经营者",
    "住所",
    "价格（元）",
    "类别",
    "举报时间",
    "备注",
]
SLIM = [
    "TS-001",
    "张三丰",
    "13812345678",
    "纤体速效茶",
    "喝一周瘦八斤，无效退款",
    "https://shop.example/item/1",
    "小美保健专营店",
    "",
    "某某保健品商行",
    "内蒙古自治区乌兰塔拉盟东乌兰旗团结大街18号",
    "39.9",
    "",
    "2024-06-01 10:30",
    "电话举报",
]
ELEVATOR = [
    "TS-002",
    "李四",
    "13900001111",
    "",
    "小区电梯好几个月没人检修了",
    "",
    "",
    "",
    "某物业公司",
    "乌兰塔拉盟西乌兰旗巴彦花镇",
    "",
    "超期未检电梯",
    "2024/6/2",
    "",
]
TOWEL = ["TS-003", "", "", "普通毛巾", "很好用，推荐", "", "", "", "", "", "12", "", "", ""]
XIWULAN = "西乌兰旗市场监督管理局"


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


@pytest.fixture(scope="module")
def detector() -> ListingDetector:
    return ListingDetector.from_config()


@pytest.fixture
def queue(db: Database[dict[str, Any]]) -> LeadQueue:
    return LeadQueue(db)


def run_import(
    queue: LeadQueue, detector: ListingDetector, path: Path, source: str = "tip", **kw: Any
) -> ImportReport:
    table = read_table(path, is_header=looks_like_header, sheet=kw.pop("sheet", None))
    report = Importer(queue, detector, source=source, by="测试员", **kw).run(table)
    write_rejected(report, path)
    return report


def only_lead(queue: LeadQueue, category: str) -> dict[str, Any]:
    leads = list(queue.coll.find({"category": category}))
    assert len(leads) == 1, leads
    return leads[0]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_csv_in_utf8_and_gb18030(
    queue: LeadQueue, detector: ListingDetector, tmp_path: Path, encoding: str
) -> None:
    path = write_csv(tmp_path / "tips.csv", [HEADER, SLIM, ELEVATOR], encoding)
    report = run_import(queue, detector, path)
    assert (report.rows_read, report.imported_rows, report.rejected) == (2, 2, [])
    assert (report.flagged_rows, report.category_only_rows) == (1, 1)
    assert not report.rejected and not (tmp_path / "tips.rejected.csv").exists()
    lead = only_lead(queue, "slimming_aphrodisiac")
    assert lead["source"] == "tip" and lead["source_ref"] == "tips.csv#2"
    assert lead["title"] == "纤体速效茶" and lead["score"] > 0.5
    assert lead["run_ids"] == [run_id_for(report.sha256)]
    assert lead["jurisdiction"]["bureau_name"] == "东乌兰旗市场监督管理局"
    entry = lead["listings"][0]
    assert (entry["platform"], entry["item_id"], entry["price"]) == ("tip", "TS-001", 39.9)
    assert entry["captured_at"] == "2024-06-01T10:30:00+08:00"
    # Unknown columns are kept with the lead, in column order.
    (imported,) = lead["imports"]
    assert ["备注", "电话举报"] in imported["row_data"]
    assert imported["row"] == 2 and imported["by"] == "测试员"


def test_reporter_is_masked_never_copied(
    queue: LeadQueue, detector: ListingDetector, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "tips.csv", [HEADER, SLIM, ELEVATOR])
    run_import(queue, detector, path)
    stored = json.dumps(list(queue.coll.find()), ensure_ascii=False, default=str)
    for secret in ("张三丰", "13812345678", "李四", "13900001111"):
        assert secret not in stored
    lead = only_lead(queue, "slimming_aphrodisiac")
    assert lead["imports"][0]["reporter"] == "张** 138****5678"
    assert mask_reporter([("name", "王五"), ("phone", "612-3456")]) == "王** ****3456"
    assert mask_reporter([("other", "150102199001011234")]) == "（其他身份信息已隐去）"
    assert mask_reporter([("name", " ")]) is None


def test_category_only_tip_and_row_that_is_no_lead(
    queue: LeadQueue, detector: ListingDetector, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "tips.csv", [HEADER, ELEVATOR, TOWEL])
    report = run_import(queue, detector, path)
    lead = only_lead(queue, "elevator_overdue")
    assert lead["explanation"] == CATEGORY_ONLY_TEXT["tip"]
    assert lead["explanation"] == "举报内容未命中检测规则，按举报所列类别登记，待人工研判"
    assert lead["severity"] == "提醒告诫" and lead["finding_score"] == pytest.approx(0.2)
    assert lead["lead_unit"] == "特种设备安全监察股"
    # Routed by the party's address to the county bureau.
    assert lead["jurisdiction"]["bureau_name"] == XIWULAN
    assert [(r.number, r.reason) for r in report.rejected] == [(3, NOT_A_LEAD)]
    assert report.rejected


def test_bad_rows_reported_by_row_number_others_imported(
    queue: LeadQueue, detector: ListingDetector, tmp_path: Path
) -> None:
    bad_price = [*SLIM[:10], "三十九", *SLIM[11:]]
    bad_category = [*ELEVATOR[:11], "神仙类", *ELEVATOR[12:]]
    empty = ["TS-009", "", "", "", "", "", "", "", "", "", "", "", "2024-06-03", "空白"]
    bad_code = [*SLIM[:7], "91150921MA0R8K1X2Q", *SLIM[8:]]
    bad_code[0] = "TS-010"
    bad_date = [*ELEVATOR[:12], "六月初", ""]
    rows = [
        ["2024年6月投诉举报线索汇总"],
        HEADER,
        bad_price,
        SLIM,
        bad_category,
        empty,
        bad_code,
        bad_date,
        ELEVATOR,
    ]
    path = write_csv(tmp_path / "tips.csv", rows)
    report = run_import(queue, detector, path)
    rejected = {r.number: r.reason for r in report.rejected}
    assert sorted(rejected) == [3, 5, 6, 8]  # the header is row 2 under a title row
    assert "“价格（元）”列的值“三十九”" in rejected[3]
    assert "“类别”列的值“神仙类”不是已知的类别" in rejected[5]
    assert "缺少内容" in rejected[6]
    assert "“举报时间”列的值“六月初”不是有效的日期" in rejected[8]
    assert report.imported_rows == 3 and report.rejected
    # A malformed credit code is not a bad row: the party is recorded as unverifiable.
    lead = only_lead(queue, "slimming_aphrodisiac")
    assert lead["listing_count"] == 2
    assert not lead["party"]["identified"]
    # The rejected rows, with the reason, next to the input; Excel needs the BOM.
    out = tmp_path / "tips.rejected.csv"
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    with out.open(encoding="utf-8-sig", newline="") as fh:
        back = list(csv.DictReader(fh))
    assert [r["原行号"] for r in back] == ["3", "5", "6", "8"]
    assert back[0]["价格（元）"] == "三十九" and back[0]["原因"] == rejected[3]
    assert back[2]["备注"] == "空白"


def test_reimport_is_idempotent(
    queue: LeadQueue, detector: ListingDetector, tmp_path: Path
) -> None:
    second_listing = [*SLIM[:4], "七天瘦十斤不反弹", "https://shop.example/item/2", *SLIM[6:]]
    second_listing[0] = "TS-004"
    path = write_csv(tmp_path / "tips.csv", [HEADER, SLIM, ELEVATOR, second_listing])
    first = run_import(queue, detector, path)
    # Two rows about one shop and category: one case with two listings.
    assert len(first.new_ids) == 2 and first.added == 1
    before = list(queue.coll.find().sort("_id"))
    again = run_import(queue, detector, path)
    assert (again.new_ids, again.imported_rows, again.already_imported) == ([], 0, [2, 3, 4])
    after = list(queue.coll.find().sort("_id"))
    assert [(d["_id"], d["version"], len(d["imports"])) for d in after] == [
        (d["_id"], d["version"], len(d["imports"])) for d in before
    ]
    assert only_lead(queue, "slimming_aphrodisiac")["listing_count"] == 2


def test_xlsx_with_sheet_title_row_and_typed_cells(
    queue: LeadQueue, detector: ListingDetector, tmp_path: Path
) -> None:
    book = openpyxl.Workbook()
    book.active.title = "说明"
    book.active.append(["本表为交办线索"])
    ws = book.create_sheet("交办线索")
    ws.append(["盟局交办线索清单"])
    ws.append(["交办文号", "线索内容", "类别", "价格", "交办时间", "住所"])
    ws.append(
        [
            "乌市监交〔2024〕12号",
            "祖传秘方根治糖尿病，三个疗程断根",
            "",
            298,
            datetime(2024, 6, 5, 9, 0),
            "乌兰塔拉盟西乌兰旗吉仁高勒镇",
        ]
    )
    ws.append([None, None, None, None, None, None])
    ws.append(["乌市监交〔2024〕13号", "某小区电梯年检标志过期", "超期未检电梯", None, None, None])
    path = tmp_path / "交办.xlsx"
    book.save(path)
    report = run_import(queue, detector, path, source="higher-bureau", sheet="交办线索")
    assert report.rejected == [] and report.imported_rows == 2
    lead = only_lead(queue, "miracle_drug")
    assert lead["source"] == "higher-bureau" and lead["source_ref"] == "交办.xlsx#3"
    assert lead["listings"][0]["item_id"] == "乌市监交〔2024〕12号"
    assert lead["listings"][0]["price"] == 298.0
    assert lead["listings"][0]["captured_at"] == "2024-06-05T09:00:00+08:00"
    assert lead["jurisdiction"]["bureau_name"] == XIWULAN
    elevator = only_lead(queue, "elevator_overdue")
    assert elevator["source_ref"] == "交办.xlsx#5"  # the blank row 4 still counts
    assert elevator["explanation"] == CATEGORY_ONLY_TEXT["higher-bureau"]
    with pytest.raises(ImportFileError, match="没有名为“无此表”的工作表"):
        read_table(path, sheet="无此表", is_header=looks_like_header)


def test_json_list_and_json_lines(
    queue: LeadQueue, detector: ListingDetector, tmp_path: Path
) -> None:
    code = "91159923MA0R8K1X2" + check_digit("91159923MA0R8K1X2")
    records = [
        {
            "ref": "J-1",
            "title": "高仿原单羊绒大衣",
            "text": "1:1专柜同款 100%羊绒 只要199",
            "credit_code": code,
            "party_name": "某服饰店",
            "category": "counterfeit_apparel",
            "reporter_phone": "13700002222",
            "tags": ["复购", "加急"],
        },
        {"ref": "J-2", "title": "", "text": "", "url": ""},
    ]
    as_list = tmp_path / "tips.json"
    as_list.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    report = run_import(queue, detector, as_list)
    assert report.unit == "条" and [r.number for r in report.rejected] == [2]
    lead = only_lead(queue, "counterfeit_apparel")
    # A valid credit code identifies the party and, without an address, gives the county.
    assert lead["party"]["identified"] and lead["party_key"] == f"uscc:{code}"
    assert lead["jurisdiction"]["bureau_name"] == "查干诺尔县市场监督管理局"
    row_data = dict(lead["imports"][0]["row_data"])
    assert row_data["tags"] == '["复购", "加急"]' and "reporter_phone" not in row_data

    lines = tmp_path / "tips.jsonl"
    lines.write_text(
        "\n".join(
            [
                json.dumps(
                    {"编号": "L-1", "内容": "白酒30年陈酿 茅台镇原浆", "类别": "白酒"},
                    ensure_ascii=False,
                ),
                "",
                "{broken",
                "[1, 2]",
            ]
        ),
        encoding="utf-8",
    )
    report = run_import(queue, detector, lines)
    assert report.unit == "行" and report.imported_rows == 1
    assert [r.number for r in report.rejected] == [3, 4]
    assert "不是有效的 JSON" in report.rejected[0].reason
    with (tmp_path / "tips.rejected.csv").open(encoding="utf-8-sig", newline="") as fh:
        assert [r["原始记录"] for r in csv.DictReader(fh)] == ["{broken", "[1, 2]"]
    assert only_lead(queue, "liquor_label")["source_ref"] == "tips.jsonl#1"


def test_values_and_headers() -> None:
    cats = load_categories()
    assert parse_categories("类别", "神医神药", cats) == ["miracle_drug"]
    assert parse_categories("类别", "减肥、壮阳等食品", cats) == ["slimming_aphrodisiac"]
    assert parse_categories("类别", "电梯；real_estate", cats) == [
        "elevator_overdue",
        "real_estate",
    ]
    with pytest.raises(ValueError, match="“虚假违法广告”不是已知的类别"):
        parse_categories("类别", "虚假违法广告", cats)  # ambiguous: 神医神药 or 房地产
    assert parse_price("价格", "¥1,299.00元") == 1299.0 and parse_price("价格", " ") is None
    with pytest.raises(ValueError, match="不是有效的价格"):
        parse_price("价格", "-5")
    when = parse_time("举报时间", "2024年6月1日 8时05分")
    assert when is not None and when.isoformat() == "2024-06-01T08:05:00+08:00"
    assert looks_like_header(["序号", "标题", "内容"]) and not looks_like_header(["汇总表"])


def test_unreadable_files(tmp_path: Path) -> None:
    for name, data, message in [
        ("a.txt", b"x", "不支持的文件类型"),
        ("b.xlsx", b"not a zip", "不是有效的 XLSX"),
        ("c.json", b'{"a": ', "JSON 格式错误"),
        ("d.csv", "甲,乙\n1,2\n".encode(), "找不到表头"),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ImportFileError, match=message) as info:
            read_table(path, is_header=looks_like_header)
        assert str(path) in str(info.value)
    with pytest.raises(ImportFileError, match="文件不存在"):
        read_table(tmp_path / "missing.csv")


def test_cli_end_to_end(
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
    path = write_csv(tmp_path / "tips.csv", [HEADER, SLIM, ELEVATOR, TOWEL], "gb18030")
    assert main(["leads", "import", str(path), "--source", "tip", "--by", "张科员"]) == 1
    out = capsys.readouterr().out
    assert "读取 3 行：登记 2 行" in out and "新建线索 2 条" in out
    assert "超期未检电梯（elevator_overdue）→ 特种设备安全监察股：新建 1" in out
    assert f"第 4 行：{NOT_A_LEAD}" in out
    assert (tmp_path / "tips.rejected.csv").is_file()
    assert db.leads.count_documents({"source": "tip"}) == 2

    assert main(["leads", "import", str(path), "--source", "tip", "--json"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert again["new_leads"] == [] and again["already_imported"] == [2, 3]
    assert db.leads.count_documents({}) == 2

    clean = write_csv(tmp_path / "clean.csv", [HEADER, ELEVATOR])
    assert main(["leads", "import", str(clean), "--source", "higher-bureau"]) == 0
    assert "上级交办" in capsys.readouterr().out

    unknown = tmp_path / "unknown.json"
    unknown.write_text('[{"foo": "bar"}]', encoding="utf-8")
    assert main(["leads", "import", str(unknown), "--source", "tip"]) == 2
    assert "没有可识别的列名" in capsys.readouterr().err

    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK not really")
    assert main(["leads", "import", str(broken), "--source", "tip"]) == 2
    assert str(broken) in capsys.readouterr().err


def test_import_without_a_live_model_fails_clearly_and_does_not_train(
    db: Database[dict[str, Any]],
    mongo_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path / "home"))
    trained: list[object] = []
    monkeypatch.setattr(ListingDetector, "fit", lambda *a, **_k: trained.append(a))
    path = write_csv(tmp_path / "tips.csv", [HEADER, SLIM])
    assert main(["leads", "import", str(path), "--source", "tip"]) == 2
    err = capsys.readouterr().err
    assert NO_LIVE_MODEL in err and len(err.strip().splitlines()) == 1
    assert trained == [] and db.leads.count_documents({}) == 0
