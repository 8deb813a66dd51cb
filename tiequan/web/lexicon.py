"""The analysts' lexicon page: terms added or removed, the change history, suggestions.

Adding, removing and accepting a suggestion go through the same gate as the CLI
(tiequan.models.lexicon_gate.apply_change) and are audited; a refusal is flashed with its
figures. The live model and the rules in force are kept between requests (LexiconDesk).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tiequan.models.lexicon import LexiconChange, LexiconError
from tiequan.models.lexicon_desk import SEVERITIES, LexiconDesk
from tiequan.models.lexicon_gate import Judgement, LexiconRefused
from tiequan.text import clean
from tiequan.web.accounts import ROLE_ADMIN, ROLE_ANALYST
from tiequan.web.context import RouteRoles, Web

ANALYSTS = frozenset({ROLE_ANALYST, ROLE_ADMIN})
ROUTES: RouteRoles = {
    ("GET", "/lexicon"): ANALYSTS,
    ("GET", "/lexicon/suggestions"): ANALYSTS,
    ("POST", "/lexicon/add"): ANALYSTS,
    ("POST", "/lexicon/remove"): ANALYSTS,
    ("POST", "/lexicon/suggestions/accept"): ANALYSTS,
    ("POST", "/lexicon/suggestions/reject"): ANALYSTS,
}
SUGGESTION_DAYS = 90
HISTORY_ROWS = 50
MAX_FIELD = 200  # characters kept of a form field
_LIST_SPLIT = re.compile(r"[，,、\s]+")


def field(form: Any, name: str) -> str:
    return clean(str(form.get(name) or ""))[:MAX_FIELD]


def listed(value: str) -> list[str]:
    return [v for v in _LIST_SPLIT.split(value) if v]


def register(app: FastAPI, web: Web) -> None:
    desk = LexiconDesk(web.db)

    def done(request: Request, result: tuple[LexiconChange, Judgement], back: str) -> Response:
        change, judgement = result
        spec = change.spec
        detail = {"version": change.version, **spec.to_doc(), "reason": change.reason,
                  "figures": change.figures}  # fmt: skip
        web.audit(request, f"lexicon_{change.action}", detail=detail)
        web.flash(
            request,
            f"词库版本 {change.version}：已{change.action_name} {spec.category} 词条"
            f"“{spec.term}”（{judgement.figures()}）",
        )
        return RedirectResponse(back, 303)

    def refused(request: Request, exc: LexiconError, back: str) -> Response:
        message = str(exc)
        if isinstance(exc, LexiconRefused):
            message = message.replace("（确需修改请加 --force 并说明理由）", "")
        web.flash(request, message)
        return RedirectResponse(back, 303)

    @app.get("/lexicon")
    def lexicon_page(request: Request) -> HTMLResponse:
        return web.render(
            request, "lexicon.html", overlay=desk.store.overlay(), categories=desk.categories(),
            severities=SEVERITIES, history=desk.store.history(HISTORY_ROWS),
        )  # fmt: skip

    @app.get("/lexicon/suggestions")
    def suggestions_page(request: Request) -> HTMLResponse:
        found = desk.suggestions(SUGGESTION_DAYS)
        return web.render(
            request, "lexicon_suggestions.html", suggestions=found, days=SUGGESTION_DAYS
        )

    @app.post("/lexicon/add")
    def add_term(request: Request) -> Response:
        form = request.state.form
        user = web.user(request).username
        try:
            weight = float(field(form, "weight") or 0.6)
        except ValueError:
            web.flash(request, f"词条字段 weight 的值 {field(form, 'weight')!r} 有误：须是数字")
            return RedirectResponse("/lexicon", 303)
        try:
            result = desk.add(
                field(form, "category"), field(form, "term"), by=user,
                reason=field(form, "reason"), weight=weight, article=field(form, "article"),
                severity=field(form, "severity"), variants=listed(field(form, "variants")),
                exceptions=listed(field(form, "exceptions")),
            )  # fmt: skip
        except LexiconError as exc:
            return refused(request, exc, "/lexicon")
        return done(request, result, "/lexicon")

    @app.post("/lexicon/remove")
    def remove_term(request: Request) -> Response:
        form = request.state.form
        user = web.user(request).username
        try:
            result = desk.remove(
                field(form, "category"), field(form, "term"), by=user, reason=field(form, "reason")
            )
        except LexiconError as exc:
            return refused(request, exc, "/lexicon")
        return done(request, result, "/lexicon")

    @app.post("/lexicon/suggestions/accept")
    def accept(request: Request) -> Response:
        form = request.state.form
        back = "/lexicon/suggestions"
        user = web.user(request).username
        try:
            result = desk.accept(field(form, "category"), field(form, "phrase"), by=user)
        except LexiconError as exc:
            return refused(request, exc, back)
        return done(request, result, back)

    @app.post("/lexicon/suggestions/reject")
    def reject(request: Request) -> Response:
        form = request.state.form
        back = "/lexicon/suggestions"
        try:
            change = desk.reject(
                field(form, "category"), field(form, "phrase"), by=web.user(request).username
            )
        except LexiconError as exc:
            return refused(request, exc, back)
        web.audit(request, "lexicon_reject", detail=change.spec.to_doc())
        web.flash(
            request, f"已记录不采纳：{change.spec.category} “{change.spec.term}”，以后不再建议"
        )
        return RedirectResponse(back, 303)
