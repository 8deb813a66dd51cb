"""The analysts' lexicon page: terms added or removed, the change history, suggestions.

Adding, removing and accepting a suggestion go through the same gate as the CLI
(tiequan.models.lexicon_gate.apply_change) and are audited; a refusal is flashed with its
figures. The live model and the rules in force are kept between requests and rebuilt only
when the live alias or the lexicon version moved (a build compiles every lexicon).
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from detectors.combine import ListingDetector
from detectors.config import SEVERITIES, ConfigError, default_config_dir
from detectors.engine import Detector
from tiequan.leads.labels import LabelStore
from tiequan.models.gate import ModelsConfigError, load_models_config
from tiequan.models.lexicon import (
    ADD,
    REMOVE,
    LexiconError,
    LexiconStore,
    Overlay,
    TermSpec,
    new_term,
    rules_in_force,
)
from tiequan.models.lexicon_gate import LexiconRefused, apply_change, live_base
from tiequan.models.registry import LIVE, Registry, RegistryError
from tiequan.models.suggest import benign_texts, suggest
from tiequan.settings import environment
from tiequan.storage.store import utcnow
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


class Builds:
    """The live model and the rules in force, rebuilt when what they come from moved."""

    def __init__(self, web: Web) -> None:
        self.web = web
        self.lock = threading.Lock()
        self.model: tuple[str, ListingDetector] | None = None
        self.rules: tuple[int, Detector] | None = None

    def base(self) -> ListingDetector:
        version = Registry(self.web.db, environment().model_dir).alias(LIVE)
        with self.lock:
            if self.model is None or self.model[0] != version:
                self.model = (str(version), live_base(self.web.db))
            return self.model[1]

    def rules_for(self, overlay: Overlay) -> Detector:
        with self.lock:
            if self.rules is None or self.rules[0] != overlay.version:
                self.rules = (overlay.version, rules_in_force(overlay))
            return self.rules[1]


def field(form: Any, name: str) -> str:
    return clean(str(form.get(name) or ""))[:MAX_FIELD]


def listed(value: str) -> list[str]:
    return [v for v in _LIST_SPLIT.split(value) if v]


def register(app: FastAPI, web: Web) -> None:
    builds = Builds(web)
    store = LexiconStore(web.db)

    def change(request: Request, action: str, spec: TermSpec, reason: str, back: str) -> Response:
        user = web.user(request).username
        try:
            done, judgement = apply_change(
                store, builds.base(), action, spec, by=user, reason=reason,
                config=load_models_config(),
            )  # fmt: skip
        except LexiconRefused as exc:
            web.flash(request, str(exc).replace("（确需修改请加 --force 并说明理由）", ""))
            return RedirectResponse(back, 303)
        except (LexiconError, RegistryError, ModelsConfigError, ConfigError) as exc:
            web.flash(request, str(exc))
            return RedirectResponse(back, 303)
        detail = {"version": done.version, **spec.to_doc(), "reason": done.reason,
                  "figures": done.figures}  # fmt: skip
        web.audit(request, f"lexicon_{action}", detail=detail)
        web.flash(
            request,
            f"词库版本 {done.version}：已{done.action_name} {spec.category} 词条“{spec.term}”"
            f"（{judgement.figures()}）",
        )
        return RedirectResponse(back, 303)

    def lexicons() -> dict[str, Any]:
        return {lex.category: lex for lex in builds.rules_for(store.overlay()).lexicons}

    @app.get("/lexicon")
    def lexicon_page(request: Request) -> HTMLResponse:
        overlay = store.overlay()
        return web.render(
            request, "lexicon.html", overlay=overlay, categories=sorted(lexicons()),
            severities=SEVERITIES, history=store.history(HISTORY_ROWS),
        )  # fmt: skip

    @app.get("/lexicon/suggestions")
    def suggestions_page(request: Request) -> HTMLResponse:
        overlay = store.overlay()
        found = suggest(
            LabelStore(web.db).iter(since=utcnow() - timedelta(days=SUGGESTION_DAYS)),
            builds.rules_for(overlay), benign_texts(default_config_dir()),
            rejected=store.rejected(),
        )  # fmt: skip
        return web.render(
            request, "lexicon_suggestions.html", suggestions=found, days=SUGGESTION_DAYS
        )

    @app.post("/lexicon/add")
    def add_term(request: Request) -> Response:
        form = request.state.form
        try:
            weight = float(field(form, "weight") or 0.6)
        except ValueError:
            web.flash(request, f"词条字段 weight 的值 {field(form, 'weight')!r} 有误：须是数字")
            return RedirectResponse("/lexicon", 303)
        try:
            spec = new_term(
                lexicons(), field(form, "category"), field(form, "term"), weight=weight,
                article=field(form, "article"), severity=field(form, "severity"),
                variants=listed(field(form, "variants")),
                exceptions=listed(field(form, "exceptions")),
            )  # fmt: skip
        except LexiconError as exc:
            web.flash(request, str(exc))
            return RedirectResponse("/lexicon", 303)
        return change(request, ADD, spec, field(form, "reason"), "/lexicon")

    @app.post("/lexicon/remove")
    def remove_term(request: Request) -> Response:
        form = request.state.form
        spec = TermSpec(field(form, "category"), field(form, "term"))
        return change(request, REMOVE, spec, field(form, "reason"), "/lexicon")

    @app.post("/lexicon/suggestions/accept")
    def accept(request: Request) -> Response:
        form = request.state.form
        back = "/lexicon/suggestions"
        try:
            spec = new_term(lexicons(), field(form, "category"), field(form, "phrase"))
        except LexiconError as exc:
            web.flash(request, str(exc))
            return RedirectResponse(back, 303)
        return change(request, ADD, spec, "采纳词库建议", back)

    @app.post("/lexicon/suggestions/reject")
    def reject(request: Request) -> Response:
        form = request.state.form
        spec = TermSpec(field(form, "category"), field(form, "phrase"))
        if spec.category not in lexicons() or not spec.key[1]:
            web.flash(request, f"没有这条建议：{spec.category} “{spec.term}”")
            return RedirectResponse("/lexicon/suggestions", 303)
        store.reject(spec, by=web.user(request).username, reason="不采纳")
        web.audit(request, "lexicon_reject", detail=spec.to_doc())
        web.flash(request, f"已记录不采纳：{spec.category} “{spec.term}”，以后不再建议")
        return RedirectResponse("/lexicon/suggestions", 303)
