"""What `tiequan models` does (tiequan.cli.models_cmd registers the sub-commands)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from detectors import CORE_CATEGORIES
from tiequan.cli.exit_codes import EXIT_REJECTED, EXIT_USAGE
from tiequan.cli.leads_cmd import fail
from tiequan.models.gate import HARD_NEGATIVE, ModelsConfigError, diff_rows, load_models_config
from tiequan.models.promotion import PromotionRefused, promote, rollback
from tiequan.models.registry import (
    ALIASES,
    LIVE,
    REFERENCE_TEST,
    ModelRecord,
    Registry,
    RegistryError,
)
from tiequan.settings import environment
from tiequan.storage.connect import open_database
from tiequan.timefmt import local_time
from tiequan.web.accounts import ROLE_ADMIN, ROLE_ANALYST, ROLES, Accounts

PROMOTERS = (ROLE_ANALYST, ROLE_ADMIN)


Action = Callable[[Registry, Accounts, argparse.Namespace], int]


def run(args: argparse.Namespace) -> int:
    action: Action = ACTIONS[args.action]
    with open_database() as db:
        try:
            return action(Registry(db, environment().model_dir), Accounts(db), args)
        except PromotionRefused as exc:
            return fail(f"tiequan models: {exc}", EXIT_REJECTED)
        except ModelsConfigError as exc:
            return fail(f"tiequan models: 配置有误：{exc}", EXIT_USAGE)
        except RegistryError as exc:
            return fail(f"tiequan models: {exc}", EXIT_USAGE)


def resolve(registry: Registry, name: str) -> ModelRecord:
    """A record by version, or by alias."""
    if name in ALIASES:
        version = registry.alias(name)
        if version is None:
            raise RegistryError(
                f"还没有 {name} 模型（tiequan train 训练，tiequan models promote 上线）"
            )
        return registry.get(version)
    return registry.get(name)


def authorise(accounts: Accounts, username: str) -> None:
    user = accounts.get(username)
    if user is None:
        raise RegistryError(f"账号“{username}”不存在或已停用")
    if user.role not in PROMOTERS:
        allowed = "、".join(ROLES[r] for r in PROMOTERS)
        raise RegistryError(f"只有{allowed}可以上线或回退模型（{username} 是{user.role_label}）")


def summary(record: ModelRecord) -> list[str]:
    """The lines that describe a record: data, code, size, reference-test figures."""
    lines = [
        f"版本 {record.version}（{local_time(record.trained_at)} 由 {record.trained_by} 训练）",
        f"  训练数据 {len(record.manifest)} 条，"
        f"数据哈希 {record.data_hash[:16]}…，种子 {record.seed}",
        *(f"    {source}: {count}" for source, count in record.sources.items()),
        f"  代码 {record.code_version}；"
        + "，".join(f"{k} {v}" for k, v in sorted(record.libraries.items())),
        f"  训练耗时 {record.train_seconds:.1f} 秒，模型文件 {record.size_bytes / 1e6:.1f} MB",
    ]
    if REFERENCE_TEST in record.metrics:
        scores = record.scores(REFERENCE_TEST)
        lines.append(
            f"  参考集测试集：核心类别 F1 {scores.prf(CORE_CATEGORIES)[2]:.3f}，"
            f"强干扰负例误报率 {scores.fpr([HARD_NEGATIVE]):.1%}"
        )
    return lines


def _list(registry: Registry, _accounts: Accounts, _args: argparse.Namespace) -> int:
    records = registry.all()
    if not records:
        print("还没有登记的模型：请运行 tiequan train")
        return 0
    current = {name: registry.alias(name) for name in ALIASES}
    print(f"{'版本':<20}{'别名':<11}{'训练时间':<18}{'训练人':<12}{'核心F1':>8}{'强负例误报':>10}")
    for r in records:
        scores = r.scores(REFERENCE_TEST) if REFERENCE_TEST in r.metrics else None
        f1 = f"{scores.prf(CORE_CATEGORIES)[2]:.3f}" if scores else "—"
        fpr = f"{scores.fpr([HARD_NEGATIVE]):.1%}" if scores else "—"
        alias = ",".join(n for n, v in current.items() if v == r.version)
        print(
            f"{r.version:<20}{alias:<11}{local_time(r.trained_at):<18}{r.trained_by:<12}{f1:>8}{fpr:>10}"
        )
    return 0


def _show(registry: Registry, _accounts: Accounts, args: argparse.Namespace) -> int:
    record = resolve(registry, args.version)
    print("\n".join(summary(record)))
    print("在用历史（最新在前）：")
    for change in registry.history(LIVE):
        forced = "，强制上线" if change.forced else ""
        print(f"  {local_time(change.at)} {change.version} ← {change.previous or '—'}"
              f"（{change.by}：{change.reason}{forced}）")  # fmt: skip
    return 0


def _promote(registry: Registry, accounts: Accounts, args: argparse.Namespace) -> int:
    authorise(accounts, args.by)
    record = resolve(registry, args.version)
    done = promote(
        registry, record.version, by=args.by, config=load_models_config(),
        force=args.force, reason=args.reason,
    )  # fmt: skip
    change = done.change
    refusals = [r.message() for r in done.refusals]
    detail = {"version": change.version, "previous": change.previous, "reason": change.reason,
              "forced": change.forced, "refusals": refusals}  # fmt: skip
    accounts.audit("model_promote", args.by, by=args.by, detail=detail)
    if refusals:
        print(f"已强制上线 {change.version}（门槛未通过：{'；'.join(refusals)}）")
    else:
        print(f"已上线 {change.version}（此前在用：{change.previous or '无'}）")
    return 0


def _rollback(registry: Registry, accounts: Accounts, args: argparse.Namespace) -> int:
    authorise(accounts, args.by)
    change = rollback(registry, by=args.by, reason=args.reason)
    detail = {"version": change.version, "previous": change.previous, "reason": change.reason}
    accounts.audit("model_rollback", args.by, by=args.by, detail=detail)
    print(f"已回退：在用模型恢复为 {change.version}（撤下 {change.previous}）")
    return 0


def _diff(registry: Registry, _accounts: Accounts, args: argparse.Namespace) -> int:
    a, b = resolve(registry, args.a), resolve(registry, args.b)
    print(f"参考集测试集，单位：百分点；{a.version} → {b.version}")
    for name, x, y in diff_rows(a, b):
        print(f"  {name:<32}{x:>7.1f} → {y:>6.1f}  ({y - x:+.1f})")
    return 0


ACTIONS: dict[str, Action] = {
    "list": _list,
    "show": _show,
    "promote": _promote,
    "rollback": _rollback,
    "diff": _diff,
}
