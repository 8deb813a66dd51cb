"""`tiequan models`: the model registry — list, show, promote, rollback, diff.

    tiequan models list
    tiequan models show [VERSION|live|candidate]
    tiequan models promote [VERSION] --by USER [--force --reason TEXT]
    tiequan models rollback --by USER [--reason TEXT]
    tiequan models diff [A] [B]

Only workbench accounts with the analyst or admin role may promote or roll back (``--by``
names the account); every change is kept in the alias history and the web audit log.
"""

from __future__ import annotations

import argparse
from typing import Any

LIVE, CANDIDATE = "live", "candidate"  # tiequan.models.registry's aliases


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("models", help="模型登记：查看、上线、回退、比较检测模型")
    sub = parser.add_subparsers(dest="models_command", required=True)
    p = sub.add_parser("list", help="列出已登记的模型版本")
    p.set_defaults(func=_run, action="list")
    p = sub.add_parser("show", help="查看一个模型版本（默认：在用模型）及在用历史")
    p.add_argument("version", nargs="?", default=LIVE, help="版本号，或 live、candidate")
    p.set_defaults(func=_run, action="show")
    p = sub.add_parser("promote", help="经上线门槛把模型设为在用（默认：候选模型）")
    p.add_argument("version", nargs="?", default=CANDIDATE, help="版本号（默认 candidate）")
    p.add_argument("--by", required=True, help="操作账号（须为数据分析人员或系统管理员）")
    p.add_argument("--force", action="store_true", help="门槛不通过也上线（须写明 --reason）")
    p.add_argument("--reason", default="", help="理由")
    p.set_defaults(func=_run, action="promote")
    p = sub.add_parser("rollback", help="恢复上一个在用模型")
    p.add_argument("--by", required=True, help="操作账号（须为数据分析人员或系统管理员）")
    p.add_argument("--reason", default="", help="理由")
    p.set_defaults(func=_run, action="rollback")
    p = sub.add_parser("diff", help="比较两个模型在参考集测试集上的各类指标")
    p.add_argument("a", nargs="?", default=LIVE, help="基准（默认 live）")
    p.add_argument("b", nargs="?", default=CANDIDATE, help="对比（默认 candidate）")
    p.set_defaults(func=_run, action="diff")


def _run(args: argparse.Namespace) -> int:
    from tiequan.cli.models_actions import run  # the registry pulls in the detectors

    return run(args)
