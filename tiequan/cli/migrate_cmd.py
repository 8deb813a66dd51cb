"""`tiequan migrate [--dry-run] [--status]`: apply the pending schema migrations.

The registry and the ``migrations`` collection are tiequan.storage.migrations'. The
command migrates only: the spool is left for the next command (a dry run changes nothing).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tiequan.cli.exit_codes import EXIT_FAULT
from tiequan.text import NONE_MARK
from tiequan.timefmt import local_time


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("migrate", help="执行数据库结构迁移（旧结构的文档升级为新结构）")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--dry-run", action="store_true", help="只统计将更改的文档，不做更改")
    which.add_argument("--status", action="store_true", help="列出各项迁移：已执行或待执行")
    p.add_argument("--by", help="执行人（默认 用户名@主机名）")
    p.set_defaults(func=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    from tiequan.progress import Steps
    from tiequan.storage import migrations
    from tiequan.storage.connect import open_database, run_on_next_open

    run_on_next_open(None)  # a migration run (or a dry run) writes nothing else
    with open_database() as db:
        if args.status:
            for line in status_lines(migrations.status(db)):
                print(line)
            return 0
        todo = migrations.pending(db)
        if not todo:
            print("没有待执行的迁移，数据库结构已是最新。")
            return 0
        by = args.by or f"tiequan migrate {migrations.operator_name()}"
        with Steps("迁移", len(todo)) as steps:

            def done(result: migrations.Applied) -> None:
                m = result.migration
                if result.dry_run:
                    steps.line(f"待执行 {m.id}（{m.description}）：将更改 {result.changed} 条文档")
                else:
                    steps.line(
                        f"已执行 {m.id}（{m.description}）：更改 {result.changed} 条文档，"
                        f"用时 {result.duration_s:.1f} 秒"
                    )
                steps.advance()

            try:
                applied = migrations.apply_pending(db, by, dry_run=args.dry_run, on_done=done)
            except migrations.MigrationError as exc:
                print(f"tiequan migrate: {exc}", file=sys.stderr)
                return EXIT_FAULT
    if args.dry_run:
        print(f"试运行：{len(applied)} 项迁移待执行，未做任何更改（tiequan migrate 执行）。")
    else:
        print(f"共执行 {len(applied)} 项迁移。")
    return 0


def status_lines(states: list[Any]) -> list[str]:
    """`--status`: one line per migration, in order, then a count of the pending ones."""
    lines = []
    for s in states:
        m = s.migration
        if s.applied:
            lines.append(
                f"{m.id}  已执行  {local_time(s.applied_at, '%Y-%m-%d %H:%M:%S')}（北京时间）"
                f"  执行人 {s.by or NONE_MARK}  更改 {s.changed} 条文档  用时 {s.duration_s:.1f} 秒"
            )
        else:
            lines.append(f"{m.id}  待执行  将更改 {s.would_change} 条文档  {m.description}")
    waiting = sum(not s.applied for s in states)
    lines.append(
        f"共 {len(states)} 项迁移，待执行 {waiting} 项" + ("（tiequan migrate）" if waiting else "")
    )
    return lines
