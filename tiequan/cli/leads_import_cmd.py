"""`tiequan leads import FILE --source tip|higher-bureau`: tips and leads sent down.

Registered by tiequan.cli.leads_cmd, whose helpers are imported when the command runs.
Exit codes (``tiequan.cli.exit_codes``): 0 every row imported, 1 some rows rejected
(listed, and saved as ``<name>.rejected.csv`` next to the file), 2 the file cannot be
read at all or the configuration is broken, 3 the database is unavailable.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from detectors import ConfigError
from tiequan.cli.exit_codes import EXIT_OK, EXIT_REJECTED, EXIT_USAGE
from tiequan.evidence.artefacts import default_root
from tiequan.evidence.files import evidence_files
from tiequan.evidence.originals import keeper
from tiequan.leads.importer import IMPORT_SOURCES, Importer
from tiequan.leads.importer_read import ImportFileError, read_table
from tiequan.leads.importer_report import render_summary, write_rejected
from tiequan.leads.importer_rows import looks_like_header
from tiequan.leads.queue import LeadQueue
from tiequan.models.live import load_live
from tiequan.models.registry import RegistryError
from tiequan.progress import Steps

log = logging.getLogger(__name__)


def register_import(sub: Any) -> None:
    """Add ``import`` to the ``leads`` sub-parsers."""
    p = sub.add_parser(
        "import",
        help="导入投诉举报或上级交办线索（CSV、XLSX、JSON、JSONL）",
        description="逐行检测并登记线索；有误的行按行号报告，并另存为 <文件名>.rejected.csv。",
    )
    p.add_argument("file", metavar="FILE", type=Path, help="CSV、XLSX、JSON 或 JSONL 文件")
    p.add_argument(
        "--source",
        required=True,
        choices=IMPORT_SOURCES,
        help="tip=投诉举报，higher-bureau=上级交办",
    )
    p.add_argument("--sheet", help="XLSX 的工作表名称（默认第一个）")
    p.add_argument("--by", help="导入人员（姓名或单位）")
    p.add_argument(
        "--min-score", type=float, default=0.5, help="检测分值门槛（默认 0.5，同网络监测）"
    )
    p.add_argument("--json", action="store_true", help="以 JSON 输出导入结果")
    p.set_defaults(func=_import)


def _import(args: argparse.Namespace) -> int:
    # Imported here: tiequan.cli.leads_cmd imports this module to register the command.
    from tiequan.cli.leads_cmd import fail, print_json, run_with_queue

    try:
        table = read_table(args.file, sheet=args.sheet, is_header=looks_like_header)
    except ImportFileError as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        detector = load_live()  # the registry's live model, as a sweep uses; never trained here
    except ConfigError as exc:
        return fail(f"检测配置有误：{exc}", EXIT_USAGE)
    except RegistryError as exc:
        return fail(f"tiequan leads import: {exc}", EXIT_USAGE)

    def action(queue: LeadQueue, a: argparse.Namespace) -> int:
        # Oversized cells are cut; their originals go where the crawl keeps its evidence.
        store = evidence_files(queue.db, default_root())
        importer = Importer(
            queue,
            detector,
            source=a.source,
            by=a.by,
            min_score=a.min_score,
            keep_original=keeper(store),
        )
        try:
            with Steps("导入", len(table.rows)) as steps:
                report = importer.run(table, on_row=steps.advance)
        except ImportFileError as exc:
            return fail(str(exc), EXIT_USAGE)
        try:
            write_rejected(report, Path(a.file))
        except OSError as exc:
            log.error("cannot write the rejected rows next to %s: %s", a.file, exc)
        code = EXIT_REJECTED if report.rejected else EXIT_OK
        if a.json:
            print_json({**report.to_dict(), "exit_code": code})
        else:
            print(render_summary(report))
        return code

    return run_with_queue(args, action)
