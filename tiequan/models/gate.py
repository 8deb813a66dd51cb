"""The promotion gate, and the figures `tiequan models diff` compares.

A candidate may not be worse than the live model, on the reference set's test split, by
more than ``max_f1_drop_points`` of F1 in any core category or by more than
``max_hard_negative_fpr_rise_points`` of hard-negative false-alarm rate (config/models.yaml).
Both records carry their metrics from training time, computed by the same scorer.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from detectors import CORE_CATEGORIES
from tiequan.configfile import load_checked_yaml
from tiequan.models.metrics import Scores
from tiequan.models.registry import REFERENCE_TEST, ModelRecord
from tiequan.settings import REPO_CONFIG_DIR, environment

SCHEMA_PATH = REPO_CONFIG_DIR / "schemas" / "models.schema.json"
HARD_NEGATIVE = "hard_negative"
_EPSILON = 1e-9


class ModelsConfigError(ValueError):
    """config/models.yaml is unreadable or breaks its schema."""


@dataclass(frozen=True)
class ModelsConfig:
    max_f1_drop_points: float
    max_fpr_rise_points: float
    negative_dismiss_reasons: tuple[str, ...]

    def negative_dismissal(self, reason: str | None) -> bool:
        """Whether a dismissal with ``reason`` says the text is not an offence."""
        parts = [p.strip() for p in (reason or "").split("；")]
        return any(p in self.negative_dismiss_reasons for p in parts)


def default_path() -> Path:
    own = environment().config_dir / "models.yaml"
    return own if own.is_file() else REPO_CONFIG_DIR / "models.yaml"


def load_models_config(path: Path | None = None) -> ModelsConfig:
    return _load(Path(path) if path is not None else default_path())


@lru_cache(maxsize=8)
def _load(path: Path) -> ModelsConfig:
    raw = load_checked_yaml(path, SCHEMA_PATH, ModelsConfigError)
    gate = raw["gate"]
    return ModelsConfig(
        max_f1_drop_points=float(gate["max_f1_drop_points"]),
        max_fpr_rise_points=float(gate["max_hard_negative_fpr_rise_points"]),
        negative_dismiss_reasons=tuple(r.strip() for r in raw["negative_dismiss_reasons"]),
    )


@dataclass(frozen=True)
class Refusal:
    """One way the candidate is worse than allowed: what, both figures (in points)."""

    what: str  # a core category, or "hard_negative_fpr"
    candidate: float
    live: float
    limit: float

    def message(self) -> str:
        if self.what == "hard_negative_fpr":
            return (
                f"强干扰负例（{HARD_NEGATIVE}）误报率：候选 {self.candidate:.1f}%，"
                f"在用 {self.live:.1f}%，上升 {self.candidate - self.live:.1f} 个百分点"
                f"（允许 {self.limit:g}）"
            )
        return (
            f"{self.what} 类 F1：候选 {self.candidate:.1f}，在用 {self.live:.1f}，"
            f"下降 {self.live - self.candidate:.1f} 个百分点（允许 {self.limit:g}）"
        )


def check(candidate: ModelRecord, live: ModelRecord, config: ModelsConfig) -> list[Refusal]:
    """The reasons the gate refuses ``candidate`` in place of ``live`` (empty: it passes)."""
    return check_scores(candidate.scores(REFERENCE_TEST), live.scores(REFERENCE_TEST), config)


def check_scores(new: Scores, old: Scores, config: ModelsConfig) -> list[Refusal]:
    """The gate on two sets of reference-test scores (a lexicon change is judged so too)."""
    refusals = []
    for category in CORE_CATEGORIES:
        c, o = f1_points(new, category), f1_points(old, category)
        if o - c > config.max_f1_drop_points + _EPSILON:
            refusals.append(Refusal(category, c, o, config.max_f1_drop_points))
    c, o = 100 * new.fpr([HARD_NEGATIVE]), 100 * old.fpr([HARD_NEGATIVE])
    if c - o > config.max_fpr_rise_points + _EPSILON:
        refusals.append(Refusal("hard_negative_fpr", c, o, config.max_fpr_rise_points))
    return refusals


def f1_points(scores: Scores, category: str) -> float:
    return 100 * scores.prf([category])[2]


def diff_rows(
    a: ModelRecord, b: ModelRecord, split: str = REFERENCE_TEST
) -> list[tuple[str, float, float]]:
    """(figure, a, b) in points: F1 per category of either, core micro-F1, hard-negative FPR."""
    sa, sb = a.scores(split), b.scores(split)
    categories = sorted(set(sa.counts) | set(sb.counts))
    rows = [(f"{c} F1", f1_points(sa, c), f1_points(sb, c)) for c in categories]
    rows.append(
        ("核心类别 micro-F1", 100 * sa.prf(CORE_CATEGORIES)[2], 100 * sb.prf(CORE_CATEGORIES)[2])
    )
    rows.append(
        (f"{HARD_NEGATIVE} 误报率 %", 100 * sa.fpr([HARD_NEGATIVE]), 100 * sb.fpr([HARD_NEGATIVE]))
    )
    return rows


def core_f1(scores: Scores) -> float:
    """Micro-F1 over the core categories (the workbench's models page)."""
    return scores.prf(CORE_CATEGORIES)[2]
