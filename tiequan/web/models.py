"""The analysts' models page: the registry's versions, their figures, the live alias.

It lists every registered model (tiequan.models.registry) with its reference-test and
synthetic-test figures, which version is live or candidate, the model that was live
before, the history of the live alias, and the newest evaluation report of each version
(`tiequan evaluate` writes them under ``$TIEQUAN_HOME/evaluation``), served as a
download. Promotion and rollback go through tiequan.models.promotion, so the page passes
the same gate as `tiequan models promote`, and both are audited like the command.

The registry pulls in the detector (scikit-learn); it is imported when the page is asked
for, not when the workbench starts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tiequan.settings import environment
from tiequan.web.accounts import ROLE_ADMIN, ROLE_ANALYST
from tiequan.web.context import RouteRoles, Web, attachment

if TYPE_CHECKING:
    from tiequan.models.registry import AliasChange, ModelRecord, Registry

log = logging.getLogger(__name__)

PROMOTERS = frozenset({ROLE_ANALYST, ROLE_ADMIN})
ROUTES: RouteRoles = {
    ("GET", "/models"): PROMOTERS,
    ("GET", "/models/{version}/report"): PROMOTERS,
    ("POST", "/models/{version}/promote"): PROMOTERS,
    ("POST", "/models/rollback"): PROMOTERS,
}
HISTORY_SHOWN = 20
MAX_REASON = 500
REPORTS_DIR = "evaluation"


@dataclass(frozen=True)
class ModelRow:
    """One line of the page's table."""

    record: ModelRecord
    aliases: tuple[str, ...]
    core_f1: float | None  # reference test split, core categories, micro
    hard_negative_fpr: float | None
    corpus_f1: float | None  # synthetic test split
    report: Path | None

    @property
    def live(self) -> bool:
        return "live" in self.aliases


def find_reports(root: Path) -> dict[str, Path]:
    """The newest evaluation report (its HTML) of each model version evaluated under
    ``root``: the version of the report's first model, the one it was run for."""
    from tiequan.models.report import HTML_NAME, JSON_NAME

    newest: dict[str, tuple[str, Path]] = {}
    for path in sorted(root.glob(f"*/{JSON_NAME}")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("skipping unreadable evaluation %s: %s", path, exc)
            continue
        models = data.get("models") if isinstance(data, dict) else None
        first = next(iter(models.values()), None) if isinstance(models, dict) else None
        version = first.get("version") if isinstance(first, dict) else None
        html = path.with_name(HTML_NAME)
        if not isinstance(version, str) or not html.is_file():
            continue
        when = str(data.get("generated_at") or "")
        if version not in newest or when >= newest[version][0]:
            newest[version] = (when, html)
    return {version: html for version, (_, html) in newest.items()}


def model_rows(registry: Registry, reports: dict[str, Path]) -> list[ModelRow]:
    from tiequan.models.gate import HARD_NEGATIVE, core_f1
    from tiequan.models.registry import ALIASES, CORPUS_TEST, REFERENCE_TEST

    current = {name: registry.alias(name) for name in ALIASES}
    rows = []
    for record in registry.all():
        reference = record.scores(REFERENCE_TEST) if REFERENCE_TEST in record.metrics else None
        corpus = record.scores(CORPUS_TEST) if CORPUS_TEST in record.metrics else None
        rows.append(
            ModelRow(
                record=record,
                aliases=tuple(n for n, v in current.items() if v == record.version),
                core_f1=core_f1(reference) if reference else None,
                hard_negative_fpr=reference.fpr([HARD_NEGATIVE]) if reference else None,
                corpus_f1=core_f1(corpus) if corpus else None,
                report=reports.get(record.version),
            )
        )
    return rows


def register(app: FastAPI, web: Web) -> None:
    def open_registry() -> Registry:
        from tiequan.models.registry import Registry

        return Registry(web.db, environment().model_dir)

    def reports() -> dict[str, Path]:
        return find_reports(environment().home / REPORTS_DIR)

    @app.get("/models")
    def models_page(request: Request) -> HTMLResponse:
        from tiequan.models.registry import LIVE

        registry = open_registry()
        history = registry.history(LIVE)
        return web.render(
            request,
            "models.html",
            rows=model_rows(registry, reports()),
            live=registry.alias(LIVE),
            previous=history[0].previous if history else None,
            history=history[:HISTORY_SHOWN],
        )

    @app.get("/models/{version}/report")
    def model_report(version: str) -> Response:
        html = reports().get(version)
        if html is None:
            raise HTTPException(404, "该模型还没有评估报告（tiequan evaluate 生成）")
        return attachment(html.read_bytes(), f"evaluation-{version}.html", "text/html")

    @app.post("/models/{version}/promote")
    def promote_model(request: Request, version: str) -> Response:
        from tiequan.models.gate import ModelsConfigError, load_models_config
        from tiequan.models.promotion import promote
        from tiequan.models.registry import RegistryError

        form = request.state.form
        reason = str(form.get("reason") or "").strip()[:MAX_REASON]
        force = form.get("force") == "1"
        user = web.user(request)
        try:
            done = promote(
                open_registry(), version[:100], by=user.username,
                config=load_models_config(), force=force, reason=reason,
            )  # fmt: skip
        except (RegistryError, ModelsConfigError) as exc:
            web.flash(request, f"未上线：{exc}")
            return RedirectResponse("/models", 303)
        change, refusals = done.change, [r.message() for r in done.refusals]
        web.audit(request, "model_promote", detail=_change_detail(change, refusals))
        if refusals:
            web.flash(request, f"已强制上线 {change.version}（门槛未通过：{'；'.join(refusals)}）")
        else:
            web.flash(request, f"已上线 {change.version}（此前在用：{change.previous or '无'}）")
        return RedirectResponse("/models", 303)

    @app.post("/models/rollback")
    def rollback_model(request: Request) -> Response:
        from tiequan.models.promotion import rollback
        from tiequan.models.registry import RegistryError

        reason = str(request.state.form.get("reason") or "").strip()[:MAX_REASON]
        try:
            change = rollback(open_registry(), by=web.user(request).username, reason=reason)
        except RegistryError as exc:
            web.flash(request, f"未回退：{exc}")
            return RedirectResponse("/models", 303)
        web.audit(request, "model_rollback", detail=_change_detail(change, []))
        web.flash(request, f"已回退：在用模型恢复为 {change.version}（撤下 {change.previous}）")
        return RedirectResponse("/models", 303)


def _change_detail(change: AliasChange, refusals: list[str]) -> dict[str, Any]:
    at: datetime = change.at
    return {
        "version": change.version,
        "previous": change.previous,
        "reason": change.reason,
        "forced": change.forced,
        "refusals": refusals,
        "at": at.isoformat(),
    }
