"""Saved views: a user's named queue filters (filter and sort), listed on the queue page.

Stored per user in ``saved_views``; saving under a name the user already has replaces it.
The queue page lists them through the template global ``saved_views(user)``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pymongo.collection import Collection
from pymongo.database import Database

from tiequan.storage.store import SAVED_VIEWS, SCHEMA_VERSION, utcnow
from tiequan.text import clean
from tiequan.web.accounts import User
from tiequan.web.context import READERS, RouteRoles, Web
from tiequan.web.queueform import filter_params, form_filter, queue_link

MAX_VIEWS = 20  # per user
MAX_NAME = 40  # characters
ROUTES: RouteRoles = {
    ("POST", "/leads/views"): READERS,
    ("POST", "/leads/views/{view_id}/delete"): READERS,
}


class SavedViewError(ValueError):
    """A view that cannot be saved; the message is for the officer (Chinese)."""


@dataclass(frozen=True)
class SavedView:
    id: str
    name: str
    params: dict[str, str]

    @property
    def link(self) -> str:
        return "/leads?" + urlencode(self.params)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SavedView:
        params = doc.get("params") or {}
        return cls(str(doc["_id"]), str(doc["name"]), {str(k): str(v) for k, v in params.items()})


class SavedViews:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self.coll: Collection[dict[str, Any]] = db[SAVED_VIEWS]

    def for_user(self, username: str) -> list[SavedView]:
        cursor = self.coll.find({"username": username}).sort([("name", 1)])
        return [SavedView.from_doc(d) for d in cursor.limit(MAX_VIEWS)]

    def save(self, username: str, name: str, params: dict[str, str]) -> SavedView:
        name = clean(name)
        if not name:
            raise SavedViewError("请填写视图名称")
        if len(name) > MAX_NAME:
            raise SavedViewError(f"视图名称不能超过 {MAX_NAME} 个字符")
        exists = self.coll.count_documents({"username": username, "name": name}, limit=1)
        if not exists and self.coll.count_documents({"username": username}) >= MAX_VIEWS:
            raise SavedViewError(f"每人最多保存 {MAX_VIEWS} 个视图，请先删除不用的视图")
        now = utcnow()
        self.coll.update_one(
            {"username": username, "name": name},
            {
                "$set": {"params": params, "updated_at": now, "schema": SCHEMA_VERSION},
                "$setOnInsert": {"_id": secrets.token_hex(8), "created_at": now},
            },
            upsert=True,
        )
        doc = self.coll.find_one({"username": username, "name": name})
        assert doc is not None  # just written
        return SavedView.from_doc(doc)

    def delete(self, username: str, view_id: str) -> SavedView | None:
        doc = self.coll.find_one_and_delete({"_id": view_id, "username": username})
        return None if doc is None else SavedView.from_doc(doc)


def register(app: FastAPI, web: Web) -> None:
    views = SavedViews(web.db)

    def saved_views(user: User | None) -> list[SavedView]:
        return views.for_user(user.username) if user else []

    web.env.globals["saved_views"] = saved_views

    @app.post("/leads/views")
    def save_view(request: Request) -> Response:
        form = request.state.form
        f = form_filter(form)
        if f.errors:
            web.flash(request, "；".join(f.errors))
            return RedirectResponse(queue_link(f), 303)
        try:
            view = views.save(
                web.user(request).username, str(form.get("name") or ""), filter_params(f)
            )
        except SavedViewError as exc:
            web.flash(request, str(exc))
            return RedirectResponse(queue_link(f), 303)
        web.audit(request, "view_save", detail={"name": view.name, "params": view.params})
        web.flash(request, f"已保存视图“{view.name}”")
        return RedirectResponse(view.link, 303)

    @app.post("/leads/views/{view_id}/delete")
    def delete_view(request: Request, view_id: str) -> Response:
        view = views.delete(web.user(request).username, view_id[:40])
        if view is None:
            raise HTTPException(404, "视图不存在")
        web.audit(request, "view_delete", detail={"name": view.name})
        web.flash(request, f"已删除视图“{view.name}”")
        return RedirectResponse("/leads", 303)
