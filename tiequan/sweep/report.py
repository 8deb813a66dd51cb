"""The run report: what a sweep fetched, found and referred, as JSON and as a Chinese summary."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

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
        "finish_reason": stats.get("finish_reason", "unknown"),
    }


def _count(db: Database[Any], run_id: str, field: str) -> dict[str, int]:
    pipeline: list[dict[str, Any]] = [
        {"$match": {"run_ids": run_id}},
        {"$group": {"_id": f"${field}", "n": {"$sum": 1}}},
        {"$sort": {"_id": 1}},
    ]
    return {str(row["_id"]): int(row["n"]) for row in db.leads.aggregate(pipeline)}


def build_report(
    db: Database[Any],
    *,
    run_id: str,
    started_at: datetime,
    elapsed_s: float,
    crawler_stats: dict[str, dict[str, Any]],
) -> dict[str, Any]:
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
        )
    }
    return {
        "run_id": run_id,
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "elapsed_s": round(elapsed_s, 2),
        "sites": sites,
        "totals": totals,
        "leads_by_category": _count(db, run_id, "category"),
        "leads_by_unit": _count(db, run_id, "lead_unit"),
    }


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
    lines += ["", "本批次线索（按类别）："]
    for cat_id, n in sorted(report["leads_by_category"].items(), key=lambda kv: -kv[1]):
        name = categories.get(cat_id).name if cat_id in categories else cat_id
        lines.append(f"  {name}（{cat_id}）: {n}")
    if not report["leads_by_category"]:
        lines.append("  （无）")
    lines += ["", "本批次线索（按牵头单位）："]
    for unit, n in sorted(report["leads_by_unit"].items(), key=lambda kv: -kv[1]):
        lines.append(f"  {unit}: {n}")
    if not report["leads_by_unit"]:
        lines.append("  （无）")
    if report.get("report_path"):
        lines += ["", f"运行报告：{report['report_path']}"]
    return "\n".join(lines)
