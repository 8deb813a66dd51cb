"""`tiequan scheduler`: the nightly sweep service and its controls (docs/scheduler.md)."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType
from typing import Any

from crawlers.profiles import ProfileError, default_sites_dir, load_profiles
from tiequan.cli.exit_codes import EXIT_USAGE
from tiequan.settings import SettingError, environment, scheduler_settings
from tiequan.text import NONE_MARK, display_width, pad
from tiequan.timefmt import local_time


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("scheduler", help="调度服务：按站点配置定时巡查")
    sub = parser.add_subparsers(dest="scheduler_command", required=True)
    p = sub.add_parser("run", help="运行调度服务（同一数据库只有一个进程生效，其余待命）")
    p.add_argument("--holder", help="本进程在租约中的名称（默认 主机名:进程号:随机串）")
    p.set_defaults(func=_run)
    p = sub.add_parser("list", help="列出各站点的调度任务与当前调度进程")
    p.set_defaults(func=_list)
    for name, text in (
        ("run-now", "立即巡查一个站点（由运行中的调度服务执行）"),
        ("pause", "暂停一个站点的定时巡查"),
        ("resume", "恢复一个站点的定时巡查"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("site", metavar="SITE", help="站点配置名称，如 sandbox_mall")
        p.set_defaults(func=_control, action=name)


def _schedules() -> list[Any]:
    from tiequan.scheduling.jobs import SiteSchedule

    profiles = load_profiles(default_sites_dir())
    return [
        SiteSchedule(p.name, p.schedule.cron, p.schedule.enabled, str(p.source))
        for p in profiles.values()
    ]


def _run(args: argparse.Namespace) -> int:
    from tiequan.scheduling.jobs import ScheduleError
    from tiequan.scheduling.service import SchedulerService
    from tiequan.storage.connect import open_database, resolve_home

    try:
        settings = scheduler_settings()
        schedules = _schedules()
        with open_database() as db:
            # The sweeps write where the lease and jobs are: this very server.
            host, port = db.client.address or ("127.0.0.1", 27017)
            uri = environment().mongo_uri or f"mongodb://{host}:{port}/?directConnection=true"
            service = SchedulerService(db, uri, schedules, settings, resolve_home(), args.holder)

            def stop(signum: int, frame: FrameType | None) -> None:
                service.stop()

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            service.run()
    except (ProfileError, ScheduleError, SettingError) as exc:
        print(f"tiequan scheduler: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _list(args: argparse.Namespace) -> int:
    from tiequan.scheduling.jobs import TRIGGER_RUN_NOW, control, job_rows
    from tiequan.scheduling.lease import LEASES, Lease
    from tiequan.storage.connect import open_database

    settings = scheduler_settings()
    with open_database() as db:
        with control(db, settings) as scheduler:
            rows = job_rows(scheduler)
        lease = Lease(db[LEASES], "", settings.lease_s).state()
    headers = ["站点", "任务", "计划（cron）", "下次运行（北京时间）", "状态"]
    table = [
        [
            r.site,
            "立即巡查" if r.kind == TRIGGER_RUN_NOW else "定时巡查",
            r.cron or NONE_MARK,
            local_time(r.next_run, "%Y-%m-%d %H:%M:%S"),
            "已暂停" if r.paused else "等待",
        ]
        for r in rows
    ]
    if table:
        widths = [max(display_width(row[i]) for row in [headers, *table]) for i in range(5)]
        for n, row in enumerate([headers, *table]):
            print("  ".join(pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip())
            if n == 0:
                print("  ".join("-" * w for w in widths))
        print(f"共 {len(table)} 个任务（时区 {settings.timezone}）")
    else:
        print("没有调度任务（调度服务尚未运行过，或没有启用的站点）。")
    if lease is not None and lease.live():
        print(
            f"当前调度进程：{lease.holder}，租约有效至 "
            f"{local_time(lease.expires_at, '%Y-%m-%d %H:%M:%S')}（北京时间）"
        )
    else:
        print("当前没有生效的调度进程（tiequan scheduler run 未运行，或其租约已过期）。")
    return 0


def _control(args: argparse.Namespace) -> int:
    from tiequan.scheduling.jobs import ScheduleError, control, pause_site, resume_site, run_now
    from tiequan.scheduling.lease import LEASES, Lease
    from tiequan.storage.connect import open_database

    settings = scheduler_settings()
    if args.action == "run-now":
        known = [s.site for s in _schedules()]
        if args.site not in known:
            print(
                f"tiequan scheduler: 未知站点 {args.site!r}；已有：{', '.join(known)}",
                file=sys.stderr,
            )
            return EXIT_USAGE
    with open_database() as db:
        try:
            with control(db, settings) as scheduler:
                if args.action == "pause":
                    pause_site(scheduler, args.site)
                    print(f"已暂停站点 {args.site} 的定时巡查（tiequan scheduler resume 恢复）。")
                elif args.action == "resume":
                    next_run = resume_site(scheduler, args.site)
                    when = local_time(next_run, "%Y-%m-%d %H:%M:%S")
                    print(f"已恢复站点 {args.site} 的定时巡查，下次运行 {when}（北京时间）。")
                else:
                    run_now(scheduler, args.site, settings)
                    print(f"已安排立即巡查站点 {args.site}。")
        except ScheduleError as exc:
            print(f"tiequan scheduler: {exc}", file=sys.stderr)
            return EXIT_USAGE
        lease = Lease(db[LEASES], "", settings.lease_s).state()
    if lease is None or not lease.live():
        print(
            "注意：当前没有生效的调度进程，启动 tiequan scheduler run 后才会执行。", file=sys.stderr
        )
    elif args.action == "run-now":
        print(f"调度进程 {lease.holder} 将在约 {settings.heartbeat_s:g} 秒内开始。")
    return 0
