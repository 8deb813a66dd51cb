"""The workbench application: ``create_app(db)`` builds it, ``tiequan serve`` runs it.

Every route is authorised by ``ROUTE_ROLES`` in one app-wide dependency, default deny: a
route missing from the table is refused to everyone. State-changing requests must carry the
session's CSRF token. Crawled text reaches the browser only through autoescaped templates.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pymongo.database import Database

from tiequan.evidence import ArtefactError, EvidenceFiles
from tiequan.evidence.files import evidence_files
from tiequan.evidence.manifest import evidence_sets
from tiequan.leads.lifecycle import ACTIONS, TransitionError, allowed_actions
from tiequan.leads.model import Case
from tiequan.leads.queue import LeadNotFound, LeadQueue
from tiequan.party.creditcode import validate
from tiequan.storage.store import Store, utcnow
from tiequan.web import (
    bulk,
    claims,
    dashboard,
    downloads,
    feedback,
    lexicon,
    models,
    queueorder,
    savedviews,
    views,
)
from tiequan.web.accounts import ROLE_REVIEWER, ROLE_UNIT, Accounts, User
from tiequan.web.context import (
    ALL,
    HERE,
    READERS,
    Feature,
    RouteRoles,
    Web,
    client_of,
    templates,
)
from tiequan.web.sessions import COOKIE, LOGIN_COOKIE, Session, Sessions
from tiequan.web.workbench import WorkbenchConfig, load_workbench

PUBLIC = frozenset({("GET", "/login"), ("POST", "/login")})
# The feature modules: each declares ROUTES and register(app, web).
FEATURES: tuple[Feature, ...] = (
    feedback,
    dashboard,
    claims,
    bulk,
    savedviews,
    downloads,
    queueorder,
    models,
    lexicon,
)
CORE_ROUTES: RouteRoles = {
    ("GET", "/"): ALL,
    ("POST", "/logout"): ALL,
    ("GET", "/leads"): READERS,
    ("GET", "/leads/{lead_id}"): READERS | {ROLE_UNIT},
    ("GET", "/leads/{lead_id}/artefact/{sha256}"): READERS | {ROLE_UNIT},
    ("POST", "/leads/{lead_id}/action"): frozenset({ROLE_REVIEWER}),
    ("POST", "/claim-next"): frozenset({ROLE_REVIEWER}),
    ("GET", "/unit"): frozenset({ROLE_UNIT}),
    ("POST", "/unit/{lead_id}/close"): frozenset({ROLE_UNIT}),
}
# (method, path) → roles allowed; routes not listed are refused to everyone.
ROUTE_ROLES: RouteRoles = {**CORE_ROUTES}
for _feature in FEATURES:
    ROUTE_ROLES.update(_feature.ROUTES)
REVIEW_ACTIONS = ("claim", "release", "confirm", "refer", "admonish", "police", "dismiss", "reopen")
SHORTCUTS = {
    "claim": "c",
    "release": "u",
    "confirm": "y",
    "refer": "r",
    "admonish": "a",
    "police": "p",
    "dismiss": "d",
    "reopen": "o",
}
SAFE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
LOGIN_WINDOW = 300.0  # seconds
LOGIN_PER_CLIENT = 20  # attempts per client address per window, whatever the user name


class LoginThrottle:
    """Attempts per client address in a sliding window, in this process's memory.

    The per-account lockout (in the database) is the real guard; this only slows a client
    trying many user names.
    """

    def __init__(self, limit: int = LOGIN_PER_CLIENT, window: float = LOGIN_WINDOW) -> None:
        self.limit, self.window = limit, window
        self.attempts: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        seen = self.attempts[client]
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        return True


def set_strict_cookie(
    response: Response, request: Request, name: str, value: str, *, path: str
) -> None:
    """Every workbench cookie: HttpOnly, SameSite=Strict, and Secure over HTTPS."""
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=path,
    )


def attachment(filename: str) -> str:
    """A Content-Disposition for a download, as Starlette's FileResponse writes it."""
    quoted = quote(str(filename))
    if quoted != filename:
        return f"attachment; filename*=utf-8''{quoted}"
    return f'attachment; filename="{filename}"'


def create_app(
    db: Database[dict[str, Any]],
    *,
    queue: LeadQueue | None = None,
    accounts: Accounts | None = None,
    artefacts: EvidenceFiles | None = None,
    workbench: WorkbenchConfig | None = None,
) -> FastAPI:
    settings = workbench or load_workbench()
    web = Web(
        db=db,
        queue=queue or LeadQueue(db),
        accounts=accounts or Accounts(db),
        sessions=Sessions(db),
        store=Store(db),
        artefacts=artefacts or evidence_files(db),
        env=templates(),
    )
    queue, accounts, sessions, store = web.queue, web.accounts, web.sessions, web.store
    artefact_store, render = web.artefacts, web.render
    throttle = LoginThrottle()
    facet_cache = views.FacetCache()

    def check(request: Request, key: tuple[str, str]) -> None:
        session = sessions.get(request.cookies.get(COOKIE))
        user = accounts.get(session.username) if session else None
        if session is None or user is None:
            if request.method == "GET":
                raise HTTPException(303, headers={"Location": "/login"})
            raise HTTPException(401, "请先登录")
        request.state.session, request.state.user = session, user
        if user.role not in ROUTE_ROLES.get(key, frozenset()):
            raise HTTPException(403, "无权访问此页面")
        if request.method != "GET" and not session.csrf_ok(
            str(request.state.form.get("csrf") or "") or request.headers.get("x-csrf-token")
        ):
            raise HTTPException(403, "请求校验失败（CSRF），请刷新页面后重试")

    async def authorise(request: Request) -> None:
        key = (request.method, getattr(request.scope.get("route"), "path", ""))
        if request.method != "GET":
            request.state.form = await request.form()
        if key not in PUBLIC:
            await run_in_threadpool(check, request, key)  # pymongo blocks: off the event loop

    app = FastAPI(
        dependencies=[Depends(authorise)], docs_url=None, redoc_url=None, openapi_url=None
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code in (301, 302, 303):
            return RedirectResponse(exc.headers["Location"] if exc.headers else "/", 303)
        return render(request, "error.html", exc.status_code, message=str(exc.detail))

    def login_form(request: Request, status: int = 200, message: str = "") -> HTMLResponse:
        # Before there is a session the login form's CSRF token is a double-submit cookie:
        # a cross-site form cannot send it (SameSite=Strict), so no other site can log an
        # officer into an account of its choosing.
        token = secrets.token_urlsafe(32)
        response = render(request, "login.html", status, message=message, login_csrf=token)
        set_strict_cookie(response, request, LOGIN_COOKIE, token, path="/login")
        return response

    @app.get("/login")
    def login_page(request: Request) -> HTMLResponse:
        return login_form(request)

    @app.post("/login")
    def login(request: Request) -> Response:
        form = request.state.form
        username = str(form.get("username") or "").strip()[:64]
        password = str(form.get("password") or "")[:1024]
        client = client_of(request)
        sent, expected = str(form.get("csrf") or ""), request.cookies.get(LOGIN_COOKIE) or ""
        if not expected or not hmac.compare_digest(sent, expected):
            return login_form(request, 403, "登录页面已过期，请重新输入")
        if not throttle.allow(client):
            accounts.audit("login_throttled", username, client=client)
            return login_form(request, 429, "登录尝试过于频繁，请稍后再试")
        result = accounts.authenticate(username, password, client=client)
        if result.user is None:
            return login_form(request, 401, result.message)
        token = sessions.create(result.user.username)
        response = RedirectResponse("/", 303)
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        set_strict_cookie(response, request, COOKIE, token, path="/")
        return response

    @app.post("/logout")
    def logout(request: Request) -> Response:
        sessions.delete(request.state.session)
        accounts.audit("logout", request.state.user.username, client=client_of(request))
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/")
    def home(request: Request) -> Response:
        user: User = request.state.user
        if user.role == ROLE_UNIT:
            return RedirectResponse("/unit", 303)
        lists = views.todo(queue, user, utcnow())
        return render(request, "todo.html", lists=lists, todo_shown=views.TODO_SHOWN)

    @app.get("/leads")
    def lead_queue(request: Request) -> HTMLResponse:
        user: User = request.state.user
        f = views.QueueFilter.from_params(request.query_params, queueorder.default_sort(web, user))
        return render(
            request,
            "queue.html",
            f=f,
            page=views.search_page(
                queue,
                f,
                after=request.query_params.get("after", ""),
                before=request.query_params.get("before", ""),
            ),
            facets=views.queue_facets(queue, facet_cache),
            statuses=views.STATUSES,
            sorts=queueorder.sorts_for(user),
            link=lambda **kw: "/leads?" + urlencode(f.params(**kw)),
        )

    visible_lead = web.visible_lead

    @app.get("/leads/{lead_id}")
    def lead_page(request: Request, lead_id: str) -> HTMLResponse:
        user: User = request.state.user
        if user.role == ROLE_REVIEWER:  # opening a lead one holds renews its lease
            queue.renew(lead_id, user.username)
        lead = visible_lead(user, lead_id)
        return render(request, "lead.html", **lead_context(lead, user))

    def lead_context(lead: dict[str, Any], user: User) -> dict[str, Any]:
        party = lead.get("party") or {}
        listings = []
        entries = sorted(lead.get("listings") or [], key=lambda e: -float(e.get("score") or 0))
        keys = [(str(e.get("platform")), str(e.get("item_id"))) for e in entries]
        held = store.get_listings(keys)
        for entry, key in zip(entries, keys, strict=True):
            stored = held.get(key)
            text = (
                " ".join(str(stored.get(k) or "") for k in ("title", "description", "text"))
                if stored
                else str(entry.get("title") or "")
            )
            listings.append(
                {"entry": entry, "snippets": views.highlight(text, entry.get("matched") or [])}
            )
        sets = evidence_sets(queue.db, Case.from_doc(lead))
        actions = []
        if user.role == ROLE_REVIEWER:
            names = {a.name for a in allowed_actions(lead["status"])}
            actions = [ACTIONS[n] for n in REVIEW_ACTIONS if n in names]
        return {
            "lead": lead,
            "party": party,
            "credit": validate(party.get("credit_code")).describe(),
            "jurisdiction": lead.get("jurisdiction") or {},
            "listings": listings,
            "evidence": sets,
            "history": queue.history(lead["_id"]),
            "actions": actions,
            "shortcuts": SHORTCUTS,
            "dismiss_reasons": settings.dismiss_reasons,
            **feedback.lead_sections(web, lead),
        }

    @app.get("/leads/{lead_id}/artefact/{sha256}")
    def artefact(request: Request, lead_id: str, sha256: str) -> Response:
        lead = visible_lead(request.state.user, lead_id)
        for ev in evidence_sets(queue.db, Case.from_doc(lead)):
            for art in ev.get("artefacts") or []:
                if art.get("sha256") == sha256.lower() and art.get("kind") in (
                    "screenshot",
                    "live_screenshot",
                    "image",
                ):
                    media = str(art.get("media_type") or "")
                    try:
                        data = artefact_store.read(sha256)
                    except (ValueError, ArtefactError, OSError) as exc:
                        raise HTTPException(404, "证据文件不存在") from exc
                    if media not in SAFE_IMAGE_TYPES:  # e.g. SVG: never rendered inline
                        return Response(
                            data,
                            media_type="application/octet-stream",
                            headers={"Content-Disposition": attachment(art.get("name") or sha256)},
                        )
                    return Response(data, media_type=media)
        raise HTTPException(404, "证据文件不存在")

    def act(
        request: Request,
        lead_id: str,
        action: str,
        reason: str | None = None,
        outcome: str | None = None,
    ) -> Response:
        user: User = request.state.user
        session: Session = request.state.session
        try:
            updated = queue.apply(lead_id, action, user.username, reason=reason, outcome=outcome)
        except LeadNotFound as exc:
            raise HTTPException(404, "线索不存在") from exc
        except TransitionError as exc:
            sessions.set_flash(session, str(exc))
        else:
            accounts.audit(
                f"lead_{action}",
                user.username,
                client=client_of(request),
                lead_id=updated["_id"],
                detail={"to_status": updated["status"], "reason": reason, "outcome": outcome},
            )
            sessions.set_flash(
                session, f"已{ACTIONS[action].label}：线索 {updated['_id']} → {updated['status']}"
            )
        target = f"/leads/{quote(lead_id, safe='')}" if user.role != ROLE_UNIT else "/unit"
        return RedirectResponse(target, 303)

    @app.post("/leads/{lead_id}/action")
    def lead_action(request: Request, lead_id: str) -> Response:
        form = request.state.form
        action = str(form.get("action") or "")
        if action not in REVIEW_ACTIONS:
            raise HTTPException(400, f"未知操作：{action[:40]}")
        lead_id = visible_lead(request.state.user, lead_id)["_id"]
        preset = str(form.get("preset") or "").strip()
        text = str(form.get("reason") or "").strip()[:2000]
        try:
            reason = settings.reason(preset, text)
        except ValueError as exc:
            sessions.set_flash(request.state.session, str(exc))
            return RedirectResponse(f"/leads/{quote(lead_id, safe='')}", 303)
        return act(request, lead_id, action, reason=reason or None)

    @app.post("/claim-next")
    def claim_next(request: Request) -> Response:
        """Take the best unclaimed pending lead (highest score, then oldest) and open it."""
        user: User = request.state.user
        category = str(request.state.form.get("category") or "").strip() or None
        lead = queue.claim(user.username, category=category)
        if lead is None:
            sessions.set_flash(request.state.session, "没有可认领的待研判线索")
            return RedirectResponse("/", 303)
        accounts.audit(
            "lead_claim",
            user.username,
            client=client_of(request),
            lead_id=lead["_id"],
            detail={"to_status": lead["status"], "next": True},
        )
        return RedirectResponse(f"/leads/{quote(lead['_id'], safe='')}", 303)

    @app.get("/unit")
    def unit_page(request: Request) -> HTMLResponse:
        return render(request, "unit.html", leads=views.unit_leads(queue, request.state.user))

    @app.post("/unit/{lead_id}/close")
    def unit_close(request: Request, lead_id: str) -> Response:
        lead_id = visible_lead(request.state.user, lead_id)["_id"]
        outcome = str(request.state.form.get("outcome") or "").strip()[:2000]
        return act(request, lead_id, "close", outcome=outcome or None)

    for feature in FEATURES:
        feature.register(app, web)
    return app
