"""Charts for the documents, drawn by matplotlib (Agg, no pyplot) as PNG bytes.

Chinese labels need a CJK font: the files ``make system-deps`` installs (WenQuanYi Micro
Hei, or Noto Sans CJK), else a CJK family matplotlib knows, else its default font; then
the labels show as boxes, and the report says the same figures in its tables.
Every text gets the font through ``FontProperties`` (rcParams are process-wide and the
workbench draws from several threads).
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

log = logging.getLogger(__name__)

CJK_FONT_FILES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)
CJK_FAMILIES = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "SimHei")
LABEL_CHARS = 18  # longer names (parties, units) are cut in charts; the tables hold them whole
DPI = 150
WIDTH = 6.4  # inches: the text width of an A4 page with Word's default margins
COLOUR = "#8b1a1a"


@lru_cache(maxsize=1)
def cjk_font() -> FontProperties | None:
    """The CJK font for chart labels, or None if this machine has none."""
    for path in CJK_FONT_FILES:
        if path.is_file():
            return FontProperties(fname=str(path))
    for family in CJK_FAMILIES:
        try:
            found = font_manager.findfont(FontProperties(family=family), fallback_to_default=False)
        except ValueError:
            continue
        return FontProperties(fname=found)
    log.warning("没有找到中文字体（如 fonts-wqy-microhei），报告图表中的中文将无法显示")
    return None


def short(label: str, limit: int = LABEL_CHARS) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _texts(ax: Axes, font: FontProperties | None) -> None:
    """The CJK font on every label, and no mathtext: a crawled "$…$" is shown as written."""
    legend = ax.get_legend()
    labels = [*ax.get_xticklabels(), *ax.get_yticklabels(), ax.title]
    entries = list(legend.get_texts()) if legend is not None else []
    for text in (*labels, *entries):
        text.set_parse_math(False)
        if font is not None:
            size = 8 if text in entries else 11 if text is ax.title else None
            text.set_fontproperties(font)
            if size:
                text.set_fontsize(size)


def _png(figure: Figure) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        if cjk_font() is None:  # the default font lacks the glyphs: boxes, not an error
            warnings.filterwarnings(
                "ignore", message="Glyph .* missing from font", category=UserWarning
            )
        figure.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def bar_chart(title: str, labels: Sequence[str], values: Sequence[int]) -> bytes:
    """Horizontal bars, the largest at the top."""
    font = cjk_font()
    figure = Figure(figsize=(WIDTH, max(1.6, 0.6 + 0.32 * len(labels))))
    ax = figure.subplots()
    positions = list(range(len(labels)))[::-1]
    ax.barh(positions, list(values), color=COLOUR)
    ax.set_yticks(positions, [short(label) for label in labels])
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for y, value in zip(positions, values, strict=True):
        ax.annotate(str(value), (value, y), xytext=(3, 0), textcoords="offset points", va="center")
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    _texts(ax, font)
    return _png(figure)


def day_chart(
    title: str, days: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]
) -> bytes:
    """One line per series over the days (MM-DD on the axis), the total first."""
    font = cjk_font()
    figure = Figure(figsize=(WIDTH, 2.8))
    ax = figure.subplots()
    marker = "o" if len(days) <= 31 else None
    for n, (label, values) in enumerate(series):
        total = n == 0 and len(series) > 1  # the total, dashed
        ax.plot(
            range(len(days)),
            list(values),
            marker=marker,
            markersize=3,
            label=short(label),
            color="#333333" if total else None,
            linestyle="--" if total else "-",
        )
    step = max(1, len(days) // 10)
    ticks = list(range(0, len(days), step))
    ax.set_xticks(ticks, [days[i][5:] for i in ticks])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    if len(series) > 1:
        ax.legend(frameon=False)
    _texts(ax, font)
    return _png(figure)
