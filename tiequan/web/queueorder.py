"""The analysts' queue order: by default newest first, or active learning, per user.

An analyst (or admin) who chooses active learning sees the queue sorted by the leads'
``informativeness`` (tiequan.leads.learning) whenever the link names no other sort; the
choice is kept with their preferences (``Accounts.set_queue_order``). Everyone else keeps
the default order and is not offered the active-learning sort.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from tiequan.web import views
from tiequan.web.accounts import (
    ORDER_ACTIVE,
    ORDER_DEFAULT,
    ROLE_ADMIN,
    ROLE_ANALYST,
    AccountError,
    User,
)
from tiequan.web.context import RouteRoles, Web

LEARNERS = frozenset({ROLE_ANALYST, ROLE_ADMIN})
LEARN_SORT = "learn"
DEFAULT_SORT = "created"
ORDER_LABELS = {
    ORDER_DEFAULT: "默认顺序（最新发现在前）",
    ORDER_ACTIVE: "主动学习（模型最没有把握、规则与模型意见不一的线索在前）",
}
ROUTES: RouteRoles = {("POST", "/leads/order"): LEARNERS}


def default_sort(web: Web, user: User) -> str:
    """The sort the queue uses for ``user`` when its link names none."""
    if user.role in LEARNERS and web.accounts.preferences(user.username).queue_order == (
        ORDER_ACTIVE
    ):
        return LEARN_SORT
    return DEFAULT_SORT


def sorts_for(user: User) -> dict[str, tuple[str, bool, str]]:
    """The sorts the queue page offers ``user``."""
    if user.role in LEARNERS:
        return dict(views.SORTS)
    return {k: v for k, v in views.SORTS.items() if k != LEARN_SORT}


def register(app: FastAPI, web: Web) -> None:
    def queue_order(user: User | None) -> str:
        return web.accounts.preferences(user.username).queue_order if user else ORDER_DEFAULT

    web.env.globals["queue_order"] = queue_order
    web.env.globals["queue_orders"] = ORDER_LABELS

    @app.post("/leads/order")
    def set_order(request: Request) -> Response:
        user = web.user(request)
        order = str(request.state.form.get("order") or "")
        try:
            web.accounts.set_queue_order(user.username, order)
        except AccountError as exc:
            web.flash(request, str(exc))
            return RedirectResponse("/leads", 303)
        web.audit(request, "queue_order", detail={"order": order})
        web.flash(request, f"线索队列已改为：{ORDER_LABELS[order]}")
        return RedirectResponse("/leads", 303)
