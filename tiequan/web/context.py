"""What every group of workbench routes shares: the stores, the templates and rendering.

Each feature module (``tiequan/web/<feature>.py``) declares ``ROUTES`` (its (method, path)
→ roles) and ``register(app, web)``; ``create_app`` merges the tables into ``ROUTE_ROLES``
and calls every ``register``, so no route can exist without its roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader
from pymongo.database import Database

from tiequan.evidence import EvidenceFiles, shanghai_time
from tiequan.leads.queue import LeadQueue
from tiequan.storage.store import Store
from tiequan.web import views
from tiequan.web.accounts import (
    ROLE_ADMIN,
    ROLE_ANALYST,
    ROLE_REVIEWER,
    ROLE_UNIT,
    ROLES,
    Accounts,
    User,
)
from tiequan.web.sessions import Session, Sessions

HERE = Path(__file__).parent
ALL = frozenset(ROLES)
READERS = frozenset({ROLE_REVIEWER, ROLE_ANALYST, ROLE_ADMIN})
REVIEWERS = frozenset({ROLE_REVIEWER})
UNITS = frozenset({ROLE_UNIT})
RouteRoles = dict[tuple[str, str], frozenset[str]]


class Feature(Protocol):
    """A feature module: its routes' roles, and a function adding the routes to the app."""

    ROUTES: RouteRoles

    def register(self, app: FastAPI, web: Web) -> None: ...


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, auto_reload=False
    )
    env.filters["when"] = views.local_time
    env.filters["shanghai"] = shanghai_time
    return env


@dataclass
class Web:
    db: Database[dict[str, Any]]
    queue: LeadQueue
    accounts: Accounts
    sessions: Sessions
    store: Store
    artefacts: EvidenceFiles
    env: Environment

    def render(
        self, request: Request, name: str, status: int = 200, **context: Any
    ) -> HTMLResponse:
        """A template with the signed-in user, the CSRF token and the pending flash message."""
        session: Session | None = getattr(request.state, "session", None)
        flash = session.flash if session else None
        if session and flash:
            self.sessions.set_flash(session, None)
        html = self.env.get_template(name).render(
            user=getattr(request.state, "user", None),
            csrf=session.csrf if session else "",
            flash=flash,
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def flash(self, request: Request, message: str) -> None:
        """A message shown once on the next page this session renders."""
        self.sessions.set_flash(request.state.session, message)

    def audit(self, request: Request, event: str, **fields: Any) -> None:
        """An audit record of what the signed-in user did, with their client address."""
        self.accounts.audit(event, self.user(request).username, client=client_of(request), **fields)

    @staticmethod
    def user(request: Request) -> User:
        user: User = request.state.user
        return user

    def visible_lead(self, user: User, lead_id: str) -> dict[str, Any]:
        """The lead, if ``user`` may see it; 404 otherwise (also for another unit's lead)."""
        lead = self.queue.get(lead_id)
        if lead is None or (
            user.role == ROLE_UNIT and not views.unit_may_see(self.queue, user, lead)
        ):
            raise HTTPException(404, "线索不存在或无权查看")
        return lead


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def attachment(body: bytes, filename: str, media_type: str) -> Response:
    """A download: always an attachment, never rendered in the officer's browser."""
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )
