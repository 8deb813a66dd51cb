"""A lexicon change goes through the model gate: applied only if the detector with it is
not worse, on the reference set's test split, than the detector with the lexicon in force.

Both detectors share the live model; only their rules differ. The figures are computed by
the scorer the model gate reads (tiequan.models.training.evaluate) and judged by
``tiequan.models.gate.check_scores`` with the thresholds of config/models.yaml.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo.database import Database

from detectors import CORE_CATEGORIES
from detectors.combine import ListingDetector
from detectors.config import default_config_dir
from detectors.dataset import Example
from tiequan.models.evaluate import reference_set
from tiequan.models.gate import HARD_NEGATIVE, ModelsConfig, Refusal, check_scores
from tiequan.models.lexicon import (
    ACTION_NAMES,
    LexiconChange,
    LexiconError,
    LexiconStore,
    Overlay,
    TermSpec,
    check_spec,
    field_error,
    with_overlay,
)
from tiequan.models.live import live_record
from tiequan.models.metrics import Scores
from tiequan.models.registry import REFERENCE_TEST, Registry
from tiequan.models.training import evaluate
from tiequan.settings import environment
from tiequan.storage.store import utcnow


@dataclass(frozen=True)
class Judgement:
    """The gate's verdict on a change: its refusals and both detectors' scores."""

    refusals: list[Refusal]
    before: Scores
    after: Scores

    def figures(self) -> str:
        b, a = self.before, self.after
        return (
            f"参考集测试集核心类别 F1 {100 * b.prf(CORE_CATEGORIES)[2]:.1f} → "
            f"{100 * a.prf(CORE_CATEGORIES)[2]:.1f}，强干扰负例误报率 "
            f"{100 * b.fpr([HARD_NEGATIVE]):.1f}% → {100 * a.fpr([HARD_NEGATIVE]):.1f}%"
        )


class LexiconRefused(LexiconError):
    """The gate refused a change; the message names each category and both figures."""

    def __init__(self, action: str, spec: TermSpec, version: int, judgement: Judgement) -> None:
        self.judgement = judgement
        reasons = "；".join(r.message() for r in judgement.refusals)
        super().__init__(
            f"拒绝{ACTION_NAMES[action]} {spec.category} 词条“{spec.term}”：在参考集测试集上"
            f"比现行词库（版本 {version}）差：{reasons}（确需修改请加 --force 并说明理由）"
        )


def judge(
    base: ListingDetector,
    current: Overlay,
    pending: Overlay,
    examples: Sequence[Example],
    config: ModelsConfig,
) -> Judgement:
    """Score the detectors of ``current`` and ``pending`` on ``examples``; gate the change."""
    before = evaluate(with_overlay(base, current), {REFERENCE_TEST: examples})[REFERENCE_TEST]
    after = evaluate(with_overlay(base, pending), {REFERENCE_TEST: examples})[REFERENCE_TEST]
    return Judgement(check_scores(after, before, config), before, after)


def apply_change(
    store: LexiconStore,
    base: ListingDetector,
    action: str,
    spec: TermSpec,
    *,
    by: str,
    reason: str,
    config: ModelsConfig,
    examples: Sequence[Example] | None = None,
    force: bool = False,
) -> tuple[LexiconChange, Judgement]:
    """Check, gate and record ``action`` of ``spec``; ``base`` is the live model over the
    shipped lexicons, ``examples`` the gate's set (default: the reference test split)."""
    if not reason.strip():
        raise field_error("reason", reason, "每次修改词库都须说明理由")
    current = store.overlay()
    lexicons = {lex.category: lex for lex in current.lexicons(base.rules.lexicons)}
    check_spec(lexicons, action, spec)
    pending = current.changed(action, spec)
    if examples is None:
        examples = reference_set(default_config_dir()).examples
    judgement = judge(base, current, pending, examples, config)
    if judgement.refusals and not force:
        raise LexiconRefused(action, spec, current.version, judgement)
    change = LexiconChange(
        pending.version, action, spec, by, utcnow(), reason.strip(),
        judgement.figures(), forced=bool(judgement.refusals),
    )  # fmt: skip
    return store.record(change), judgement


def live_base(db: Database[dict[str, Any]], config_dir: Path | None = None) -> ListingDetector:
    """The live model over the shipped lexicons (the base every overlay is put on)."""
    registry = Registry(db, environment().model_dir)
    return registry.load_record(live_record(registry), config_dir)
