"""电子数据提取笔录: the record of how a lead's electronic data was extracted and fixed.

Follows what the 2024 SAMR rules on electronic-data evidence ask of a record: when, where,
by whom and how the data was extracted, from what, the files with their hash values, and
how their integrity can be checked. Each file is re-hashed while the record is written,
so the record states what was true at that moment.
"""

from __future__ import annotations

import platform
from datetime import datetime
from pathlib import Path
from typing import Any

import docx
from docx.document import Document as DocxDocument

from tiequan.documents.common import (
    add_field_table,
    add_grid,
    add_heading,
    add_signatures,
    add_title,
    capture_time,
    human_size,
    kind_label,
    local_time,
    party_name,
    set_fonts,
)
from tiequan.documents.referral import Letterhead
from tiequan.evidence.artefacts import EvidenceFiles
from tiequan.evidence.capture import shanghai_time
from tiequan.leads.model import Case, PartyDoc
from tiequan.text import clean

TITLE = "电子数据提取笔录"
FILE_SUFFIX = "电子数据提取笔录.docx"
AUTOMATIC = "系统自动提取"
PURPOSES = {"detection": "检测固证", "followup": "下架复查"}
CHECK_LABELS = {"ok": "一致", "changed": "不一致（文件已被改动）", "missing": "文件缺失"}
METHOD = (
    "由铁拳网络监测系统的网络爬虫按预设巡查任务访问涉案网页；对需要脚本渲染的页面，"
    "以浏览器加载后截取整页截图（full-page screenshot）；将请求与响应的完整网络交互"
    "（含请求头、响应头及响应正文）按 WARC 国际标准格式（ISO 28500）存档，"
    "一并保存网页源码及载有违法宣传内容的商品图片；对每个文件计算 SHA-256 哈希值并记入"
    "证据数据库；文件按哈希值存入只读的内容寻址目录（文件名即其哈希值，写入后不再覆盖、不可修改）。"
    "采集时间以服务器协调世界时（UTC）记录，本笔录按北京时间显示。"
)


def extractor(case: Case) -> str:
    """提取人: whoever decided or claimed the lead, else the system itself."""
    decided_by = case.decision.by if case.decision is not None else None
    return clean(decided_by) or clean(case.claimed_by) or AUTOMATIC


def extraction_place(store: EvidenceFiles) -> str:
    host = clean(platform.node()) or "本机"
    return f"铁拳网络监测系统（服务器 {host}，证据存储位置 {store.describe()}）"


def _period(sets: list[dict[str, Any]]) -> str:
    if not sets:
        return "尚无提取记录"
    times = sorted(capture_time(ev) for ev in sets)
    first, last = shanghai_time(times[0]), shanghai_time(times[-1])
    if first == last:
        return first
    return f"{first} 至 {last}，共 {len(sets)} 次"


def _targets(case: Case, sets: list[dict[str, Any]]) -> str:
    urls: list[str] = []
    for ev in sets:
        for key in ("requested_url", "final_url"):
            url = clean(ev.get(key))
            if url and url not in urls:
                urls.append(url)
    if not urls:
        urls = [clean(e.url) for e in case.listings or () if clean(e.url)]
    return "\n".join(urls) or "—"


def _holder(case: Case) -> str:
    party = case.party or PartyDoc()
    shop = clean(party.shop_name or case.shop_name)
    where = clean(case.platform_name or party.platform or case.platform)
    parts = [party_name(case)]
    if shop:
        parts.append(f"店铺“{shop}”")
    if where:
        parts.append(f"平台 {where}")
    return "，".join(parts)


def _add_set(document: DocxDocument, n: int, ev: dict[str, Any], store: EvidenceFiles) -> int:
    """One evidence set: its capture details and files; returns how many files failed."""
    purpose = PURPOSES.get(str(ev.get("purpose")), clean(ev.get("purpose")) or "检测固证")
    add_heading(document, f"（{n}）证据集 {clean(ev['_id'])}（{purpose}）")
    document.add_paragraph(
        f"提取时间：{shanghai_time(ev.get('captured_at'))}；"
        f"商品：{clean(ev.get('platform'))} {clean(ev.get('item_id'))}；"
        f"HTTP 状态：{clean(ev.get('status')) or '—'}"
    )
    document.add_paragraph(f"请求网址：{clean(ev.get('requested_url')) or '—'}")
    document.add_paragraph(f"最终网址：{clean(ev.get('final_url')) or '—'}")
    rows, failed = [], 0
    for artefact in ev.get("artefacts") or []:
        sha = str(artefact.get("sha256") or "")
        try:
            state = store.check(sha)
        except ValueError:
            state = "changed"
        failed += state != "ok"
        rows.append(
            [
                clean(artefact.get("name")),
                kind_label(artefact.get("kind")),
                human_size(artefact.get("size")),
                clean(sha),
                CHECK_LABELS.get(state, state),
            ]
        )
    if rows:
        add_grid(
            document, ["文件名", "类型", "大小", "SHA-256", "导出时校验"], rows, hash_columns=(3,)
        )
    else:
        document.add_paragraph("本次未保存文件。")
    for note in ev.get("notes") or []:
        document.add_paragraph(f"说明：{clean(note)}")
    return failed


def build_extraction(
    case: Case,
    sets: list[dict[str, Any]],
    store: EvidenceFiles,
    letterhead: Letterhead,
    *,
    now: datetime,
) -> DocxDocument:
    """The extraction record of ``case``; ``sets`` are its evidence sets, oldest first."""
    lead_id = clean(case.id)
    document = docx.Document()
    set_fonts(document)
    add_title(document, letterhead.issuer, TITLE, None)
    cause = clean(case.category_name or case.category)
    add_field_table(
        document,
        [
            ("线索编号", lead_id),
            ("案由", f"{party_name(case)}涉嫌{cause}"),
            ("提取时间", _period(sets)),
            ("提取地点", extraction_place(store)),
            ("提取人", extractor(case)),
            ("电子数据持有人", _holder(case)),
            ("提取对象", _targets(case, sets)),
            ("提取方法", METHOD),
        ],
    )
    add_heading(document, "提取的电子数据")
    failed = sum(_add_set(document, n, ev, store) for n, ev in enumerate(sets, start=1))
    if not sets:
        document.add_paragraph("尚无固定的电子证据。")
    add_heading(document, "完整性校验")
    files = sum(len(ev.get("artefacts") or []) for ev in sets)
    checked = (
        f"本笔录生成时（北京时间 {local_time(now, '%Y-%m-%d %H:%M:%S')}）核验 {files} 个文件，"
    )
    result = f"其中 {failed} 个不一致或缺失。" if failed else "哈希值全部一致。"
    document.add_paragraph(checked + result)
    document.add_paragraph(
        "核验方法：在铁拳系统中执行命令 "
        f"“tiequan evidence verify {lead_id}”，系统将重新计算上述每个文件的 SHA-256 "
        "哈希值并与本笔录及证据数据库中的记录比对，逐一报告被改动或缺失的文件；"
        "也可将文件复制后用任一 SHA-256 工具自行计算比对。"
    )
    manifest = case.manifest or {}
    if manifest.get("sha256"):
        document.add_paragraph(f"证据清单文件 SHA-256：{clean(manifest['sha256'])}")
    add_signatures(document, ["提取人", "见证人", "当事人（拒签的注明）"])
    return document


def write_extraction(
    path: Path,
    case: Case,
    sets: list[dict[str, Any]],
    store: EvidenceFiles,
    letterhead: Letterhead,
    *,
    now: datetime,
) -> Path:
    build_extraction(case, sets, store, letterhead, now=now).save(str(path))
    return path
