"""Run history: the ``runs`` records read back as typed rows, the `tiequan runs` table
(one line a run) and `tiequan runs --show RUN_ID` (one run in full).

A run record is the sweep's report (tiequan.sweep.report) plus, for a scheduled sweep,
``scheduled`` (tiequan.scheduling.child). Records written before ``status`` existed get
theirs from their sites' finish reasons, and those written before ``health_alerts``
existed get their alerts from their sites' health checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database

from tiequan.storage.store import RUNS
from tiequan.sweep.report import health_alerts, run_outcome
from tiequan.text import NONE_MARK, display_width, pad, truncate
from tiequan.timefmt import local_time

STATUS_LABELS = {
    "ok": "完成", "failed": "失败", "killed": "已终止", "stopped": "已停止",
    "running": "进行中",  # a distributed run, seeded and not yet recorded (tiequan.distributed)
}  # fmt: skip
REASON_LABELS = {
    "finished": "正常结束",
    "errors": "出错且无条目",
    "shutdown": "收到停止信号",
    "time_limit": "超时被终止",
    "scheduler_stopped": "调度服务停止",
    "no_run_record": "未写运行记录",
}
TRIGGER_LABELS = {"schedule": "定时", "run-now": "立即"}


@dataclass(frozen=True)
class RunAlert:
    """A failed crawl-health check (pipelines.health) of one site in the run."""

    site: str
    check: str
    label: str
    message: str


@dataclass(frozen=True)
class Launch:
    """How the scheduler ran the sweep (``scheduled``): None for one started by hand."""

    holder: str
    exit_code: int | None
    killed: bool
    limit_s: float
    log: str


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    sites: tuple[str, ...]
    started_at: datetime | None
    finished_at: datetime | None
    elapsed_s: float
    status: str
    end_reason: str
    pages: int = 0
    items: int = 0
    leads_new: int = 0
    errors: int = 0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    peak_rss_bytes: int = 0
    resumed: bool = False
    spooled: int = 0
    trigger: str | None = None  # None: started by hand (`tiequan sweep`)
    spool_replayed: bool = False  # every record it spooled is now in the database
    replayed_before: int = 0  # spooled records (of earlier runs) written before it started
    resumed_from: str | None = None  # the killed run it continued
    alerts: tuple[RunAlert, ...] = ()
    finish_reasons: dict[str, str] = field(default_factory=dict)  # Scrapy's, by site
    lost: int = 0  # records neither written nor spooled
    outage_s: float = 0.0
    run_record_spooled: bool = False  # its own record went through the spool
    spool_replayed_at: datetime | None = None
    replayed_runs: tuple[str, ...] = ()  # whose spooled records were written before it
    launch: Launch | None = None

    @property
    def failed(self) -> bool:
        return self.status != "ok"

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> RunRecord:
        sites: dict[str, dict[str, Any]] = doc.get("sites") or {}
        totals: dict[str, Any] = doc.get("totals") or {}

        def total(key: str) -> int:
            if key in totals:
                return int(totals[key] or 0)
            return sum(int(site.get(key) or 0) for site in sites.values())

        kinds: dict[str, int] = {}
        for site in sites.values():
            for kind, n in (site.get("errors_by_kind") or {}).items():
                kinds[kind] = kinds.get(kind, 0) + int(n)
        status, reason = doc.get("status"), doc.get("end_reason")
        if not status:
            counts = {k: total(k) for k in ("errors", "items")}
            status, reason = run_outcome(sites, counts) if sites else ("failed", "unknown")
        scheduled = doc.get("scheduled") or {}
        database = doc.get("database") or {}
        replay = scheduled.get("replay")
        if not isinstance(replay, dict):
            replay = {}
        alerts = doc.get("health_alerts")
        if alerts is None:
            alerts = health_alerts(sites)
        return cls(
            run_id=str(doc.get("run_id") or doc["_id"]),
            sites=tuple(doc.get("site_names") or sorted(sites)),
            started_at=_when(doc.get("started_at")),
            finished_at=_when(doc.get("finished_at")),
            elapsed_s=float(doc.get("elapsed_s") or 0),
            status=str(status),
            end_reason=str(reason or "unknown"),
            pages=total("pages"),
            items=total("items"),
            leads_new=total("leads_new"),
            errors=total("errors"),
            errors_by_kind=dict(sorted(kinds.items())),
            bytes=total("bytes"),
            peak_rss_bytes=int(doc.get("peak_rss_bytes") or 0),
            resumed=bool(doc.get("resumed")),
            spooled=int(database.get("spooled") or 0),
            trigger=scheduled.get("trigger"),
            spool_replayed=bool((doc.get("spooled") or {}).get("replayed_at")),
            replayed_before=_replayed(scheduled.get("replay")),
            resumed_from=doc.get("resumed_from") or None,
            alerts=tuple(
                RunAlert(
                    site=str(a.get("site") or ""),
                    check=str(a.get("check") or ""),
                    label=str(a.get("label") or a.get("check") or ""),
                    message=str(a.get("message") or ""),
                )
                for a in alerts
                if isinstance(a, dict)
            ),
            finish_reasons={
                name: str(site.get("finish_reason") or "unknown") for name, site in sites.items()
            },
            lost=int(database.get("lost") or 0),
            outage_s=float(database.get("outage_seconds") or 0),
            run_record_spooled=database.get("run_record") not in (None, "database"),
            spool_replayed_at=_when((doc.get("spooled") or {}).get("replayed_at")),
            replayed_runs=tuple(str(r) for r in replay.get("runs") or ()),
            launch=_launch(scheduled),
        )


def _launch(scheduled: dict[str, Any]) -> Launch | None:
    if not scheduled:
        return None
    code = scheduled.get("exit_code")
    return Launch(
        holder=str(scheduled.get("holder") or ""),
        exit_code=int(code) if code is not None else None,
        killed=bool(scheduled.get("killed")),
        limit_s=float(scheduled.get("limit_s") or 0),
        log=str(scheduled.get("log") or ""),
    )


def _replayed(replay: Any) -> int:
    if not isinstance(replay, dict):
        return 0
    return max(0, int(replay.get("records") or 0) - int(replay.get("left") or 0))


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def find_run(db: Database[dict[str, Any]], run_id: str) -> RunRecord | None:
    doc = db[RUNS].find_one({"_id": run_id})
    return RunRecord.from_doc(doc) if doc else None


def find_runs(
    db: Database[dict[str, Any]], site: str | None = None, failed: bool = False, limit: int = 50
) -> list[RunRecord]:
    """The latest runs, newest first: of ``site`` only, and only those that failed."""
    query: dict[str, Any] = {}
    if site:
        query = {"$or": [{"site_names": site}, {f"sites.{site}": {"$exists": True}}]}
    records: list[RunRecord] = []
    for doc in db[RUNS].find(query).sort([("started_at", DESCENDING), ("_id", DESCENDING)]):
        record = RunRecord.from_doc(doc)
        if failed and not record.failed:
            continue
        records.append(record)
        if len(records) >= limit:
            break
    return records


def _size(n: int) -> str:
    if n <= 0:
        return NONE_MARK
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} 小时 {minutes} 分"
    return f"{minutes} 分 {secs} 秒" if minutes else f"{secs} 秒"


def _reason(record: RunRecord) -> str:
    reason = record.end_reason
    if reason.startswith("exit_"):
        return f"退出码 {reason[5:]}"
    return REASON_LABELS.get(reason, reason)


# One line a run; errors by kind, the alerts' messages and the rest are in --show.
COLUMNS = (
    "批次", "站点", "开始（北京时间）", "用时", "方式", "状态", "结束原因", "页面", "条目",
    "新增线索", "错误", "告警", "流量", "内存峰值", "续跑", "暂存", "启动前补写",
)  # fmt: skip
LIMITS = (24, 30, 16, 12, 4, 6, 14, 6, 6, 8, 5, 4, 9, 9, 4, 14, 10)


def _spool_text(r: RunRecord) -> str:
    if not r.spooled:
        return NONE_MARK
    return f"{r.spooled}（{'已补写' if r.spool_replayed else '待补写'}）"


def _row(r: RunRecord) -> list[str]:
    return [
        r.run_id,
        "、".join(r.sites) or NONE_MARK,
        local_time(r.started_at),
        _duration(r.elapsed_s),
        TRIGGER_LABELS.get(r.trigger or "", "手动"),
        STATUS_LABELS.get(r.status, r.status),
        _reason(r),
        str(r.pages),
        str(r.items),
        str(r.leads_new),
        str(r.errors),
        str(len(r.alerts)) if r.alerts else NONE_MARK,
        _size(r.bytes),
        _size(r.peak_rss_bytes),
        "是" if r.resumed else "否",
        _spool_text(r),
        str(r.replayed_before) if r.replayed_before else NONE_MARK,
    ]


def render_runs(records: Sequence[RunRecord], empty: str = "没有符合条件的运行记录。") -> str:
    """The `tiequan runs` table; columns padded by terminal display width."""
    if not records:
        return empty
    rows = [[truncate(c, w) for c, w in zip(_row(r), LIMITS, strict=True)] for r in records]
    headers = list(COLUMNS)
    widths = [max(display_width(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = [
        "  ".join(pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    failed = sum(r.failed for r in records)
    lines.append(f"共 {len(records)} 次运行，其中未完成 {failed} 次")
    return "\n".join(lines)


def _detail_lines(r: RunRecord) -> list[str]:
    how = TRIGGER_LABELS.get(r.trigger or "", "手动")
    lines = [
        f"运行批次 {r.run_id}（{how}）",
        f"站点：{'、'.join(r.sites) or NONE_MARK}",
        f"开始：{local_time(r.started_at)}  结束：{local_time(r.finished_at)}（北京时间）  "
        f"用时 {_duration(r.elapsed_s)}",
        f"状态：{STATUS_LABELS.get(r.status, r.status)}  结束原因：{_reason(r)}",
        "各站点结束原因："
        + ("，".join(f"{s} {why}" for s, why in sorted(r.finish_reasons.items())) or NONE_MARK),
        f"续跑：是，接续被中断的运行 {r.resumed_from}"
        if r.resumed_from
        else f"续跑：{'是' if r.resumed else '否'}",
        f"页面 {r.pages}  条目 {r.items}  新增线索 {r.leads_new}  错误 {r.errors}  "
        f"流量 {_size(r.bytes)}  内存峰值 {_size(r.peak_rss_bytes)}",
    ]
    kinds = [f"  {kind} × {n}" for kind, n in r.errors_by_kind.items()]
    lines += ["错误类别：", *kinds] if kinds else ["错误类别：" + NONE_MARK]
    alerts = [f"  {a.site} · {a.label}：{a.message}" for a in r.alerts]
    lines += [f"健康告警 {len(alerts)} 项：", *alerts] if alerts else ["健康告警：" + NONE_MARK]
    if r.spooled or r.lost or r.run_record_spooled or r.outage_s:
        parts = [f"数据库中断约 {r.outage_s:.1f} 秒", f"暂存 {r.spooled} 条"]
        if r.run_record_spooled:
            parts.append("运行记录经暂存区写入")
        if r.spool_replayed_at is not None:
            parts.append(f"已于 {local_time(r.spool_replayed_at)} 补写")
        elif r.spooled or r.run_record_spooled:
            parts.append("待补写（tiequan spool status 查看）")
        if r.lost:
            parts.append(f"丢失 {r.lost} 条")
        lines.append("暂存：" + "，".join(parts))
    else:
        lines.append("暂存：" + NONE_MARK)
    if r.launch is not None:
        launch = r.launch
        lines.append(
            f"调度：进程 {launch.holder or NONE_MARK}，退出码 {launch.exit_code}"
            f"{'，已被终止' if launch.killed else ''}，时限 {launch.limit_s:g} 秒"
        )
        if r.replayed_before or r.replayed_runs:
            lines.append(f"启动前补写：{r.replayed_before} 条（来自 {'、'.join(r.replayed_runs)}）")
        lines.append(f"日志：{launch.log or NONE_MARK}")
    return lines


def render_run(record: RunRecord) -> str:
    """`tiequan runs --show RUN_ID`: everything the record says about one run."""
    return "\n".join(_detail_lines(record))
