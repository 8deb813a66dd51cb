"""`tiequan doctor`: check the installation, one line per check, each with its fix.

Exit codes: 0 every check passed; 1 warnings only (sweeps run, something deserves a
look); 2 an error (a sweep would fail or lose evidence: fix it first).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tiequan.cli.exit_codes import EXIT_USAGE


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "doctor", help="检查安装：浏览器、字体、数据库、模型、磁盘、时钟、目录"
    )
    p.add_argument(
        "--min-free-gb",
        type=float,
        default=5.0,
        metavar="GB",
        help="数据目录所在磁盘的可用空间低于此值时警告（默认 5）",
    )
    p.add_argument("--no-browser-launch", action="store_true", help="只查找浏览器，不试启动")
    p.set_defaults(func=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from tiequan.doctor import ERROR, WARNING, exit_code, run_checks
    from tiequan.settings import SettingError, environment, scheduler_settings
    from tiequan.storage.connect import run_on_next_open

    run_on_next_open(None)  # a check writes nothing: the spool stays for the next command
    try:
        env = environment()
        scheduler = scheduler_settings()
    except SettingError as exc:
        print(f"[错误] 设置：{exc}。修复：改正该环境变量（见 tiequan/settings.py）")
        return EXIT_USAGE
    checks = []
    for check in run_checks(
        env, scheduler, min_free_gb=args.min_free_gb, launch_browser=not args.no_browser_launch
    ):
        print(check.line(), flush=True)
        checks.append(check)
    errors = sum(c.level == ERROR for c in checks)
    warnings = sum(c.level == WARNING for c in checks)
    fine = len(checks) - errors - warnings
    print(f"共 {len(checks)} 项检查：正常 {fine}，警告 {warnings}，错误 {errors}")
    if errors:
        print("tiequan doctor: 有错误，请按各行的“修复”处理后再运行巡查。", file=sys.stderr)
    return exit_code(checks)
