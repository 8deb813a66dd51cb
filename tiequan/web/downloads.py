"""Documents of the leads the queue filter selects: referral forms and extraction records
(one DOCX per lead, in a zip) and the lead ledger (XLSX).

The documents are tiequan.documents' own (``export_forms``, ``build_ledger``); a filter
selecting more leads than a download may hold is refused with a message on the queue page.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path
from tempfile import TemporaryDirectory
from zipfile import ZIP_DEFLATED, ZipFile

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from tiequan.documents import build_ledger, export_forms
from tiequan.leads.model import Case
from tiequan.storage.store import utcnow
from tiequan.timefmt import local_time
from tiequan.web.context import READERS, RouteRoles, Web, attachment
from tiequan.web.queueform import describe, filter_params, queue_link
from tiequan.web.views import SORTS, QueueFilter

FORM_LIMIT = 100  # leads per zip of forms (each form is built with its screenshot)
LEDGER_LIMIT = 10_000  # rows per ledger
FORMS = {"referral": "案件线索移送单", "extraction": "电子数据提取笔录"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROUTES: RouteRoles = {
    ("GET", "/leads/export/referral"): READERS,
    ("GET", "/leads/export/extraction"): READERS,
    ("GET", "/leads/export/ledger"): READERS,
}


def register(app: FastAPI, web: Web) -> None:
    def selected(request: Request, limit: int) -> tuple[QueueFilter, list[Case]] | Response:
        """The filter's leads in its sort order, or a redirect back with the reason."""
        f = QueueFilter.from_params(request.query_params)
        problem = "；".join(f.errors)
        if not problem:
            total = web.queue.count_matching(f.query())
            if total == 0:
                problem = "当前筛选没有线索，没有可下载的文书"
            elif total > limit:
                problem = (
                    f"当前筛选共 {total} 条线索，超过一次下载的上限 {limit} 条，"
                    "请缩小筛选范围后分批下载"
                )
        if problem:
            web.flash(request, problem)
            return RedirectResponse(queue_link(f), 303)
        key, descending, _ = SORTS[f.sort]
        return f, web.queue.matching_cases(f.query(), [(key, -1 if descending else 1)], limit)

    def stamp() -> str:
        return local_time(utcnow(), "%Y%m%d-%H%M")

    def forms(request: Request, form: str) -> Response:
        found = selected(request, FORM_LIMIT)
        if isinstance(found, Response):
            return found
        f, cases = found
        body = BytesIO()
        with TemporaryDirectory(prefix="tiequan-forms-") as tmp:
            ids = [case.id for case in cases]
            result = export_forms(web.db, ids, Path(tmp), store=web.artefacts, forms=[form])
            with ZipFile(body, "w", ZIP_DEFLATED) as archive:
                for path in result.files:
                    archive.write(path, path.name)
        web.audit(
            request, f"download_{form}", detail={"filter": filter_params(f), "count": len(ids)}
        )
        return attachment(body.getvalue(), f"{FORMS[form]}-{stamp()}.zip", "application/zip")

    @app.get("/leads/export/referral")
    def referral_forms(request: Request) -> Response:
        return forms(request, "referral")

    @app.get("/leads/export/extraction")
    def extraction_records(request: Request) -> Response:
        return forms(request, "extraction")

    @app.get("/leads/export/ledger")
    def ledger(request: Request) -> Response:
        found = selected(request, LEDGER_LIMIT)
        if isinstance(found, Response):
            return found
        f, cases = found
        body = BytesIO()
        build_ledger(cases, now=utcnow(), description=describe(f, web.queue.categories)).save(body)
        web.audit(
            request, "download_ledger", detail={"filter": filter_params(f), "count": len(cases)}
        )
        return attachment(body.getvalue(), f"线索台账-{stamp()}.xlsx", XLSX)
