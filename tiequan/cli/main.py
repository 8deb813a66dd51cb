"""The `tiequan` command: one entry point, one sub-command module per concern."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pymongo.database import Database

from tiequan.cli.exit_codes import EXIT_FAULT, EXIT_INTERRUPTED, EXIT_USAGE
from tiequan.logs import configure as configure_logging
from tiequan.settings import SettingError, log_format
from tiequan.storage.connect import StorageError, run_on_next_open
from tiequan.storage.embedded import EmbeddedServerError
from tiequan.storage.migrations import MigrationsPending

# Each module exposes register(subparsers) and sets args.func(args) -> int.
_COMMAND_MODULES = (
    "tiequan.cli.sweep_cmd",
    "tiequan.cli.detect_cmd",
    "tiequan.cli.leads_cmd",
    "tiequan.cli.evidence_cmd",
    "tiequan.cli.sandbox_cmd",
    "tiequan.cli.demo_cmd",
    "tiequan.cli.spool_cmd",
    "tiequan.cli.sites_cmd",
    "tiequan.cli.users_cmd",
    "tiequan.cli.serve_cmd",
    "tiequan.cli.labels_cmd",
    "tiequan.cli.report_cmd",
    "tiequan.cli.scheduler_cmd",
    "tiequan.cli.runs_cmd",
    "tiequan.cli.migrate_cmd",
    "tiequan.cli.doctor_cmd",
    "tiequan.cli.evaluate_cmd",
    "tiequan.cli.train_cmd",
    "tiequan.cli.models_cmd",
    "tiequan.cli.lexicon_cmd",
    "tiequan.cli.worker_cmd",
    "tiequan.cli.detect_worker_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tiequan", description="铁拳 network supervision sweeps")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-json",
        action="store_true",
        help="log one JSON object per line (time, level, logger, message, extra fields); "
        "also TIEQUAN_LOG_FORMAT=json",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _replay_spool(db: Database[Any], home: Path | None) -> None:
    from tiequan.sweep.replay import replay_on_open  # imported only by commands that open it

    replay_on_open(db, home)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        json_lines = args.log_json or log_format() == "json"
    except SettingError as exc:
        sys.stderr.write(f"tiequan: {exc}\n")
        return EXIT_USAGE
    configure_logging(verbose=args.verbose, json_lines=json_lines)
    # Whatever an earlier outage left in the spool is written first, by the command's
    # first open of the database (once, wherever that happens).
    run_on_next_open(_replay_spool)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except MigrationsPending as exc:  # nothing was done: the operator runs tiequan migrate
        sys.stderr.write(f"tiequan {args.command}: {exc}\n")
        return EXIT_USAGE
    except (StorageError, EmbeddedServerError) as exc:
        sys.stderr.write(f"tiequan {args.command}: 数据库不可用：{exc}\n")
        return EXIT_FAULT
    except Exception as exc:  # the last line of defence: one line, exit 3
        logging.getLogger("tiequan").debug("fault in %s", args.command, exc_info=True)
        sys.stderr.write(
            f"tiequan {args.command} 内部错误：{type(exc).__name__}: {exc}"
            "（加 -v 查看详细信息；请报告此问题）\n"
        )
        return EXIT_FAULT
    finally:
        run_on_next_open(None)


if __name__ == "__main__":
    sys.exit(main())
