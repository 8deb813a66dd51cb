"""The lead lifecycle: statuses, the transitions between them, and their due dates.

Follows the seed's 受理登记 → 研判 → 分办/移送 → 核查处置 → 反馈 → 归档. The rules are code
(what makes sense is not a setting); how many days each status may last is data
(``config/lifecycle.yaml``). ``LeadQueue.apply`` performs a transition and writes its
audit record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from tiequan.configfile import load_checked_yaml
from tiequan.settings import REPO_CONFIG_DIR, environment

SCHEMA_PATH = REPO_CONFIG_DIR / "schemas" / "lifecycle.schema.json"

STATUS_PENDING = "待研判"
STATUS_REVIEWING = "研判中"
STATUS_CONFIRMED = "已确认"
STATUS_REFERRED = "已移送"
STATUS_ADMONISHED = "提醒告诫"
STATUS_POLICE = "移送公安"
STATUS_DISMISSED = "已排除"
STATUS_CLOSED = "已办结"
STATUSES = (
    STATUS_PENDING,
    STATUS_REVIEWING,
    STATUS_CONFIRMED,
    STATUS_REFERRED,
    STATUS_ADMONISHED,
    STATUS_POLICE,
    STATUS_DISMISSED,
    STATUS_CLOSED,
)
FINAL = frozenset({STATUS_DISMISSED, STATUS_CLOSED})
# Handed to another body and awaiting its report: the takedown follow-up watches these.
HANDED_OVER = (STATUS_REFERRED, STATUS_ADMONISHED, STATUS_POLICE)
_OPEN_DECISION = (STATUS_PENDING, STATUS_REVIEWING, STATUS_CONFIRMED)


@dataclass(frozen=True)
class Action:
    name: str  # the CLI verb
    label: str  # what an officer calls it
    sources: tuple[str, ...]
    target: str
    needs_reason: bool = False
    needs_outcome: bool = False


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("claim", "领取研判", (STATUS_PENDING,), STATUS_REVIEWING),
        Action("release", "退回待研判", (STATUS_REVIEWING,), STATUS_PENDING),
        Action("confirm", "确认线索", (STATUS_PENDING, STATUS_REVIEWING), STATUS_CONFIRMED),
        Action("refer", "移送", (STATUS_CONFIRMED,), STATUS_REFERRED),
        Action("admonish", "提醒告诫", _OPEN_DECISION, STATUS_ADMONISHED),
        Action("police", "移送公安", _OPEN_DECISION, STATUS_POLICE, needs_reason=True),
        Action("dismiss", "排除", _OPEN_DECISION, STATUS_DISMISSED, needs_reason=True),
        Action("close", "办结", HANDED_OVER, STATUS_CLOSED, needs_outcome=True),
        Action("reopen", "重新研判", (STATUS_DISMISSED,), STATUS_PENDING, needs_reason=True),
        # The receiving unit sends a referral back (not its jurisdiction, facts differ):
        # the reviewer refers it again or dismisses it.
        Action("return", "退回移送", HANDED_OVER, STATUS_CONFIRMED, needs_reason=True),
    )
}


class TransitionError(ValueError):
    """A lifecycle change that makes no sense; the message is for the officer (Chinese)."""


class LifecycleConfigError(ValueError):
    """config/lifecycle.yaml is missing or malformed."""


def allowed_actions(status: str) -> list[Action]:
    return [a for a in ACTIONS.values() if status in a.sources]


def check_transition(
    lead_id: str, status: str, action_name: str, reason: str | None, outcome: str | None
) -> Action:
    """The action, if it may be applied to a lead in ``status``; else TransitionError."""
    action = ACTIONS.get(action_name)
    if action is None:
        raise TransitionError(f"未知操作：{action_name}")
    if status not in action.sources:
        allowed = "、".join(a.label for a in allowed_actions(status)) or "无（已归档）"
        raise TransitionError(
            f"线索 {lead_id} 当前状态为“{status}”，不能执行“{action.label}”；"
            f"此状态下可执行：{allowed}"
        )
    if action.needs_reason and not (reason or "").strip():
        raise TransitionError(f"“{action.label}”须填写理由（--reason）")
    if action.needs_outcome and not (outcome or "").strip():
        raise TransitionError(f"“{action.label}”须填写承办单位反馈的处理结果（--outcome）")
    return action


@dataclass(frozen=True)
class Lifecycle:
    due_days: dict[str, int]

    def due_at(self, status: str, since: datetime) -> datetime | None:
        days = self.due_days.get(status)
        return None if days is None or status in FINAL else since + timedelta(days=days)


def default_path() -> Path:
    return environment().config_dir / "lifecycle.yaml"


def load_lifecycle(path: Path | None = None) -> Lifecycle:
    """Load and validate config/lifecycle.yaml; errors name the file, field and value."""
    return _load(Path(path) if path is not None else default_path())


@lru_cache(maxsize=8)
def _load(path: Path) -> Lifecycle:
    raw = load_checked_yaml(path, SCHEMA_PATH, LifecycleConfigError)
    return Lifecycle(due_days=dict(raw["due_days"]))
