"""The run report: what a sweep fetched, found and referred, as JSON and as a Chinese summary."""

from __future__ import annotations

import resource
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import PyMongoError

from tiequan.leads.cases import LeadRoute
from tiequan.referral.categories import load_categories


def _site_summary(stats: dict[str, Any]) -> dict[str, Any]:
    retries = {k.split("/", 2)[-1]: v for k, v in stats.items() if k.startswith("tiequan/retry/")}
    dropped = sum(v for k, v in stats.items() if k.startswith("pipeline/dropped/"))
    return {
        "pages": stats.get("response_received_count", 0),
        "items": stats.get("item_scraped_count", 0),
        "dropped": dropped,
        "findings": sum(v for k, v in stats.items() if k.startswith("detector/hits/")),
        "leads_new": stats.get("leads/new", 0),
        "leads_seen_again": stats.get("leads/seen_again", 0),
        "errors": stats.get("log_count/ERROR", 0)
        + stats.get("spider_exceptions/count", 0)
        + stats.get("store/errors", 0)
        + stats.get("refer/errors", 0),
        "retries": retries,
        "robots_forbidden": stats.get(
            "downloader/exception_type_count/scrapy.exceptions.IgnoreRequest", 0
        ),
        "pagination_capped": stats.get("tiequan/pagination_capped", 0),
        # Records kept in the spool while the database was away, and any lost with it.
        "spooled": stats.get("db/spooled", 0),
        "lost": stats.get("db/lost", 0),
        "outage_seconds": stats.get("db/outage_seconds", 0),
        "finish_reason": stats.get("finish_reason", "unknown"),
        "bytes": stats.get("downloader/response_bytes", 0),
        "errors_by_kind": errors_by_kind(stats),
        # Crawl health (crawlers.health): every monitor's result, and alert deliveries.
        "health": list(stats.get("tiequan/health") or []),
        "alerts_delivered": {
            k.rsplit("/", 1)[-1]: v for k, v in stats.items() if k.startswith("tiequan/alerts/")
        },
        # Incremental recrawl (pipelines.recrawl): pages answered 304, listings whose
        # fields hashed as stored, and listings of earlier sweeps not seen this time.
        "detected": stats.get("detector/items", 0),
        "not_modified": stats.get("recrawl/not_modified", 0),
        "unchanged": stats.get("recrawl/unchanged", 0),
        "redetected": stats.get("recrawl/redetected", 0),  # detected by another model
        "missing": stats.get("recrawl/missing", 0),
        # Times items waited for a database slower than the crawl (pipelines.batch).
        "db_waits": sum(v for k, v in stats.items() if k.endswith("/backpressure_waits")),
    }


def errors_by_kind(stats: dict[str, Any]) -> dict[str, int]:
    """Errors and failed responses by kind, keyed without dots (they are field names)."""
    kinds: dict[str, int] = {}

    def add(kind: str, n: Any) -> None:
        if n:
            kinds[kind] = kinds.get(kind, 0) + int(n)

    add("log_error", stats.get("log_count/ERROR"))
    add("store", stats.get("store/errors"))
    add("refer", stats.get("refer/errors"))
    add("retry_exhausted", stats.get("retry/max_reached"))
    for key, value in stats.items():
        if key.startswith("spider_exceptions/") and key != "spider_exceptions/count":
            add("spider:" + key.rsplit("/", 1)[-1].rsplit(".", 1)[-1], value)
        elif key.startswith("downloader/exception_type_count/"):
            add("download:" + key.rsplit("/", 1)[-1].rsplit(".", 1)[-1], value)
        elif key.startswith("downloader/response_status_count/") and key[-3:] >= "400":
            add("http:" + key[-3:], value)
    return dict(sorted(kinds.items()))


def peak_rss_bytes() -> int:
    """The peak resident memory of this process or of its largest waited-for child."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * 1024  # kilobytes on Linux


def run_outcome(sites: dict[str, dict[str, Any]], totals: dict[str, int]) -> tuple[str, str]:
    """(status, why it ended): ok, failed or stopped, and the reason behind it."""
    reasons = {site.get("finish_reason", "unknown") for site in sites.values()}
    if "shutdown" in reasons:
        return "stopped", "shutdown"
    if totals["errors"] and not totals["items"]:
        return "failed", "errors"
    odd = sorted(reasons - {"finished"})
    return ("ok", "finished") if not odd else ("failed", odd[0])


def count_leads(db: Database[Any], run_id: str, field: str) -> dict[str, int]:
    """The run's leads, counted by ``field``."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"run_ids": run_id}},
        {"$group": {"_id": f"${field}", "n": {"$sum": 1}}},
        {"$sort": {"_id": 1}},
    ]
    return {str(row["_id"]): int(row["n"]) for row in db.leads.aggregate(pipeline)}


def count_routes(leads: Mapping[str, LeadRoute]) -> tuple[dict[str, int], dict[str, int]]:
    """Leads counted by category and by lead unit, from what the refer stages recorded."""
    by_category = Counter(route.category for route in leads.values())
    by_unit = Counter(str(route.lead_unit) for route in leads.values())
    return dict(sorted(by_category.items())), dict(sorted(by_unit.items()))


def build_report(
    db: Database[Any] | None,
    *,
    run_id: str,
    started_at: datetime,
    elapsed_s: float,
    crawler_stats: dict[str, dict[str, Any]],
    resumed: bool = False,
    leads: Mapping[str, LeadRoute] | None = None,
) -> dict[str, Any]:
    """``leads``: the leads the run recorded, by id, when the sweep's refer stages know all
    of them; else they are counted in the database by run id."""
    sites = {name: _site_summary(stats) for name, stats in crawler_stats.items()}
    totals = {
        key: sum(site[key] for site in sites.values())
        for key in (
            "pages",
            "items",
            "dropped",
            "findings",
            "leads_new",
            "leads_seen_again",
            "errors",
            "bytes",
        )
    }
    status, end_reason = run_outcome(sites, totals)
    by_category: dict[str, int] | None = None
    by_unit: dict[str, int] | None = None
    if leads is not None:
        by_category, by_unit = count_routes(leads)
    elif db is not None:
        try:
            by_category = count_leads(db, run_id, "category")
            by_unit = count_leads(db, run_id, "lead_unit")
        except PyMongoError:
            by_category = by_unit = None  # counted when the spooled run record is replayed
    return {
        "run_id": run_id,
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "elapsed_s": round(elapsed_s, 2),
        "status": status,
        "end_reason": end_reason,
        "site_names": sorted(sites),
        "peak_rss_bytes": peak_rss_bytes(),
        "resumed": resumed,
        "sites": sites,
        "totals": totals,
        "database": {
            "outage_seconds": max((s["outage_seconds"] for s in sites.values()), default=0),
            "spooled": sum(s["spooled"] for s in sites.values()),
            "lost": sum(s["lost"] for s in sites.values()),
            "run_record": "database",
        },
        # None: the database was away when the run ended (see "database").
        "leads_by_category": by_category,
        "leads_by_unit": by_unit,
        "health_alerts": health_alerts(sites),
    }


def health_alerts(sites: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The failed health checks of every site, each with its site's name."""
    return [
        {"site": name, **check}
        for name, site in sorted(sites.items())
        for check in site.get("health") or []
        if not check.get("passed", True)
    ]


def outage_note(report: dict[str, Any]) -> str | None:
    """One line on a database outage during the run, or None if there was none."""
    db = report.get("database") or {}
    spooled, lost = int(db.get("spooled", 0)), int(db.get("lost", 0))
    if not (spooled or lost or db.get("outage_seconds") or db.get("run_record") != "database"):
        return None
    parts = [f"数据库曾中断约 {float(db.get('outage_seconds', 0)):.1f} 秒"]
    if spooled:
        parts.append(f"{spooled} 条记录已写入暂存区")
    if db.get("run_record") not in (None, "database"):
        parts.append("运行记录已写入暂存区")
    if spooled or db.get("run_record") != "database":
        parts.append("将在下次打开数据库时自动补写（也可运行 tiequan spool replay）")
    if lost:
        parts.append(f"{lost} 条记录未能暂存，已丢失")
    return "，".join(parts) + "。"


def format_summary(report: dict[str, Any]) -> str:
    categories = load_categories()
    t = report["totals"]
    lines = [
        f"巡查批次 {report['run_id']}  用时 {report['elapsed_s']:.1f} 秒",
        f"页面 {t['pages']}  条目 {t['items']}  命中 {t['findings']}  "
        f"新增线索 {t['leads_new']}  并入已有线索 {t['leads_seen_again']} 条次  错误 {t['errors']}",
        "",
        "各站点：",
    ]
    for name, site in report["sites"].items():
        retries = sum(site["retries"].values())
        lines.append(
            f"  {name}: 页面 {site['pages']}，条目 {site['items']}，命中 {site['findings']}，"
            f"重试 {retries}，错误 {site['errors']}，结束原因 {site['finish_reason']}"
        )
        if site.get("not_modified") or site.get("unchanged") or site.get("missing"):
            lines.append(
                f"    未变化：页面 {site.get('not_modified', 0)}（304），"
                f"条目 {site.get('unchanged', 0)}（内容相同），未再出现 {site.get('missing', 0)}"
            )
    alerts = report.get("health_alerts") or []
    if alerts:
        lines += ["", f"健康告警 {len(alerts)} 项："]
        lines += [f"  {a['site']} · {a['label']}：{a['message']}" for a in alerts]
    note = outage_note(report)
    if note:
        lines += ["", f"注意：{note}"]
    unknown = "  （数据库不可用，未能统计；补写后可用 tiequan leads list 查看）"
    lines += ["", "本批次线索（按类别）："]
    by_category = report["leads_by_category"]
    for cat_id, n in sorted((by_category or {}).items(), key=lambda kv: -kv[1]):
        name = categories.get(cat_id).name if cat_id in categories else cat_id
        lines.append(f"  {name}（{cat_id}）: {n}")
    if not by_category:
        lines.append("  （无）" if by_category is not None else unknown)
    lines += ["", "本批次线索（按牵头单位）："]
    by_unit = report["leads_by_unit"]
    for unit, n in sorted((by_unit or {}).items(), key=lambda kv: -kv[1]):
        lines.append(f"  {unit}: {n}")
    if not by_unit:
        lines.append("  （无）" if by_unit is not None else unknown)
    if report.get("report_path"):
        lines += ["", f"运行报告：{report['report_path']}"]
    return "\n".join(lines)
