"""`tiequan spool`: what a database outage left in the spool, and writing it in again.

Every command that opens the database replays the spool first (tiequan.cli.main arms
it); `spool replay` does the same on demand and says what it did, `spool status` lists
the files without opening the database.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tiequan.cli.exit_codes import EXIT_FAULT, EXIT_REJECTED, EXIT_USAGE
from tiequan.evidence.capture import shanghai_time


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("spool", help="暂存区：数据库中断期间暂存的记录")
    parser.add_argument("--home", type=Path, help="数据目录（默认 $TIEQUAN_HOME 或 ./var）")
    sub = parser.add_subparsers(dest="spool_command", required=True)
    p = sub.add_parser("status", help="列出暂存文件：记录数、最早时间")
    p.set_defaults(func=_status)
    p = sub.add_parser("replay", help="将暂存的记录补写入数据库（可重复执行，中断后可继续）")
    p.set_defaults(func=_replay)


def _status(args: argparse.Namespace) -> int:
    from tiequan.storage import spool

    try:
        files = spool.status(args.home)
        bad = spool.bad_files(args.home)
    except OSError as exc:
        print(f"无法读取暂存区 {spool.spool_dir(args.home)}：{exc}", file=sys.stderr)
        return EXIT_USAGE
    root = spool.spool_dir(args.home)
    if not files:
        print(f"暂存区 {root} 没有待补写的记录。")
    for f in files:
        state = "（补写中断，将从断点继续）" if f.replaying else ""
        print(
            f"{f.path.name}  批次 {f.run_id}  环节 {f.stage}  待补写 {f.records} 条  "
            f"最早 {shanghai_time(f.oldest)}{state}"
        )
    if files:
        total = sum(f.records for f in files)
        print(f"共 {len(files)} 个文件，{total} 条记录待补写（tiequan spool replay）。")
    for path in bad:
        print(f"无法写入的记录另存于 {path}（{_lines(path)} 行，请人工核查，不会自动删除）")
    return 0


def _lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def _replay(args: argparse.Namespace) -> int:
    from pymongo.errors import PyMongoError

    from tiequan.progress import Steps
    from tiequan.storage import spool
    from tiequan.storage.connect import (
        StorageError,
        open_database,
        run_on_next_open,
        short_error,
    )
    from tiequan.storage.embedded import EmbeddedServerError
    from tiequan.sweep.replay import replay

    run_on_next_open(None)  # this command replays itself, and reports on it
    try:
        with open_database(home=args.home) as db:
            waiting = sum(f.records for f in spool.status(args.home))
            with Steps("补写暂存区", waiting) as steps:
                result = replay(db, args.home, progress=steps.advance)
    except (StorageError, EmbeddedServerError) as exc:
        print(f"数据库不可用：{exc}", file=sys.stderr)
        return EXIT_FAULT
    except PyMongoError as exc:
        print(
            f"补写中断，数据库不可用：{short_error(exc)}；"
            "已写入的记录保留，再次运行 tiequan spool replay 将从断点继续",
            file=sys.stderr,
        )
        return EXIT_FAULT
    except OSError as exc:
        print(f"无法读写暂存区 {spool.spool_dir(args.home)}：{exc}", file=sys.stderr)
        return EXIT_FAULT
    if result.busy:
        print("另一进程正在补写暂存区，请稍后再试。", file=sys.stderr)
        return EXIT_FAULT
    print(f"已补写 {result.files} 个暂存文件，共 {result.records} 条记录。")
    for path in result.unknown:
        print(f"未知环节的暂存文件未处理：{path}", file=sys.stderr)
    if result.bad:
        print(
            f"{result.bad} 条记录无法写入，已另存为 .bad 文件（见上方各行），请人工核查。",
            file=sys.stderr,
        )
        return EXIT_REJECTED
    return 0
