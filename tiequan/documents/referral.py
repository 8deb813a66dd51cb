"""案件线索移送单: the referral form of one lead (case), as a Word document.

Everything comes from the lead document and its evidence sets; the screenshot is read
from the content-addressed evidence store and embedded only if it still matches its hash.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import docx
from docx.document import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Emu
from PIL import Image, UnidentifiedImageError

from tiequan.documents.common import (
    add_field_table,
    add_grid,
    add_heading,
    add_signatures,
    add_title,
    capture_time,
    characterisation,
    credit_code_text,
    doc_number,
    jurisdiction_text,
    kind_label,
    local_time,
    party_name,
    quoted,
    receivers,
    set_fonts,
    sorted_listings,
    source_name,
)
from tiequan.evidence.artefacts import EvidenceFiles
from tiequan.evidence.capture import shanghai_time
from tiequan.leads.model import Case, CaseListing, PartyDoc
from tiequan.text import NONE_MARK, clean

log = logging.getLogger(__name__)

TITLE = "案件线索移送单"
FILE_SUFFIX = "案件线索移送单.docx"


@dataclass(frozen=True)
class Letterhead:
    """Who issues the documents: the league bureau and the unit that found the leads."""

    issuer: str  # e.g. 乌兰塔拉盟市场监督管理局
    sender_unit: str  # the network-supervision unit

    @property
    def sender(self) -> str:
        return f"{self.issuer}{self.sender_unit}"


def latest_screenshot(sets: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The newest evidence set that has a screenshot, with that screenshot's artefact."""
    for ev in sorted(sets, key=lambda s: (capture_time(s), s["_id"]), reverse=True):
        for artefact in ev.get("artefacts") or []:
            if artefact.get("kind") == "screenshot" and artefact.get("sha256"):
                return ev, artefact
    return None


def _usable_size(document: DocxDocument) -> tuple[int, int]:
    section = document.sections[-1]
    width = int(section.page_width or 0) - int(section.left_margin or 0)
    height = int(section.page_height or 0) - int(section.top_margin or 0)
    width -= int(section.right_margin or 0)
    height -= int(section.bottom_margin or 0)
    return width, height


def _add_screenshot(
    document: DocxDocument, sets: list[dict[str, Any]], store: EvidenceFiles
) -> str:
    """Embed the latest full-page screenshot; returns a note for the form (or "")."""
    found = latest_screenshot(sets)
    if found is None:
        document.add_paragraph("无截图")
        return "无截图"
    ev, artefact = found
    sha = str(artefact["sha256"])
    try:
        state = store.check(sha)
    except ValueError:
        state = "changed"
    if state != "ok":
        note = f"截图文件{'缺失' if state == 'missing' else '与哈希值不符'}（sha256 {sha}），未嵌入"
        document.add_paragraph(note)
        return note
    data = store.read(sha)
    try:
        with Image.open(io.BytesIO(data)) as img:
            px_w, px_h = img.size
    except (OSError, UnidentifiedImageError) as exc:
        log.warning("screenshot %s of %s is not an image: %s", sha, ev["_id"], exc)
        document.add_paragraph("截图文件无法识别为图片，未嵌入")
        return "截图文件无法识别为图片"
    width, height = _usable_size(document)
    # Page width, unless a long page would run off the sheet: Word crops inline pictures.
    scale = min(width / px_w, height * 0.85 / px_h)
    document.add_paragraph(
        f"网页截图（证据集 {clean(ev['_id'])}，采集时间 {shanghai_time(ev.get('captured_at'))}，"
        f"SHA-256 {sha}）："
    )
    try:
        document.add_picture(
            io.BytesIO(data), width=Emu(int(px_w * scale)), height=Emu(int(px_h * scale))
        )
    except ValueError as exc:  # e.g. a PNG chunk Pillow forgives and python-docx does not
        log.warning("screenshot %s of %s cannot be embedded: %s", sha, ev["_id"], exc)
        document.add_paragraph("截图文件无法嵌入文书，请另行查看证据文件")
        return "截图文件无法嵌入文书"
    document.paragraphs[-1].alignment = WD_ALIGN_PARAGRAPH.CENTER
    return ""


def _image_text(entry: CaseListing) -> str:
    image = entry.image
    if image is None or not image.text:
        return ""
    return f"（见商品图片 {clean(image.url)}，图中文字“{clean(image.text)}”）"


def _listing_rows(case: Case) -> list[list[str]]:
    rows = []
    for n, entry in enumerate(sorted_listings(case), start=1):
        rows.append(
            [
                str(n),
                clean(entry.platform_name or entry.platform),
                clean(entry.item_id),
                clean(entry.title),
                clean(entry.final_url or entry.url),
                quoted(entry.matched) + _image_text(entry),
                str(entry.seen_count or 1),
            ]
        )
    return rows


def evidence_rows(sets: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for ev in sets:
        url = clean(ev.get("final_url") or ev.get("requested_url") or ev.get("url"))
        artefacts = ev.get("artefacts") or []
        if not artefacts:
            notes = "；".join(clean(n) for n in ev.get("notes") or []) or "无文件"
            rows.append(
                [clean(ev["_id"]), shanghai_time(ev.get("captured_at")), url, notes, "", ""]
            )
        for artefact in artefacts:
            rows.append(
                [
                    clean(ev["_id"]),
                    shanghai_time(ev.get("captured_at")),
                    url,
                    kind_label(artefact.get("kind")),
                    clean(artefact.get("name")),
                    clean(artefact.get("sha256")),
                ]
            )
    return rows


def build_referral(
    case: Case,
    sets: list[dict[str, Any]],
    store: EvidenceFiles,
    letterhead: Letterhead,
    *,
    now: datetime,
) -> DocxDocument:
    """The referral form of ``case``; ``sets`` are its evidence sets, oldest first."""
    lead_id = clean(case.id)
    document = docx.Document()
    set_fonts(document)
    add_title(document, letterhead.issuer, TITLE, doc_number(lead_id, now))
    document.add_paragraph(f"移送单位：{letterhead.sender}")
    document.add_paragraph(f"接收单位：{receivers(case)}")
    party = case.party or PartyDoc()
    first_seen = case.first_seen_at or case.created_at
    add_field_table(
        document,
        [
            ("线索编号", lead_id),
            ("线索来源", source_name(case)),
            ("当事人", party_name(case)),
            ("统一社会信用代码", credit_code_text(case)),
            ("住所", clean(party.address)),
            ("店铺", clean(party.shop_name or case.shop_name)),
            ("属地管辖", jurisdiction_text(case)),
            ("涉嫌违法类别", clean(case.category_name or case.category)),
            ("违法行为定性", characterisation(case)),
            ("违反条款", clean(case.article)),
            ("建议处置", clean(case.max_severity or case.severity)),
            ("线索状态", clean(case.status)),
            ("发现时间", local_time(first_seen)),
            ("最近发现", local_time(case.last_seen_at)),
            ("线索分值", f"{float(case.score or 0):.2f}"),
        ],
    )
    add_heading(document, "一、涉案商品/广告")
    add_grid(
        document,
        ["序号", "平台", "商品编号", "标题", "网址", "违法宣传内容（原文摘录）", "采集次数"],
        _listing_rows(case) or [["1", NONE_MARK, NONE_MARK, NONE_MARK, NONE_MARK, NONE_MARK, "0"]],
    )
    add_heading(document, "二、证据清单")
    if sets:
        add_grid(
            document,
            ["证据集", "采集时间", "网址", "文件类型", "文件名", "SHA-256"],
            evidence_rows(sets),
            hash_columns=(5,),
        )
    else:
        document.add_paragraph("尚无固定的电子证据。")
    manifest = case.manifest or {}
    if manifest.get("sha256"):
        document.add_paragraph(f"证据清单文件 SHA-256：{clean(manifest['sha256'])}")
    add_heading(document, "三、网页截图")
    _add_screenshot(document, sets, store)
    add_signatures(document, ["移送人", "审核人"])
    _add_receipt(document, lead_id, letterhead)
    return document


def _add_receipt(document: DocxDocument, lead_id: str, letterhead: Letterhead) -> None:
    document.add_page_break()
    add_heading(document, "回　执")
    document.add_paragraph(f"{letterhead.sender}：")
    document.add_paragraph(
        f"贵单位移送的案件线索（编号 {lead_id}）已于＿＿＿＿年＿＿月＿＿日收悉。"
        "经核查，处理结果如下（请在相应项打“√”）："
    )
    for choice in (
        "□ 已立案调查",
        "□ 不予立案（说明理由）",
        "□ 已提醒告诫，责令整改",
        "□ 已移送公安机关",
        "□ 转送其他单位：＿＿＿＿＿＿",
        "□ 其他",
    ):
        document.add_paragraph(choice)
    document.add_paragraph("情况说明：" + "＿" * 30)
    document.add_paragraph("＿" * 34)
    document.add_paragraph("接收单位（盖章）：＿＿＿＿＿＿＿＿＿＿")
    add_signatures(document, ["经办人"])


def write_referral(
    path: Path,
    case: Case,
    sets: list[dict[str, Any]],
    store: EvidenceFiles,
    letterhead: Letterhead,
    *,
    now: datetime,
) -> Path:
    build_referral(case, sets, store, letterhead, now=now).save(str(path))
    return path
