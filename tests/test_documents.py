"""The documents officers use: referral form, extraction record (DOCX) and ledger (XLSX)."""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pytest
from PIL import Image
from pymongo.database import Database

from tiequan.cli.main import main
from tiequan.documents import (
    LedgerFilter,
    Letterhead,
    export_forms,
    export_ledger,
    safe_text,
    write_ledger,
)
from tiequan.documents.export import export_run, parse_forms
from tiequan.evidence.artefacts import ArtefactStore
from tiequan.evidence.capture import evidence_id
from tiequan.leads.model import Case
from tiequan.leads.queue import LeadNotFound, LeadQueue, make_lead_id
from tiequan.party.creditcode import check_digit
from tiequan.storage.store import EVIDENCE

CODE = "91150921MA0R8K1X2" + check_digit("91150921MA0R8K1X2")
PARTY = f"uscc:{CODE}"
COMPANY = "东乌兰旗某某保健品商行"
BUREAU = "东乌兰旗市场监督管理局"
ARTICLE = "《食品安全法》第七十三条"
LETTERHEAD = Letterhead("乌兰塔拉盟市场监督管理局", "价格、反垄断和网络交易（广告）监督管理股")
NOW = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)


def png(width: int = 60, height: int = 180) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def listing(
    item_id: str,
    *,
    run_id: str = "R1",
    name: str = COMPANY,
    code: str = CODE,
    shop: str = "小美保健专营店",
) -> dict[str, Any]:
    return {
        "platform": "demo_shop",
        "platform_name": "演示商城",
        "kind": "product",
        "url": f"https://shop.example/item/{item_id}",
        "item_id": item_id,
        "title": f"纤体速效茶 第{item_id}款",
        "shop_name": shop,
        "shop_url": f"https://shop.example/shop/{shop}",
        "licence": {
            "credit_code": code,
            "name": name,
            "address": "内蒙古自治区乌兰塔拉盟东乌兰旗团结大街18号",
            "url": None,
        }
        if code
        else None,
        "evidence_id": evidence_id("demo_shop", item_id, run_id),
    }


def finding(category: str = "slimming_aphrodisiac", score: float = 0.9) -> dict[str, Any]:
    return {
        "category": category,
        "score": score,
        "article": ARTICLE,
        "spans": [[0, 4]],
        "explanation": "普通食品宣称减肥功效，疑似非法添加。",
        "matched": ["瘦八斤", "纤体速效"],
        "severity": "立案",
    }


def add_evidence(
    db: Database[dict[str, Any]],
    store: ArtefactStore,
    lead_id: str,
    item_id: str,
    run_id: str,
    *,
    screenshot: bytes | None,
    captured_at: datetime,
) -> dict[str, Any]:
    url = f"https://shop.example/item/{item_id}"
    artefacts = [
        store.put(
            f"WARC/1.0 {item_id} {run_id}".encode(),
            kind="warc",
            media_type="application/warc",
            name=f"{item_id}.warc.gz",
            source_url=url,
        ),
        store.put(
            f"<html>{item_id} 瘦八斤</html>".encode(),
            kind="html",
            media_type="text/html",
            name="page.html",
            source_url=url,
        ),
    ]
    if screenshot is not None:
        artefacts.append(
            store.put(
                screenshot,
                kind="screenshot",
                media_type="image/png",
                name="screenshot.png",
                source_url=url,
            )
        )
    doc = {
        "_id": evidence_id("demo_shop", item_id, run_id),
        "lead_ids": [lead_id],
        "platform": "demo_shop",
        "item_id": item_id,
        "run_id": run_id,
        "purpose": "detection",
        "captured_at": captured_at,
        "requested_url": url,
        "final_url": url + "?from=redirect",
        "status": 200,
        "findings": [finding()],
        "categories": ["slimming_aphrodisiac"],
        "party_key": PARTY,
        "artefacts": [a.to_doc() for a in artefacts],
        "notes": [] if screenshot is not None else ["截图失败：浏览器超时"],
    }
    db[EVIDENCE].insert_one(doc)
    return doc


@pytest.fixture
def queue(db: Database[dict[str, Any]]) -> LeadQueue:
    q = LeadQueue(db)
    q.ensure_indexes()
    return q


@pytest.fixture
def store(tmp_path: Path) -> ArtefactStore:
    return ArtefactStore(tmp_path / "evidence")


@pytest.fixture
def case(queue: LeadQueue, db: Database[dict[str, Any]], store: ArtefactStore) -> dict[str, Any]:
    """One case of two listings over two nights, with three evidence sets."""
    lead_id = make_lead_id(PARTY, "slimming_aphrodisiac")
    night1 = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 2026-03-02 01:30 in Shanghai
    night2 = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
    queue.record([(listing("1"), finding()), (listing("2"), finding(score=0.7))], "R1", now=night1)
    queue.record([(listing("1", run_id="R2"), finding())], "R2", now=night2)
    add_evidence(db, store, lead_id, "1", "R1", screenshot=png(), captured_at=night1)
    add_evidence(db, store, lead_id, "2", "R1", screenshot=None, captured_at=night1)
    add_evidence(db, store, lead_id, "1", "R2", screenshot=png(80, 240), captured_at=night2)
    lead = queue.get(lead_id)
    assert lead is not None
    return lead


def docx_text(path: Path) -> str:
    document = docx.Document(str(path))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def all_hashes(db: Database[dict[str, Any]]) -> list[str]:
    return [a["sha256"] for ev in db[EVIDENCE].find() for a in ev["artefacts"]]


def test_referral_form_holds_the_case(
    case: dict[str, Any], db: Database[dict[str, Any]], store: ArtefactStore, tmp_path: Path
) -> None:
    result = export_forms(
        db,
        [case["_id"].lower()],
        tmp_path / "out",
        store=store,
        forms=["referral"],
        letterhead=LETTERHEAD,
        now=NOW,
    )
    path = tmp_path / "out" / f"{case['_id']}-案件线索移送单.docx"
    assert result.files == [path] and result.lead_ids == [case["_id"]]
    text = docx_text(path)
    assert f"铁拳线索〔2026〕{case['_id']}号" in text
    assert "乌兰塔拉盟市场监督管理局" in text and "案件线索移送单" in text
    assert "移送单位：乌兰塔拉盟市场监督管理局价格、反垄断和网络交易（广告）监督管理股" in text
    assert f"接收单位：价格、反垄断和网络交易（广告）监督管理股；{BUREAU}" in text
    assert COMPANY in text and f"{CODE}（校验通过）" in text and "东乌兰旗团结大街18号" in text
    assert BUREAU in text and ARTICLE in text and "疑似非法添加" in text
    assert "“瘦八斤”、“纤体速效”" in text and "https://shop.example/item/2" in text
    assert "2026-03-02 01:30" in text  # first seen, in Asia/Shanghai
    for sha in all_hashes(db):
        assert sha in text
    assert "回　执" in text and "移送人（签名）" in text and "审核人（签名）" in text
    document = docx.Document(str(path))
    assert len(document.inline_shapes) == 1
    # The embedded picture is the newest night's screenshot, scaled to the page width.
    blip = document.inline_shapes[0]._inline.graphic.graphicData.pic.blipFill.blip
    blob = document.part.related_parts[blip.embed].blob
    assert blob == png(80, 240)
    section = document.sections[0]
    usable = section.page_width - section.left_margin - section.right_margin  # type: ignore[operator]
    assert document.inline_shapes[0].width <= usable


def test_referral_without_a_good_screenshot_says_so(
    case: dict[str, Any], db: Database[dict[str, Any]], store: ArtefactStore, tmp_path: Path
) -> None:
    shot = next(
        a["sha256"]
        for ev in db[EVIDENCE].find({"run_id": "R2"})
        for a in ev["artefacts"]
        if a["kind"] == "screenshot"
    )
    os.chmod(store.path(shot), 0o644)
    store.path(shot).write_bytes(png(81, 240))  # altered after capture
    export_forms(
        db, [case["_id"]], tmp_path, store=store, forms=["referral"], letterhead=LETTERHEAD, now=NOW
    )
    path = tmp_path / f"{case['_id']}-案件线索移送单.docx"
    assert "截图文件与哈希值不符" in docx_text(path)
    assert len(docx.Document(str(path)).inline_shapes) == 0
    db[EVIDENCE].update_many({}, {"$pull": {"artefacts": {"kind": "screenshot"}}})
    export_forms(
        db, [case["_id"]], tmp_path, store=store, forms=["referral"], letterhead=LETTERHEAD, now=NOW
    )
    assert "无截图" in docx_text(path)


def test_police_leads_are_received_by_the_police(
    case: dict[str, Any],
    queue: LeadQueue,
    db: Database[dict[str, Any]],
    store: ArtefactStore,
    tmp_path: Path,
) -> None:
    queue.apply(case["_id"], "police", "王科长", reason="涉嫌在食品中添加西布曲明")
    export_forms(
        db, [case["_id"]], tmp_path, store=store, forms=["referral"], letterhead=LETTERHEAD, now=NOW
    )
    text = docx_text(tmp_path / f"{case['_id']}-案件线索移送单.docx")
    assert "接收单位：移送公安机关" in text


def test_extraction_record(
    case: dict[str, Any],
    queue: LeadQueue,
    db: Database[dict[str, Any]],
    store: ArtefactStore,
    tmp_path: Path,
) -> None:
    export_forms(
        db,
        [case["_id"]],
        tmp_path,
        store=store,
        forms=["extraction"],
        letterhead=LETTERHEAD,
        now=NOW,
    )
    path = tmp_path / f"{case['_id']}-电子数据提取笔录.docx"
    text = docx_text(path)
    assert "电子数据提取笔录" in text and case["_id"] in text and COMPANY in text
    assert "系统自动提取" in text and "WARC" in text and "SHA-256" in text
    assert "2026-03-02 01:30:00（北京时间） 至 2026-03-03 02:00:00（北京时间），共 3 次" in text
    assert "https://shop.example/item/1?from=redirect" in text
    for ev in db[EVIDENCE].find():
        for artefact in ev["artefacts"]:
            assert artefact["sha256"] in text
            assert f"{artefact['size']} 字节" in text
    assert "截图失败：浏览器超时" in text
    assert f"tiequan evidence verify {case['_id']}" in text and "哈希值全部一致" in text
    assert "提取人（签名）" in text and "见证人（签名）" in text
    assert "当事人（拒签的注明）（签名）" in text
    # The reviewer who claimed the lead is the extractor; a damaged file is reported.
    queue.apply(case["_id"], "claim", "张三")
    warc = next(a["sha256"] for a in db[EVIDENCE].find_one({"run_id": "R2"})["artefacts"])  # type: ignore[index]
    store.path(warc).unlink()
    export_forms(
        db,
        [case["_id"]],
        tmp_path,
        store=store,
        forms=["extraction"],
        letterhead=LETTERHEAD,
        now=NOW,
    )
    text = docx_text(path)
    assert "提取人\n张三" in text and "文件缺失" in text and "其中 1 个不一致或缺失" in text


def test_unknown_lead_writes_nothing(
    case: dict[str, Any], db: Database[dict[str, Any]], store: ArtefactStore, tmp_path: Path
) -> None:
    with pytest.raises(LeadNotFound):
        export_forms(db, [case["_id"], "XS0000000000"], tmp_path / "out", store=store)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="未知文书类型：memo"):
        parse_forms("referral,memo")


def ledger_rows(path: Path) -> tuple[list[str], list[dict[str, Any]], Any]:
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["线索台账"]
    rows = list(sheet.iter_rows(values_only=True))
    headers = [str(h) for h in rows[0]]
    return headers, [dict(zip(headers, r, strict=True)) for r in rows[1:]], workbook


def test_ledger_rows_filters_and_dates(
    case: dict[str, Any], queue: LeadQueue, db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    other = datetime(2026, 3, 3, 16, 30, tzinfo=UTC)  # 2026-03-04 00:30 in Shanghai
    queue.record(
        [(listing("9", shop="无照小店", code="", name=""), finding("medical_beauty"))],
        "R3",
        now=other,
    )
    queue.apply(case["_id"], "confirm", "张三")
    queue.apply(case["_id"], "refer", "张三", reason="证据充分")
    db.leads.update_one(
        {"_id": case["_id"]},
        {
            "$set": {
                "followups": [
                    {
                        "run_id": "R4",
                        "at": datetime(2026, 3, 4, 3, 0, tzinfo=UTC),
                        "item_id": "1",
                        "platform": "demo_shop",
                        "state": "unchanged",
                    },
                    {
                        "run_id": "R5",
                        "at": datetime(2026, 3, 5, 3, 0, tzinfo=UTC),
                        "item_id": "1",
                        "platform": "demo_shop",
                        "state": "removed",
                    },
                ]
            }
        },
    )
    path = tmp_path / "all.xlsx"
    assert export_ledger(db, path, LedgerFilter(), now=NOW) == 2
    headers, rows, workbook = ledger_rows(path)
    assert headers[:4] == ["线索编号", "来源", "发现日期", "类别"] and headers[-1] == "链接"
    assert [r["线索编号"] for r in rows] == [
        case["_id"],
        make_lead_id("shop:demo_shop:/shop/无照小店", "medical_beauty"),
    ]
    lead = rows[0]
    assert lead["发现日期"] == datetime(2026, 3, 2)  # a real date, in Asia/Shanghai
    assert lead["当事人"] == COMPANY and lead["统一社会信用代码"] == f"{CODE}（校验通过）"
    assert lead["属地管辖"] == BUREAU and lead["状态"] == "已移送"
    assert lead["商品数"] == 2 and lead["证据数"] == 3
    assert lead["处置情况"] == "移送（理由：证据充分）"
    assert BUREAU in lead["移送单位"] and isinstance(lead["移送时间"], datetime)
    assert lead["下架复查"] == "已下架（2026-03-05）" and lead["是否超期"] == "否"
    assert rows[1]["属地管辖"] == "未能确定管辖" and rows[1]["统一社会信用代码"] == "未公示"
    sheet = workbook["线索台账"]
    assert sheet.freeze_panes == "B2" and sheet.auto_filter.ref == "A1:T3"
    assert sheet["A1"].font.bold and sheet.column_dimensions["E"].width == 30
    assert sheet["C2"].is_date and sheet["C2"].number_format == "yyyy-mm-dd"
    assert sheet["T2"].hyperlink.target == "https://shop.example/item/1"
    stats = [list(r) for r in workbook["统计"].iter_rows(values_only=True)]
    assert ["类别", "待研判", "已移送", "合计"] in stats
    assert ["声称减肥、壮阳等食品非法添加", 0, 1, 1] in stats
    assert ["医疗美容领域虚假宣传", 1, 0, 1] in stats
    assert [BUREAU, 0, 1, 1] in stats and ["未能确定管辖", 1, 0, 1] in stats
    # Date range (Shanghai days, inclusive), status and bureau filters.
    cases = [
        (LedgerFilter(date_from=date(2026, 3, 2), date_to=date(2026, 3, 2)), [case["_id"]]),
        (LedgerFilter(date_from=date(2026, 3, 3)), [rows[1]["线索编号"]]),
        (LedgerFilter(date_to=date(2026, 3, 1)), []),
        (LedgerFilter(status="已移送"), [case["_id"]]),
        (LedgerFilter(bureau="none"), [rows[1]["线索编号"]]),
        (LedgerFilter(bureau="dongwulan", category="medical_beauty"), []),
        (LedgerFilter(run_id="R2"), [case["_id"]]),
    ]
    for n, (ledger_filter, expected) in enumerate(cases):
        out = tmp_path / f"f{n}.xlsx"
        export_ledger(db, out, ledger_filter, now=NOW)
        assert [r["线索编号"] for r in ledger_rows(out)[1]] == expected, ledger_filter


def test_ledger_guards_against_formula_injection(tmp_path: Path) -> None:
    evil = {
        "_id": "XS0000000001",
        "party": {"name": '=HYPERLINK("http://evil.example","点我")', "credit_code": None},
        "url": "=cmd|' /C calc'!A0",
        "status": "待研判",
        "outcome": {"text": "@SUM(1+1)"},
        "decision": {"action": "-2+3"},
        "lead_unit": "+1",
        "created_at": NOW,
    }
    path = write_ledger(tmp_path / "evil.xlsx", [Case.from_doc(evil)], now=NOW)
    sheet = openpyxl.load_workbook(path)["线索台账"]
    values = {sheet.cell(1, c).value: sheet.cell(2, c) for c in range(1, sheet.max_column + 1)}
    assert values["当事人"].value == '\'=HYPERLINK("http://evil.example","点我")'
    assert values["链接"].value.startswith("'=") and values["链接"].hyperlink is None
    assert values["办结结果"].value == "'@SUM(1+1)" and values["牵头单位"].value == "'+1"
    assert all(cell.data_type == "s" for cell in values.values() if isinstance(cell.value, str))
    assert safe_text("-1") == "'-1" and safe_text("正常文本") == "正常文本"
    assert safe_text("a\x00b") == "a b"


def test_run_export_writes_top_leads_and_ledger(
    case: dict[str, Any],
    queue: LeadQueue,
    db: Database[dict[str, Any]],
    store: ArtefactStore,
    tmp_path: Path,
) -> None:
    queue.record([(listing("7"), finding("miracle_drug", 0.5))], "R2", now=NOW)
    done = export_run(db, "R2", tmp_path / "R2", store=store, top=1, now=NOW)
    assert done.forms.lead_ids == [case["_id"]] and len(done.forms.files) == 2
    assert done.ledger_rows == 2 and done.ledger.exists()
    names = sorted(p.name for p in (tmp_path / "R2").iterdir())
    assert names == sorted(
        [
            f"{case['_id']}-案件线索移送单.docx",
            f"{case['_id']}-电子数据提取笔录.docx",
            "R2-线索台账.xlsx",
        ]
    )


@pytest.fixture
def cli_env(
    case: dict[str, Any],
    db: Database[dict[str, Any]],
    mongo_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    return case


def test_cli_export_forms_and_ledger(
    cli_env: dict[str, Any],
    store: ArtefactStore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    lead_id = cli_env["_id"]
    out = tmp_path / "forms"
    argv = ["leads", "export", lead_id, "--output", str(out), "--evidence-dir", str(store.root)]
    assert main(argv) == 0
    assert f"已导出 1 条线索的 2 份文书到 {out}" in capsys.readouterr().out
    referral = out / f"{lead_id}-案件线索移送单.docx"
    assert len(docx.Document(str(referral)).inline_shapes) == 1
    assert (out / f"{lead_id}-电子数据提取笔录.docx").exists()
    ledger = tmp_path / "ledger.xlsx"
    argv = [
        "leads",
        "export",
        "--ledger",
        "--output",
        str(ledger),
        "--from",
        "2026-03-02",
        "--category",
        "slimming_aphrodisiac",
        "--bureau",
        "dongwulan",
        "--unit",
        "network_ad",
    ]
    assert main(argv) == 0
    assert "（1 条；发现日期 2026-03-02 至 不限" in capsys.readouterr().out
    assert [r["线索编号"] for r in ledger_rows(ledger)[1]] == [lead_id]
    digest = hashlib.sha256(ledger.read_bytes()).hexdigest()
    bad = [
        (["XS0000000000", "--output", str(out)], "找不到线索：XS0000000000"),
        ([lead_id, "--output", str(out), "--forms", "memo"], "未知文书类型：memo"),
        ([lead_id, "--output", str(out), "--status", "待研判"], "--status 只用于 --ledger"),
        (["--ledger", "--output", str(ledger), "--from", "2026-3-1"], "--from 2026-3-1"),
        (["--ledger", "--output", str(ledger), "--status", "搁置"], "未知状态：搁置"),
        (["--ledger", "--output", str(ledger), "--bureau", "nowhere"], "未知属地局代码：nowhere"),
        (["--ledger", "--output", str(ledger), "--unit", "财务股"], "未知单位：财务股"),
        (["--ledger", "--output", str(tmp_path / "x.csv")], "须以 .xlsx 结尾"),
        (["--output", str(out)], "请指定线索编号"),
    ]
    for args, message in bad:
        assert main(["leads", "export", *args]) == 1, args
        assert message in capsys.readouterr().err, args
    assert hashlib.sha256(ledger.read_bytes()).hexdigest() == digest  # untouched by failures
