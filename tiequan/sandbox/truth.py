"""Ground truth of the sandbox and scoring of leads against it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from tiequan.sandbox.world import SITES, get_world

MICRO = "micro"


@dataclass(frozen=True)
class TruthItem:
    """What one sandbox item really is.

    ``categories`` is empty for benign items and hard negatives; ``variant`` names the
    evasion used ("plain", "traditional", "symbols", "pinyin", "numeric", "homophone",
    "image_only", "split", and for property ads "no_permit", "misleading_area"), or
    "none" when the item violates nothing.
    """

    site: str
    item_id: str
    path: str
    categories: list[str] = field(default_factory=list)
    variant: str = "none"
    hard_negative: bool = False
    title: str = ""
    claim: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_truth(seed: int = 20220101, scale: float = 1.0) -> list[TruthItem]:
    """Truth for every item the server with the same seed and scale serves."""
    world = get_world(seed, scale)
    out: list[TruthItem] = []
    for prefix in SITES:
        for e in world.entries[prefix]:
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
    Categories appear when they occur in the truth or in a lead.
    """
    labels: dict[tuple[str, str], set[str]] = {
        (t.site, t.item_id): set(t.categories) for t in truth
    }
    predicted: set[tuple[str, str, str]] = set()
    for site, item_id, category in leads:
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
            "tp": tp, "fp": fp, "fn": fn,
            "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
        }
        totals["tp"] += tp
        totals["fp"] += fp
        totals["fn"] += fn
    tp, fp, fn = totals["tp"], totals["fp"], totals["fn"]
    report[MICRO] = {
        "tp": tp, "fp": fp, "fn": fn,
        "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
    }
    return report


def format_score(report: dict[str, dict[str, float]]) -> str:
    """A fixed-width table (Chinese headers with English ids) for the CLI."""
    lines = [
        f"{'类别 category':<24}{'命中 tp':>9}{'误报 fp':>9}{'漏报 fn':>9}"
        f"{'精确率 P':>11}{'召回率 R':>11}",
        "-" * 73,
    ]
    for cat, row in report.items():
        if cat == MICRO:
            continue
        lines.append(_row(cat, row))
    if MICRO in report:
        lines.append("-" * 73)
        lines.append(_row("合计 micro", report[MICRO]))
    return "\n".join(lines)


def _row(name: str, row: dict[str, float]) -> str:
    return (
        f"{name:<24}{int(row['tp']):>9}{int(row['fp']):>9}{int(row['fn']):>9}"
        f"{row['precision']:>11.3f}{row['recall']:>11.3f}"
    )
