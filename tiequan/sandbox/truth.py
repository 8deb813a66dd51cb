"""Ground truth of the sandbox and scoring of leads against it."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tiequan.sandbox.world import SITES, get_world

# Where a made-up original price belongs (明码标价 and fees work): the oracle states it itself,
# so that it shares no code with the detectors it scores (tests check the two agree).
PRICE_FRAUD_CATEGORY = "illegal_fees"

MICRO = "micro"


@dataclass(frozen=True)
class TruthItem:
    """What one sandbox item really is.

    ``categories`` is empty for benign items and hard negatives; ``variant`` names the
    evasion used ("plain", "traditional", "symbols", "pinyin", "numeric", "homophone",
    "image_only", "split", and for property ads "no_permit", "misleading_area"), or
    "none" when the item violates nothing. ``price_fraud`` marks a price-watch listing
    whose crossed-out price, shown from night 1 on, was never charged: a sweep of night 1
    or later that follows a sweep of night 0 should raise a price-fraud lead on it.
    """

    site: str
    item_id: str
    path: str
    categories: list[str] = field(default_factory=list)
    variant: str = "none"
    hard_negative: bool = False
    title: str = ""
    claim: str = ""
    price_fraud: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_truth(seed: int = 20220101, scale: float = 1.0) -> list[TruthItem]:
    """Truth for every item the server with the same seed and scale serves."""
    world = get_world(seed, scale)
    out: list[TruthItem] = []
    for prefix in SITES:
        extra = world.price_watch + world.hostile if prefix == "mall" else []
        entries = world.entries[prefix] + extra
        for e in entries:
            out.append(
                TruthItem(
                    site=e.site,
                    item_id=e.item_id,
                    path=e.path,
                    categories=list(e.categories),
                    variant=e.variant,
                    hard_negative=e.hard_negative,
                    title=e.title,
                    claim=e.claim,
                    price_fraud=e.price_fraud,
                )
            )
    return out


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def score_leads(
    leads: Iterable[tuple[str, str, str]], truth: Iterable[TruthItem]
) -> dict[str, dict[str, float]]:
    """Per-category and micro tp/fp/fn/precision/recall of (site, item_id, category) leads.

    Leads on items that are not in ``truth`` are ignored; a repeated lead counts once.
    Categories appear when they occur in the truth or in a lead. A price-fraud lead (it
    carries the price unit's category) on a ``price_fraud`` item is right but not due
    after a single night, so it counts neither way.
    """
    truth = list(truth)
    labels: dict[tuple[str, str], set[str]] = {
        (t.site, t.item_id): set(t.categories) for t in truth
    }
    price_fraud = {(t.site, t.item_id) for t in truth if t.price_fraud}
    predicted: set[tuple[str, str, str]] = set()
    for site, item_id, category in leads:
        if (site, item_id) in price_fraud and category == PRICE_FRAUD_CATEGORY:
            continue
        if (site, item_id) in labels:
            predicted.add((site, item_id, category))
    expected = {(s, i, c) for (s, i), cats in labels.items() for c in cats}
    categories = sorted({c for _s, _i, c in expected | predicted})
    report: dict[str, dict[str, float]] = {}
    totals = {"tp": 0, "fp": 0, "fn": 0}
    for cat in categories:
        exp = {x for x in expected if x[2] == cat}
        pred = {x for x in predicted if x[2] == cat}
        tp, fp, fn = len(exp & pred), len(pred - exp), len(exp - pred)
        report[cat] = {
            "tp": tp,
            "fp": fp,
            "fn": fn,
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
        }
        totals["tp"] += tp
        totals["fp"] += fp
        totals["fn"] += fn
    tp, fp, fn = totals["tp"], totals["fp"], totals["fn"]
    report[MICRO] = {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
    }
    return report


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _cell(text: str, width: int, left: bool = False) -> str:
    pad = " " * max(0, width - _width(text))
    return text + pad if left else pad + text


_COLUMNS = (
    ("类别 category", 24),
    ("命中 tp", 9),
    ("误报 fp", 9),
    ("漏报 fn", 9),
    ("精确率 P", 11),
    ("召回率 R", 11),
)


def format_score(
    report: dict[str, dict[str, float]], names: Mapping[str, str] | None = None
) -> str:
    """A fixed-width table (Chinese headers, English ids) for the CLI.

    ``names`` maps category ids to Chinese names, shown (shortened) after each row.
    """
    rule = "-" * (sum(w for _n, w in _COLUMNS) + (24 if names else 0))
    header = "".join(_cell(n, w, left=(i == 0)) for i, (n, w) in enumerate(_COLUMNS))
    lines = [header + ("  整治重点" if names else ""), rule]
    for cat, row in report.items():
        if cat == MICRO:
            continue
        name = (names or {}).get(cat, "")
        short = name if len(name) <= 10 else name[:10] + "…"
        lines.append(_row(cat, row) + (f"  {short}" if short else ""))
    if MICRO in report:
        lines += [rule, _row("合计 micro", report[MICRO])]
    return "\n".join(lines)


def _row(name: str, row: dict[str, float]) -> str:
    values = (
        str(int(row["tp"])),
        str(int(row["fp"])),
        str(int(row["fn"])),
        f"{row['precision']:.3f}",
        f"{row['recall']:.3f}",
    )
    cells = [_cell(name, _COLUMNS[0][1], left=True)]
    cells += [_cell(v, w) for v, (_n, w) in zip(values, _COLUMNS[1:], strict=True)]
    return "".join(cells)
