"""Findings as Chinese text an officer can read (``tiequan detect --explain``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from detectors.base import Finding
from detectors.matcher import merge_spans

OPEN, CLOSE = "【", "】"
KIND_NAMES = {"claim": "违法宣传", "price_fraud": "价格欺诈"}


def mark_spans(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with every span wrapped in 【】 (overlapping spans merged)."""
    out: list[str] = []
    pos = 0
    for start, end in merge_spans(spans):
        out.append(text[pos:start])
        out.append(f"{OPEN}{text[start:end]}{CLOSE}")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def format_finding(
    number: int, finding: Finding, text: str, names: Mapping[str, str] | None = None
) -> list[str]:
    """The lines describing one finding, indented under its record."""
    name = (names or {}).get(finding.category, finding.category)
    lines = [
        f"  {number}. {name}（{finding.category}）  {KIND_NAMES.get(finding.kind, finding.kind)}"
        f"  得分 {finding.score:.2f}  处置建议：{finding.severity}",
        f"     违反条款：{finding.article}",
        f"     说明：{finding.explanation}",
    ]
    if finding.spans:
        lines.append(f"     原文：{mark_spans(text, finding.spans)}")
    if finding.image_url is not None:
        lines.append(f"     图片：{finding.image_url}（识别文字：{finding.image_text or ''}）")
    return lines


def format_record(
    record_id: str | int,
    text: str,
    findings: Sequence[Finding],
    names: Mapping[str, str] | None = None,
) -> str:
    """One input record and its findings, as a block of Chinese lines."""
    if not findings:
        return f"【{record_id}】未发现违法线索"
    lines = [f"【{record_id}】发现 {len(findings)} 项违法线索"]
    for number, finding in enumerate(findings, start=1):
        lines.extend(format_finding(number, finding, text, names))
    return "\n".join(lines)
