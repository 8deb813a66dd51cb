"""网络交易监测报告: the monitoring report of a period, as a Word document.

Made from the dashboard's figures (tiequan.leads.stats): the sweeps, the leads found by
category and severity, the categories and parties with most leads, what was done with
them, the overdue leads, and charts (tiequan.documents.charts). Written by
``tiequan report monitoring`` and downloaded from the workbench's dashboard.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import docx
from docx.document import Document as DocxDocument
from docx.shared import Inches

from tiequan.documents.charts import WIDTH, bar_chart, day_chart
from tiequan.documents.common import add_field_table, add_grid, add_heading, add_title, set_fonts
from tiequan.documents.export import default_letterhead
from tiequan.documents.referral import Letterhead
from tiequan.leads.stats import Count, Dashboard, Period
from tiequan.text import NONE_MARK, clean
from tiequan.timefmt import local_time

TITLE = "网络交易监测报告"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TOP_CATEGORIES = 5
TOP_PARTIES = 10


def report_filename(period: Period) -> str:
    return f"{TITLE}_{period.start.isoformat()}_{period.end.isoformat()}.docx"


def _share(count: int, total: int) -> str:
    return f"{count / total * 100:.1f}%" if total else NONE_MARK


def _percent(value: float | None) -> str:
    return NONE_MARK if value is None else f"{value * 100:.1f}%"


def _count_rows(rows: Sequence[Count], total: int) -> list[list[str]]:
    return [[clean(c.label), str(c.count), _share(c.count, total)] for c in rows]


def _picture(document: DocxDocument, png: bytes) -> None:
    document.add_picture(io.BytesIO(png), width=Inches(WIDTH))


def _summary(document: DocxDocument, d: Dashboard) -> None:
    add_heading(document, "一、总体情况")
    s = d.sweeps
    top = d.by_category[0] if d.by_category else None
    document.add_paragraph(
        f"本期共开展网络巡查 {s.runs} 次，抓取页面 {s.pages} 个、商品信息 {s.items} 条，"
        f"发现违法线索 {d.leads} 条"
        + (f"，其中{clean(top.label)} {top.count} 条，居各类别之首" if top else "")
        + f"；研判线索 {d.decided} 条，确认类 {d.confirmed} 条，准确率 {_percent(d.precision)}；"
        f"截至报告生成时有超期线索 {d.overdue} 条。"
    )
    add_field_table(
        document,
        [
            ("巡查次数", str(s.runs)),
            ("抓取页面", str(s.pages)),
            ("抓取商品信息", str(s.items)),
            ("检测命中", str(s.findings)),
            ("巡查错误", str(s.errors)),
            ("发现线索", str(d.leads)),
            ("研判线索", str(d.decided)),
            ("确认类线索", str(d.confirmed)),
            ("准确率", _percent(d.precision)),
            ("超期线索", str(d.overdue)),
        ],
    )


def _leads(document: DocxDocument, d: Dashboard) -> None:
    add_heading(document, "二、线索分布")
    document.add_paragraph("（一）按类别")
    if d.by_category:
        add_grid(document, ("类别", "线索数", "占比"), _count_rows(d.by_category, d.leads))
        labels = [clean(c.label) for c in d.by_category[:12]]
        _picture(document, bar_chart("各类别线索数", labels, [c.count for c in d.by_category[:12]]))
    else:
        document.add_paragraph("本期未发现线索。")
    document.add_paragraph("（二）按建议处置等级")
    if d.by_severity:
        add_grid(document, ("建议处置", "线索数", "占比"), _count_rows(d.by_severity, d.leads))
    else:
        document.add_paragraph("本期未发现线索。")
    document.add_paragraph("（三）按属地")
    if d.by_bureau:
        add_grid(document, ("属地市场监管局", "线索数", "占比"), _count_rows(d.by_bureau, d.leads))
    else:
        document.add_paragraph("本期未发现线索。")
    if d.leads:
        series = [("合计", d.by_day), *((clean(s.label), s.per_day) for s in d.category_days[:4])]
        _picture(document, day_chart("每日新增线索", d.days, series))


def _top(document: DocxDocument, d: Dashboard) -> None:
    add_heading(document, "三、重点类别和当事人")
    if not d.leads:
        document.add_paragraph("本期未发现线索。")
        return
    document.add_paragraph(f"线索最多的 {min(TOP_CATEGORIES, len(d.by_category))} 个类别：")
    rows = _count_rows(d.by_category[:TOP_CATEGORIES], d.leads)
    add_grid(
        document, ("序号", "类别", "线索数", "占比"), [[str(i), *r] for i, r in enumerate(rows, 1)]
    )
    parties = d.top_parties[:TOP_PARTIES]
    document.add_paragraph(f"线索最多的 {len(parties)} 个当事人：")
    add_grid(
        document,
        ("序号", "当事人", "线索数"),
        [[str(i), clean(p.label), str(p.count)] for i, p in enumerate(parties, 1)],
    )
    labels = [clean(p.label) for p in parties]
    _picture(document, bar_chart("线索最多的当事人", labels, [p.count for p in parties]))


def _actions(document: DocxDocument, d: Dashboard) -> None:
    add_heading(document, "四、处置情况")
    document.add_paragraph(
        "本期各项处理记录（一条线索可有多条记录，如先确认后移送）："
        + "，".join(f"{a.label} {a.count} 次" for a in d.actions)
        + "。"
    )
    add_grid(document, ("处理", "次数"), [[a.label, str(a.count)] for a in d.actions])
    if d.decisions:
        document.add_paragraph(
            "各类别研判结果（每条线索按本期最后一次处理计；确认类含已确认、已移送、"
            "提醒告诫、移送公安、已办结）："
        )
        add_grid(
            document,
            ("类别", "研判线索", "确认类", "排除", "准确率"),
            [
                [
                    clean(r.label),
                    str(r.decided),
                    str(r.confirmed),
                    str(r.dismissed),
                    _percent(r.precision),
                ]
                for r in d.decisions
            ],
        )


def _overdue(document: DocxDocument, d: Dashboard) -> None:
    add_heading(document, "五、超期线索")
    document.add_paragraph(
        f"截至 {local_time(d.generated_at)}，超过办理时限仍未办结的线索 {d.overdue} 条"
        + (
            "。"
            if d.overdue <= len(d.overdue_leads)
            else f"，以下列出最早到期的 {len(d.overdue_leads)} 条。"
        )
    )
    if d.overdue_leads:
        add_grid(
            document,
            ("线索编号", "类别", "当事人", "状态", "办理时限"),
            [
                [
                    clean(o.lead_id),
                    clean(o.category),
                    clean(o.party),
                    clean(o.status),
                    local_time(o.due_at),
                ]
                for o in d.overdue_leads
            ],
        )


def _runs(document: DocxDocument, d: Dashboard) -> None:
    add_heading(document, "六、巡查运行情况")
    if not d.runs:
        document.add_paragraph("本期没有巡查运行记录。")
        return
    document.add_paragraph(f"最近 {len(d.runs)} 次巡查：")
    add_grid(
        document,
        ("批次", "开始时间", "页面", "商品", "新增线索", "错误", "用时（秒）"),
        [
            [
                clean(r.run_id),
                local_time(r.started_at),
                str(r.pages),
                str(r.items),
                str(r.leads_new),
                str(r.errors),
                f"{r.duration_s:.1f}",
            ]
            for r in d.runs
        ],
    )


def build_monitoring_document(d: Dashboard, letterhead: Letterhead | None = None) -> DocxDocument:
    letterhead = letterhead or default_letterhead()
    document = docx.Document()
    set_fonts(document)
    add_title(document, letterhead.issuer, TITLE, None)
    document.add_paragraph(f"监测期间：{d.period.label()}")
    document.add_paragraph(f"编制单位：{letterhead.sender}")
    document.add_paragraph(f"生成时间：{local_time(d.generated_at)}")
    for part in (_summary, _leads, _top, _actions, _overdue, _runs):
        part(document, d)
    return document


def build_monitoring_report(d: Dashboard, letterhead: Letterhead | None = None) -> bytes:
    """The report as DOCX bytes."""
    buf = io.BytesIO()
    build_monitoring_document(d, letterhead).save(buf)
    return buf.getvalue()


def write_monitoring_report(path: Path, d: Dashboard, letterhead: Letterhead | None = None) -> Path:
    path.write_bytes(build_monitoring_report(d, letterhead))
    return path
