"""领取 N 条: a reviewer claims several leads at once, each for a lease.

The form is on the 待办 and queue pages; from the queue page it may be restricted to the
current filter. ``LeadQueue.claim_many`` takes each lead atomically, so two reviewers never
hold the same lead; a lead whose lease ran out is claimable again.
"""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from tiequan.timefmt import local_time
from tiequan.web.context import REVIEWERS, RouteRoles, Web
from tiequan.web.queueform import filter_params, form_filter

CLAIM_SIZES = (1, 5, 10, 20)
ROUTES: RouteRoles = {("POST", "/leads/claim"): REVIEWERS}


def register(app: FastAPI, web: Web) -> None:
    web.env.globals["claim_sizes"] = CLAIM_SIZES

    @app.post("/leads/claim")
    def claim_many(request: Request) -> Response:
        form = request.state.form
        try:
            n = int(str(form.get("n") or "1"))
        except ValueError:
            n = 0
        if n not in CLAIM_SIZES:
            raise HTTPException(400, f"一次可领取 {'、'.join(map(str, CLAIM_SIZES))} 条")
        query, scope = None, None
        if form.get("scoped"):
            f = form_filter(form)
            if f.errors:
                web.flash(request, "；".join(f.errors))
                return RedirectResponse("/", 303)
            query, scope = f.query(), filter_params(f)
        user = web.user(request)
        taken = web.queue.claim_many(user.username, n, query=query)
        if not taken:
            web.flash(request, "没有可领取的待研判线索")
            return RedirectResponse("/", 303)
        web.audit(
            request,
            "lead_claim_many",
            detail={"asked": n, "lead_ids": [d["_id"] for d in taken], "filter": scope},
        )
        until = local_time(taken[0]["lease_until"])
        web.flash(
            request,
            f"已领取 {len(taken)} 条线索，领取有效期至 {until}（北京时间），"
            "期间他人不能领取；打开或处理线索会延长有效期",
        )
        return RedirectResponse("/", 303)
