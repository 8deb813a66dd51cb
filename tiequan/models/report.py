"""The evaluation as files: ``evaluation.json`` and a self-contained ``evaluation.html``.

The HTML is rendered by Jinja2 (autoescaped) in Simplified Chinese for analysts; the plots
are matplotlib PNGs embedded as data: URIs and the style sheet is inline, so the page
fetches nothing: its Content-Security-Policy allows data: images and that one style block
(by hash), nothing else. Chinese labels use the documents' CJK font
(``tiequan.documents.charts.cjk_font``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tiequan.documents.charts import cjk_font, short
from tiequan.models.evaluate import NONE, Evaluation, ModelResult, SetResult
from tiequan.models.metrics import Counts
from tiequan.timefmt import shanghai

TEMPLATES = Path(__file__).resolve().parent / "templates"
HTML_NAME, JSON_NAME = "evaluation.html", "evaluation.json"
SET_TITLES = {
    "reference": (
        "真实世界参考集（封存的测试部分）",
        "依据公开执法案例中引用的宣传语写成的文本，以及同类商品的易混淆合规文本与合规宣传；"
        "按来源划分，从未用于训练或调参。",
    ),
    "synthetic": (
        "合成语料（测试部分）",
        "由本项目自己的语料片段组合生成：衡量模型对项目措辞的掌握程度，不代表真实商家的写法。",
    ),
    "holdout": (
        "近期研判决定（留出集）",
        "截止日期之后办案人员作出的决定：确认的线索是其类别的正例，排除的线索是反例；"
        "这些决定不参与训练。",
    ),
}
GROUP_NAMES = {
    "hard_negative": "易混淆的合规文本",
    "compliant": "合规宣传",
    "benign": "普通文本",
    "negative": "非违法文本",
    "dismissed": "研判排除的线索",
}
COLOURS = ("#8b1a1a", "#1f5f8b", "#5b8b1f", "#8b6a1f")
PANEL_COLUMNS = 4
Names = Callable[[str], str]  # a category id's Chinese name
DPI = 120  # a screen page, not a printed one


@dataclass(frozen=True)
class Image:
    title: str
    uri: str


@dataclass(frozen=True)
class SetView:
    """What the template shows of one set: its figures and plots."""

    key: str
    title: str
    description: str
    size: int
    positives: int
    note: str
    results: Mapping[str, ModelResult]
    categories: list[str]  # those with any violation or finding in the set
    curves: Image | None
    bars: Image | None
    matrices: list[Image]


def write_report(evaluation: Evaluation, out_dir: Path, names: Mapping[str, str]) -> Path:
    """Write ``evaluation.json`` and ``evaluation.html`` into ``out_dir``; the HTML's path.

    ``names``: the Chinese name of each category id.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(
        out_dir / JSON_NAME, json.dumps(evaluation.to_json(), ensure_ascii=False, indent=2)
    )
    html = out_dir / HTML_NAME
    write_atomic(html, render_html(evaluation, names))
    return html


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def render_html(evaluation: Evaluation, names: Mapping[str, str]) -> str:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), trim_blocks=True
    )
    # The template includes the style sheet as it renders here: the CSP names its hash.
    css = env.get_template("evaluation.css").render()
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode("ascii")

    def name(category: str) -> str:
        return "无（未检出/非违法）" if category == NONE else names.get(category, category)

    sets = [set_view(r, evaluation, name) for r in evaluation.sets]
    return env.get_template(HTML_NAME).render(
        style_hash=digest,
        generated=evaluation.generated_at.astimezone(shanghai()).strftime("%Y-%m-%d %H:%M"),
        since=evaluation.holdout_since.astimezone(shanghai()).strftime("%Y-%m-%d")
        if evaluation.holdout_since
        else "",
        models=evaluation.models,
        model_names=list(evaluation.models),
        sets=sets,
        core_categories=evaluation.core_categories,
        name=name,
        group_name=lambda g: GROUP_NAMES.get(g, g),
        pct=lambda x: f"{x:.1%}",
        num=lambda x: f"{x:.3f}",
    )


def set_view(result: SetResult, evaluation: Evaluation, name: Names) -> SetView:
    title, description = SET_TITLES.get(result.set.key, (result.set.key, ""))
    models = list(result.results)
    shown = [c for c in evaluation.categories if _seen(result, c)]
    curves: Image | None = None
    bars: Image | None = None
    matrices: list[Image] = []
    if result.set.examples:
        bars = Image("各类别 F1", data_uri(f1_chart(result, shown, name)))
        with_curve = [
            c for c in shown if any(r.categories[c].curve for r in result.results.values())
        ]
        if with_curve:
            png_ = pr_chart(result, with_curve, name)
            curves = Image("各类别的精确率–召回率曲线（圆点为当前阈值）", data_uri(png_))
        for model in models:
            matrix = confusion_chart(result.results[model], evaluation.confusion_labels, name)
            matrices.append(
                Image(f"混淆矩阵：{model}（行为实际类别，列为模型判定）", data_uri(matrix))
            )
    return SetView(
        result.set.key,
        title,
        description,
        len(result.set.examples),
        result.positives,
        result.set.note,
        result.results,
        shown,
        curves,
        bars,
        matrices,
    )


def _seen(result: SetResult, category: str) -> bool:
    return any(r.categories[category].counts != Counts() for r in result.results.values())


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _fonts(ax: Axes, title_size: float = 10) -> None:
    """The CJK font on every label; no mathtext, a "$" in a name is shown as written."""
    font = cjk_font()
    legend = ax.get_legend()
    entries = list(legend.get_texts()) if legend is not None else []
    labels = [
        *ax.get_xticklabels(),
        *ax.get_yticklabels(),
        ax.title,
        ax.xaxis.label,
        ax.yaxis.label,
    ]
    for text in (*labels, *entries):
        text.set_parse_math(False)
        if font is not None:
            size = text.get_fontsize()
            text.set_fontproperties(font)
            text.set_fontsize(title_size if text is ax.title else size)


def png(figure: Figure) -> bytes:
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def f1_chart(result: SetResult, categories: Sequence[str], name: Names) -> bytes:
    """Horizontal bars of F1 per category, one bar per model, the first category at the top."""
    models = list(result.results)
    per_row = 0.16 * (1 + len(models))
    figure = Figure(figsize=(6.4, max(1.8, 0.6 + per_row * len(categories))))
    ax = figure.subplots()
    height = 0.8 / max(1, len(models))
    rows = list(range(len(categories)))[::-1]
    for n, model in enumerate(models):
        f1 = [result.results[model].categories[c].counts.f1 for c in categories]
        offsets = [y + 0.4 - height * (n + 0.5) for y in rows]
        ax.barh(offsets, f1, height=height, color=COLOURS[n % len(COLOURS)], label=short(model))
    ax.set_yticks(rows, [short(name(c), 14) for c in categories])
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.spines[["top", "right"]].set_visible(False)
    if len(models) > 1:
        ax.legend(frameon=False, loc="lower right")
    _fonts(ax)
    return png(figure)


def pr_chart(result: SetResult, categories: Sequence[str], name: Names) -> bytes:
    """One panel per category: each model's curve and its current threshold as a dot."""
    rows = math.ceil(len(categories) / PANEL_COLUMNS)
    columns = min(PANEL_COLUMNS, len(categories))
    figure = Figure(figsize=(2.6 * columns, 2.4 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(categories):
            ax.set_visible(False)
            continue
        category = categories[i]
        for n, (model, res) in enumerate(result.results.items()):
            cat = res.categories[category]
            colour = COLOURS[n % len(COLOURS)]
            if cat.curve:
                ax.plot([r for _, _, r in cat.curve], [p for _, p, _ in cat.curve], color=colour,
                        label=short(model), linewidth=1.2, drawstyle="steps-post")  # fmt: skip
            if cat.counts.tp + cat.counts.fp:
                ax.plot(
                    [cat.counts.recall], [cat.counts.precision], "o", color=colour, markersize=4
                )
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_title(short(name(category), 12))
        ax.set_xlabel("召回率", fontsize=8)
        ax.set_ylabel("精确率", fontsize=8)
        ax.tick_params(labelsize=7)
        if i == 0 and len(result.results) > 1:
            ax.legend(frameon=False, fontsize=7, loc="lower left")
        _fonts(ax, 9)
    figure.tight_layout()
    return png(figure)


def confusion_chart(result: ModelResult, labels: Sequence[str], name: Names) -> bytes:
    """The confusion matrix as a heat map of counts, on the categories that occur."""
    matrix = result.confusion
    keep = [i for i in range(len(labels)) if sum(matrix[i]) or sum(row[i] for row in matrix)]
    cells = [[matrix[r][c] for c in keep] for r in keep]
    size = max(2.5, 0.45 * len(keep) + 1.5)
    figure = Figure(figsize=(size + 1, size))
    ax = figure.subplots()
    # The negatives nobody flagged outnumber every other cell: they would pale the rest.
    corner = len(cells) - 1 if keep and keep[-1] == len(labels) - 1 else -1
    peak = max((v for r, row in enumerate(cells) for c, v in enumerate(row)
                if not r == c == corner), default=0) or 1  # fmt: skip
    ax.imshow(cells, cmap="Reds", vmin=0, vmax=peak)
    for r, row in enumerate(cells):
        for c, value in enumerate(row):
            if value:
                colour = "white" if value > peak * 0.6 else "black"
                ax.text(c, r, str(value), ha="center", va="center", fontsize=7, color=colour)
    ticks = [short(name(labels[i]), 10) for i in keep]
    ax.set_xticks(range(len(keep)), ticks, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(keep)), ticks, fontsize=7)
    ax.set_xlabel("模型判定", fontsize=8)
    ax.set_ylabel("实际类别", fontsize=8)
    _fonts(ax)
    return png(figure)
