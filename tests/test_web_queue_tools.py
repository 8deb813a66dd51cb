"""The queue page's tools: 领取 N 条 with a lease, saved views, and the filter's downloads."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import docx
import openpyxl
import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from tests.test_web import login
from tests.web_ops import ids, seeded_queue, workbench
from tiequan.leads.queue import LeadQueue
from tiequan.storage.store import SAVED_VIEWS, WEB_AUDIT, utcnow
from tiequan.web import downloads, savedviews, views

MIRACLE = {"category": "miracle_drug"}


@pytest.fixture
def queue(db: Database[dict[str, Any]]) -> LeadQueue:
    return seeded_queue(db, n=6, miracle=2)


@pytest.fixture
def client(db: Database[dict[str, Any]], queue: LeadQueue, tmp_path: Path) -> Iterator[TestClient]:
    with workbench(db, queue, tmp_path / "evidence") as client:
        yield client


def test_claim_n_from_the_todo_page_and_within_the_filter(
    client: TestClient, db: Database[dict[str, Any]]
) -> None:
    csrf = login(client, "rev")
    assert 'action="/leads/claim"' in client.get("/").text
    best = ids(db)[:5]
    taken = client.post("/leads/claim", data={"csrf": csrf, "n": "5"})
    assert taken.status_code == 303 and taken.headers["location"] == "/"
    todo = client.get("/").text
    assert "已领取 5 条线索，领取有效期至" in todo and "我认领的线索（5）" in todo
    assert ids(db, {"claimed_by": "rev"}) == best
    record = db[WEB_AUDIT].find_one({"action": "lead_claim_many"})
    assert record is not None and record["detail"]["lead_ids"] == best
    # From the queue page, restricted to the filter: only its leads, however many are asked.
    assert 'name="scoped"' in client.get("/leads", params=MIRACLE).text
    client.post("/leads/claim", data={"csrf": csrf, "n": "20", "scoped": "1", **MIRACLE})
    assert db.leads.count_documents({"claimed_by": "rev", **MIRACLE}) == 2
    assert db.leads.count_documents({"claimed_by": "rev"}) == 7
    client.post("/leads/claim", data={"csrf": csrf, "n": "20", "scoped": "1", **MIRACLE})
    assert "没有可领取的待研判线索" in client.get("/").text
    assert client.post("/leads/claim", data={"csrf": csrf, "n": "1000"}).status_code == 400


def test_the_todo_page_lists_the_first_claimed_leads_and_links_to_the_rest(
    client: TestClient, db: Database[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(views, "TODO_SHOWN", 3)
    csrf = login(client, "rev")
    for _ in range(3):
        client.post("/leads/claim", data={"csrf": csrf, "n": "1"})
    assert "我认领的线索（3）" in client.get("/").text
    client.post("/leads/claim", data={"csrf": csrf, "n": "1"})
    todo = client.get("/").text
    assert "我认领的线索（3 条以上）" in todo and 'href="/leads?claimed_by=rev"' in todo
    mine = todo.split("我认领的线索")[1].split("今日到期")[0]
    shown = [i for i in ids(db, {"claimed_by": "rev"}) if f"/leads/{i}" in mine]
    assert len(shown) == 3
    # The overdue list is cut the same way, the most overdue first.
    lead_ids = ids(db, {})
    for n, lead_id in enumerate(lead_ids):
        due = utcnow() - timedelta(days=n + 1)
        db.leads.update_one({"_id": lead_id}, {"$set": {"due_at": due, "status": "待研判"}})
    overdue = client.get("/").text.split("已超期")[1].split("被退回的线索")[0]
    assert len(lead_ids) > 3 and overdue.startswith("（3 条以上）")
    assert 'href="/dashboard"' in overdue
    assert [i for i in lead_ids if f"/leads/{i}" in overdue] == lead_ids[-3:]


def test_an_expired_claim_is_refused_on_the_lead_page_and_opening_renews_a_live_one(
    client: TestClient, db: Database[dict[str, Any]], queue: LeadQueue
) -> None:
    csrf = login(client, "rev")
    client.post("/leads/claim", data={"csrf": csrf, "n": "5"})
    first, second = ids(db, {"claimed_by": "rev"})[:2]
    soon = utcnow() + timedelta(minutes=1)
    db.leads.update_many({"claimed_by": "rev"}, {"$set": {"lease_until": soon}})
    assert client.get(f"/leads/{first}").status_code == 200
    renewed = queue.get(first)
    assert renewed is not None and renewed["lease_until"] > soon + timedelta(minutes=20)
    db.leads.update_one({"_id": second}, {"$set": {"lease_until": utcnow() - timedelta(minutes=1)}})
    client.post(f"/leads/{second}/action", data={"csrf": csrf, "action": "confirm"})
    assert "领取已于" in client.get(f"/leads/{second}").text
    lead = queue.get(second)
    assert lead is not None and lead["status"] == "研判中" and lead["lease_until"] < utcnow()


def test_saved_views_are_per_user_escaped_limited_and_deletable(
    client: TestClient, db: Database[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    csrf = login(client, "rev")
    name = "<script>alert(1)</script>药品"
    saved = client.post(
        "/leads/views", data={"csrf": csrf, "name": name, **MIRACLE, "sort": "score", "page": "3"}
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/leads?category=miracle_drug&sort=score"
    page = client.get("/leads").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;药品" in page and "<script>alert" not in page
    assert 'href="/leads?category=miracle_drug&amp;sort=score"' in page
    # The same name again replaces the view; an empty or long name is refused.
    client.post("/leads/views", data={"csrf": csrf, "name": name, "status": "待研判"})
    assert db[SAVED_VIEWS].count_documents({"username": "rev"}) == 1
    client.post("/leads/views", data={"csrf": csrf, "name": "  "})
    assert "请填写视图名称" in client.get("/leads").text
    client.post("/leads/views", data={"csrf": csrf, "name": "长" * 41})
    assert "不能超过 40 个字符" in client.get("/leads").text
    monkeypatch.setattr(savedviews, "MAX_VIEWS", 2)
    client.post("/leads/views", data={"csrf": csrf, "name": "第二个"})
    client.post("/leads/views", data={"csrf": csrf, "name": "第三个"})
    assert "每人最多保存 2 个视图" in client.get("/leads").text
    assert client.post("/leads/views", data={"name": "无令牌"}).status_code == 403
    view_id = db[SAVED_VIEWS].find_one({"name": "第二个"})["_id"]  # type: ignore[index]
    client.post("/logout", data={"csrf": csrf})

    other = login(client, "ana")  # another user sees none of them and cannot delete them
    assert "第二个" not in client.get("/leads").text
    assert client.post(f"/leads/views/{view_id}/delete", data={"csrf": other}).status_code == 404
    client.post("/logout", data={"csrf": other})
    csrf = login(client, "rev")
    deleted = client.post(f"/leads/views/{view_id}/delete", data={"csrf": csrf})
    assert deleted.status_code == 303 and "已删除视图“第二个”" in client.get("/leads").text
    assert db[SAVED_VIEWS].count_documents({"username": "rev"}) == 1
    assert client.post("/leads/views", data={"csrf": csrf, "name": "x"}).status_code == 303
    assert login(client, "dwl") and client.post("/leads/views", data={}).status_code == 403


def docx_text(data: bytes) -> str:
    document = docx.Document(io.BytesIO(data))
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in document.paragraphs] + cells)


@pytest.mark.parametrize(
    ("kind", "title"), [("referral", "案件线索移送单"), ("extraction", "电子数据提取笔录")]
)
def test_forms_of_the_filter_download_as_a_zip_of_docx(
    client: TestClient, db: Database[dict[str, Any]], kind: str, title: str
) -> None:
    login(client, "ana")
    assert (
        f'href="/leads/export/{kind}?category=miracle_drug'
        in client.get("/leads", params=MIRACLE).text
    )
    response = client.get(f"/leads/export/{kind}", params=MIRACLE)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename*=UTF-8''") and disposition.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        names = archive.namelist()
        texts = {n: docx_text(archive.read(n)) for n in names}
    wanted = ids(db, MIRACLE)
    assert len(names) == 2 and all(n.endswith(f"{title}.docx") for n in names)
    for lead_id in wanted:
        assert any(lead_id in n and lead_id in text for n, text in texts.items())
    record = db[WEB_AUDIT].find_one({"action": f"download_{kind}"})
    assert record is not None and record["detail"]["count"] == 2


def test_the_ledger_of_the_filter_downloads_as_xlsx(
    client: TestClient, db: Database[dict[str, Any]]
) -> None:
    login(client, "adm")
    response = client.get("/leads/export/ledger", params={**MIRACLE, "sort": "score"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert response.headers["content-disposition"].startswith("attachment;")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content))["线索台账"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    first_column = {row[0] for row in rows}
    assert set(ids(db, MIRACLE)) <= first_column
    assert not set(ids(db, {"category": "slimming_aphrodisiac"})) & first_column


def test_downloads_are_capped_refused_to_unit_officers_and_say_why(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(client, "rev")
    monkeypatch.setattr(downloads, "FORM_LIMIT", 3)
    capped = client.get("/leads/export/referral")
    assert capped.status_code == 303 and capped.headers["location"].startswith("/leads")
    assert "当前筛选共 8 条线索，超过一次下载的上限 3 条" in client.get("/leads").text
    assert client.get("/leads/export/referral", params=MIRACLE).status_code == 200
    empty = client.get("/leads/export/ledger", params={"category": "nothing"})
    assert empty.status_code == 303 and "没有可下载" in client.get("/leads").text
    bad = client.get("/leads/export/ledger", params={"date_from": "2024-13-01"})
    assert bad.status_code == 303 and "起始日期格式" in client.get("/leads").text
    client.post("/logout", data={"csrf": login(client, "rev")})
    login(client, "dwl")
    for kind in ("referral", "extraction", "ledger"):
        assert client.get(f"/leads/export/{kind}").status_code == 403
