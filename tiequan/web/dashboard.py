"""The dashboard: leads, decisions, overdue leads and sweep health over a period, and the
monitoring report (网络交易监测报告, DOCX) of the same period.

The figures come from tiequan.leads.stats. The page carries them twice: as HTML tables
(autoescaped) and as a JSON document in a ``<script type="application/json">`` element
that static/dashboard.js reads with textContent and hands to ECharts (the CSP allows no
fetch, and the JSON's ``<`` are escaped, so a crawled name cannot end the element).
``/dashboard/data`` serves the same JSON. Both show figures at most a minute old (the page
says when they were computed); the report is computed when asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from tiequan.documents.monitoring import DOCX_TYPE, build_monitoring_report, report_filename
from tiequan.leads.stats import Dashboard, Period, PeriodError, dashboard, today_in_shanghai
from tiequan.storage.store import utcnow
from tiequan.web.cache import Refreshing
from tiequan.web.context import READERS, RouteRoles, Web, attachment

ROUTES: RouteRoles = {
    ("GET", "/dashboard"): READERS,
    ("GET", "/dashboard/data"): READERS,
    ("GET", "/dashboard/report.docx"): READERS,
}
PARAMS = ("from", "to")
DASHBOARD_MAX_AGE = 60.0  # seconds


def period_of(params: Mapping[str, str]) -> Period:
    """The period the query asks for (default: the last 30 days); PeriodError if malformed."""
    today = today_in_shanghai(utcnow())
    return Period.parse(params.get("from"), params.get("to"), today, names=PARAMS)


def query_of(period: Period) -> str:
    return urlencode({"from": period.start.isoformat(), "to": period.end.isoformat()})


def register(app: FastAPI, web: Web) -> None:
    # The figures read every lead and decision of the period: the page and its JSON show a
    # copy at most DASHBOARD_MAX_AGE old (its time is on the page); the report reads afresh.
    shown: Refreshing[Dashboard] = Refreshing(DASHBOARD_MAX_AGE)

    def figures(period: Period) -> Dashboard:
        return dashboard(web.db, period, utcnow())

    def cached(period: Period) -> Dashboard:
        return shown.get((period.start, period.end), lambda: figures(period))

    @app.get("/dashboard")
    def dashboard_page(request: Request) -> HTMLResponse:
        error = ""
        try:
            period = period_of(request.query_params)
        except PeriodError as exc:
            error = str(exc)
            period = Period.last_days(today_in_shanghai(utcnow()))
        board = cached(period)
        return web.render(
            request,
            "dashboard.html",
            status=400 if error else 200,
            d=board,
            data=board.to_json(),
            error=error,
            query=query_of(period),
        )

    @app.get("/dashboard/data")
    def dashboard_data(request: Request) -> JSONResponse:
        try:
            period = period_of(request.query_params)
        except PeriodError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(cached(period).to_json())

    @app.get("/dashboard/report.docx")
    def monitoring_report(request: Request) -> Response:
        try:
            period = period_of(request.query_params)
        except PeriodError as exc:
            raise HTTPException(400, str(exc)) from exc
        body = build_monitoring_report(figures(period))
        web.audit(request, "monitoring_report", detail={"period": period.label()})
        return attachment(body, report_filename(period), DOCX_TYPE)
