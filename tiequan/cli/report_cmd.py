"""`tiequan report`: reports over a period.

    tiequan report monitoring --from YYYY-MM-DD --to YYYY-MM-DD [--out FILE.docx]

网络交易监测报告 (DOCX): the figures of the workbench's dashboard for the period, with
charts. Either date may be left out: --to defaults to today, --from to 30 days before it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tiequan.cli.exit_codes import EXIT_OK, EXIT_USAGE
from tiequan.cli.leads_cmd import fail, run_with_queue
from tiequan.leads.stats import DEFAULT_DAYS, Period, PeriodError, today_in_shanghai
from tiequan.storage.store import utcnow


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("report", help="统计报告：网络交易监测报告（DOCX）")
    sub = parser.add_subparsers(dest="report_command", required=True)
    p = sub.add_parser("monitoring", help="网络交易监测报告：某一期间的巡查、线索与处置情况")
    p.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD",
                   help=f"起始日期（默认截止日期前 {DEFAULT_DAYS} 天）")  # fmt: skip
    p.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="截止日期（默认今天）")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="输出文件（默认当前目录下的 网络交易监测报告_起始_截止.docx）")  # fmt: skip
    p.set_defaults(func=_monitoring)


def _monitoring(args: argparse.Namespace) -> int:
    from tiequan.documents.monitoring import report_filename, write_monitoring_report
    from tiequan.leads.stats import dashboard

    now = utcnow()
    try:
        period = Period.parse(args.date_from, args.date_to, today_in_shanghai(now))
    except PeriodError as exc:
        return fail(f"参数有误：{exc}", EXIT_USAGE)
    out: Path = args.out or Path(report_filename(period))
    if out.is_dir():
        return fail(f"参数有误：--out {out} 是一个目录", EXIT_USAGE)
    if out.suffix.lower() != ".docx":
        return fail(f"参数有误：--out {out} 须以 .docx 结尾", EXIT_USAGE)

    def action(queue: Any, _args: argparse.Namespace) -> int:
        figures = dashboard(queue.db, period, now)
        try:
            write_monitoring_report(out, figures)
        except OSError as exc:
            return fail(f"无法写入文件：{exc}", EXIT_USAGE)
        print(
            f"网络交易监测报告已生成：{out}（{period.label()}；线索 {figures.leads} 条，"
            f"巡查 {figures.sweeps.runs} 次）"
        )
        return EXIT_OK

    return run_with_queue(args, action)
