"""Bulk actions on every lead the queue filter selects, not only the page shown.

Two steps. The preview shows how many leads match, a sample, and for how many the action
is legal (the others are skipped, with why); its confirmation form carries the filter and
the count. Applying re-runs the query and refuses if the count changed, else applies the
action lead by lead through ``LeadQueue.apply_many`` (the lifecycle's checks and per-lead
audit), and writes one web_audit record for the whole operation.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse

from tiequan.leads.lifecycle import ACTIONS
from tiequan.leads.queue import BulkResult
from tiequan.web.context import REVIEWERS, RouteRoles, Web
from tiequan.web.queueform import describe, filter_params, form_filter, queue_link
from tiequan.web.views import SORTS, QueueFilter

BULK_ACTIONS = ("claim", "release", "confirm", "admonish", "dismiss", "refer")
ALL_OR_NONE = frozenset({"refer"})  # only when every lead of the set may be referred
BULK_LIMIT = 20_000
SAMPLE = 10
ROUTES: RouteRoles = {
    ("POST", "/leads/bulk/preview"): REVIEWERS,
    ("POST", "/leads/bulk/apply"): REVIEWERS,
}


def register(app: FastAPI, web: Web) -> None:
    web.env.globals["bulk_actions"] = [ACTIONS[name] for name in BULK_ACTIONS]

    def request_of(request: Request) -> tuple[QueueFilter, str, str | None]:
        form = request.state.form
        action = str(form.get("action") or "")
        if action not in BULK_ACTIONS:
            raise HTTPException(400, f"不能批量执行的操作：{action[:40]}")
        reason = str(form.get("reason") or "").strip()[:2000] or None
        return form_filter(form), action, reason

    def refusal(f: QueueFilter, action: str, check: BulkResult) -> str | None:
        if f.errors:
            return "；".join(f.errors)
        if check.total == 0:
            return "当前筛选没有线索"
        if check.total > BULK_LIMIT:
            return (
                f"当前筛选共 {check.total} 条线索，超过批量操作上限 {BULK_LIMIT} 条，请缩小筛选范围"
            )
        if not check.applied:
            return f"没有可以“{ACTIONS[action].label}”的线索"
        if action in ALL_OR_NONE and check.skipped:
            return (
                f"批量“{ACTIONS[action].label}”须当前筛选的全部线索均可执行，"
                f"有 {len(check.skipped)} 条不可执行；请先缩小筛选范围"
            )
        return None

    def preview(
        request: Request,
        f: QueueFilter,
        action: str,
        reason: str | None,
        *,
        status: int = 200,
        message: str | None = None,
    ) -> HTMLResponse:
        user = web.user(request)
        check = BulkResult()
        sample: list[dict[str, Any]] = []
        if not f.errors:
            query = f.query()
            check = web.queue.apply_many(query, action, user.username, reason, dry_run=True)
            key, descending, _ = SORTS[f.sort]
            sample, _ = web.queue.search(query, [(key, -1 if descending else 1)], limit=SAMPLE)
        problem = refusal(f, action, check)
        return web.render(
            request,
            "bulk.html",
            status,
            f=f,
            action=ACTIONS[action],
            reason=reason or "",
            description=describe(f, web.queue.categories),
            back=queue_link(f),
            check=check,
            sample=sample,
            message=message or problem,
            confirmable=problem is None,
            done=False,
        )

    @app.post("/leads/bulk/preview")
    def bulk_preview(request: Request) -> HTMLResponse:
        f, action, reason = request_of(request)
        return preview(request, f, action, reason)

    @app.post("/leads/bulk/apply")
    def bulk_apply(request: Request) -> HTMLResponse:
        f, action, reason = request_of(request)
        try:
            expected = int(str(request.state.form.get("expected") or ""))
        except ValueError:
            expected = -1
        if f.errors:
            return preview(request, f, action, reason, status=400)
        user = web.user(request)
        query = f.query()
        check = web.queue.apply_many(query, action, user.username, reason, dry_run=True)
        if check.total != expected:
            message = (
                f"筛选结果已变化：确认时为 {expected} 条，现在为 {check.total} 条；请核对后重新确认"
            )
            return preview(request, f, action, reason, status=409, message=message)
        problem = refusal(f, action, check)
        if problem:
            return preview(request, f, action, reason, status=409, message=problem)
        result = web.queue.apply_many(query, action, user.username, reason)
        web.audit(
            request,
            f"bulk_{action}",
            detail={
                "filter": filter_params(f),
                "count": result.total,
                "applied": len(result.applied),
                "skipped": len(result.skipped),
                "reasons": [list(pair) for pair in result.reasons()],
                "reason": reason,
            },
        )
        return web.render(
            request,
            "bulk.html",
            f=f,
            action=ACTIONS[action],
            reason=reason or "",
            description=describe(f, web.queue.categories),
            back=queue_link(f),
            check=result,
            sample=[],
            message=None,
            confirmable=False,
            done=True,
        )
