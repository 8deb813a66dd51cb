"""Moving the ``live`` alias: promote through the gate, or roll back to the previous model."""

from __future__ import annotations

from dataclasses import dataclass

from tiequan.models.gate import ModelsConfig, Refusal, check
from tiequan.models.registry import LIVE, AliasChange, Registry, RegistryError


class PromotionRefused(RegistryError):
    """The gate refused the candidate; the message names each category and both figures."""

    def __init__(self, version: str, live: str, refusals: list[Refusal]) -> None:
        self.refusals = refusals
        reasons = "；".join(r.message() for r in refusals)
        super().__init__(
            f"拒绝上线 {version}：在参考集测试集上比在用模型 {live} 差：{reasons}"
            "（确需上线请加 --force --reason 说明理由）"
        )


@dataclass(frozen=True)
class Promotion:
    change: AliasChange
    refusals: list[Refusal]  # what the gate said, when it was overridden


def promote(
    registry: Registry,
    version: str,
    *,
    by: str,
    config: ModelsConfig,
    force: bool = False,
    reason: str = "",
) -> Promotion:
    """Make ``version`` live if the gate lets it (or ``force`` with a ``reason``)."""
    if force and not reason.strip():
        raise RegistryError("--force 必须同时用 --reason 说明理由")
    candidate = registry.get(version)
    live = registry.alias(LIVE)
    if live == version:
        raise RegistryError(f"{version} 已经是在用模型")
    refusals = [] if live is None else check(candidate, registry.get(live), config)
    if refusals and not force:
        raise PromotionRefused(version, str(live), refusals)
    why = reason.strip() or ("首个在用模型" if live is None else "通过上线门槛")
    change = registry.set_alias(
        LIVE, version, by=by, reason=why, forced=bool(refusals), expect=live
    )
    return Promotion(change, refusals)


def rollback(registry: Registry, *, by: str, reason: str = "") -> AliasChange:
    """Make the model that was live before the current one live again."""
    history = registry.history(LIVE)
    if not history or history[0].previous is None:
        raise RegistryError("没有可以回退到的上一个在用模型")
    current = history[0]
    why = reason.strip() or f"回退 {current.version}"
    return registry.set_alias(
        LIVE, str(current.previous), by=by, reason=why, expect=current.version
    )
