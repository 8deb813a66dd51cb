"""The receiving unit's feedback and officers' comments on a lead.

A unit officer sends a referral back with a reason (``return``, back to 已确认) instead of
closing it; the reviewer sees it on the lead page (办理反馈) and on the 待办 page.
Reviewers, analysts and unit officers who may see a lead comment on it. The lead page's
extra sections (feedback, labels, comments) come from ``lead_sections``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from tiequan.leads.comments import MAX_COMMENT, CommentError, CommentStore
from tiequan.leads.labels import LabelStore
from tiequan.leads.queue import LeadNotFound, TransitionError
from tiequan.web.accounts import ROLE_ANALYST, ROLE_REVIEWER, ROLE_UNIT
from tiequan.web.context import UNITS, RouteRoles, Web

COMMENTERS = frozenset({ROLE_REVIEWER, ROLE_ANALYST, ROLE_UNIT})
ROUTES: RouteRoles = {
    ("POST", "/unit/{lead_id}/return"): UNITS,
    ("POST", "/leads/{lead_id}/comments"): COMMENTERS,
}
FEEDBACK_ACTIONS = ("close", "return")  # what a receiving unit reports back
MAX_REASON = 2000


def lead_sections(web: Web, lead: dict[str, Any]) -> dict[str, Any]:
    """The lead page's 标注记录 and 评论 (办理反馈 is read from its history)."""
    return {
        "labels": LabelStore(web.db).for_lead(lead["_id"]),
        "comments": CommentStore(web.db).for_lead(lead["_id"]),
        "commenters": COMMENTERS,
        "feedback_actions": FEEDBACK_ACTIONS,
        "max_comment": MAX_COMMENT,
    }


def register(app: FastAPI, web: Web) -> None:
    comments = CommentStore(web.db)

    @app.post("/unit/{lead_id}/return")
    def unit_return(request: Request, lead_id: str) -> Response:
        user = web.user(request)
        lead_id = web.visible_lead(user, lead_id)["_id"]
        reason = str(request.state.form.get("reason") or "").strip()[:MAX_REASON]
        try:
            updated = web.queue.apply(lead_id, "return", user.username, reason=reason or None)
        except LeadNotFound as exc:
            raise HTTPException(404, "线索不存在") from exc
        except TransitionError as exc:
            web.flash(request, str(exc))
        else:
            web.audit(
                request,
                "lead_return",
                lead_id=updated["_id"],
                detail={"to_status": updated["status"], "reason": reason},
            )
            web.flash(request, f"已退回移送：线索 {updated['_id']} → {updated['status']}")
        return RedirectResponse("/unit", 303)

    @app.post("/leads/{lead_id}/comments")
    def add_comment(request: Request, lead_id: str) -> Response:
        user = web.user(request)
        lead_id = web.visible_lead(user, lead_id)["_id"]
        text = str(request.state.form.get("text") or "")
        try:
            comment = comments.add(lead_id, user.username, user.role, text)
        except CommentError as exc:
            web.flash(request, str(exc))
        else:
            web.audit(
                request,
                "lead_comment",
                lead_id=lead_id,
                detail={"comment_id": comment.id, "text": comment.text},
            )
            web.flash(request, "评论已添加")
        return RedirectResponse(f"/leads/{quote(lead_id, safe='')}#comments", 303)
