"""Bulk actions on a whole filtered set: preview, confirm, count-changed refusal, roles, CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from tests.test_web import login
from tests.web_ops import ids, seeded_queue, workbench
from tiequan.leads.queue import LeadQueue
from tiequan.storage.store import WEB_AUDIT
from tiequan.web.bulk import SAMPLE

SLIMMING = {"category": "slimming_aphrodisiac"}


@pytest.fixture
def queue(db: Database[dict[str, Any]]) -> LeadQueue:
    return seeded_queue(db, n=14, miracle=2)


@pytest.fixture
def client(db: Database[dict[str, Any]], queue: LeadQueue, tmp_path: Path) -> Iterator[TestClient]:
    with workbench(db, queue, tmp_path / "evidence") as client:
        yield client


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, page
    return match.group(1)


def test_preview_counts_the_whole_set_and_apply_confirms_each_lead(
    client: TestClient, db: Database[dict[str, Any]], queue: LeadQueue
) -> None:
    csrf = login(client, "rev")
    (held,) = queue.claim_many("ana", 1, query=SLIMMING)  # another reviewer holds one
    page = client.get("/leads", params=SLIMMING)
    assert 'action="/leads/bulk/preview"' in page.text
    form = {"csrf": csrf, **SLIMMING, "sort": "score", "action": "confirm", "reason": "证据充分"}
    preview = client.post("/leads/bulk/preview", data=form)
    assert preview.status_code == 200
    assert "当前筛选共 14 条线索，其中 13 条可以“确认线索”，1 条将跳过" in preview.text
    assert preview.text.count('<tr data-href="/leads/') == SAMPLE  # a sample, not all 14
    assert hidden(preview.text, "expected") == "14" and hidden(preview.text, "category")
    assert "由 ana 领取研判中" in preview.text
    assert "筛选条件：类别 声称减肥、壮阳等食品非法添加" in preview.text
    assert db.leads.count_documents({"status": "已确认"}) == 0  # previewing changes nothing
    done = client.post("/leads/bulk/apply", data={**form, "expected": "14"})
    assert done.status_code == 200 and "已确认线索 13 条，跳过 1 条" in done.text
    assert db.leads.count_documents({"status": "已确认"}) == 13
    assert queue.get(held["_id"])["status"] == "研判中"  # type: ignore[index]
    assert db.leads.count_documents({"category": "miracle_drug", "status": "待研判"}) == 2
    assert db.audit.count_documents({"action": "confirm", "actor": "rev"}) == 13
    (record,) = db[WEB_AUDIT].find({"action": "bulk_confirm"})
    assert record["username"] == "rev" and record["detail"]["applied"] == 13
    assert record["detail"]["filter"]["category"] == "slimming_aphrodisiac"


def test_illegal_transitions_are_skipped_with_their_reasons(
    client: TestClient, db: Database[dict[str, Any]], queue: LeadQueue
) -> None:
    csrf = login(client, "rev")
    mine = [d["_id"] for d in queue.claim_many("rev", 3, query=SLIMMING)]
    queue.apply(ids(db, {"status": "待研判"})[0], "dismiss", "rev", reason="重复线索")
    form = {"csrf": csrf, "action": "release"}
    preview = client.post("/leads/bulk/preview", data=form)
    assert "当前筛选共 16 条线索，其中 3 条可以“退回待研判”，13 条将跳过" in preview.text
    assert "当前状态为“待研判”，不能执行“退回待研判”" in preview.text
    assert "当前状态为“已排除”" in preview.text
    done = client.post("/leads/bulk/apply", data={**form, "expected": "16"})
    assert "已退回待研判 3 条，跳过 13 条" in done.text
    assert all(queue.get(i)["claimed_by"] is None for i in mine)  # type: ignore[index]


def test_a_changed_count_is_refused_and_previewed_again(
    client: TestClient, db: Database[dict[str, Any]], queue: LeadQueue
) -> None:
    csrf = login(client, "rev")
    form = {"csrf": csrf, "status": "待研判", "action": "dismiss", "reason": "店铺已关闭"}
    preview = client.post("/leads/bulk/preview", data=form)
    expected = hidden(preview.text, "expected")
    assert expected == "16"
    queue.apply(ids(db)[0], "confirm", "ana")  # meanwhile one lead leaves the filter
    refused = client.post("/leads/bulk/apply", data={**form, "expected": expected})
    assert refused.status_code == 409
    assert "筛选结果已变化：确认时为 16 条，现在为 15 条" in refused.text
    assert hidden(refused.text, "expected") == "15"  # the fresh preview's form
    assert db.leads.count_documents({"status": "已排除"}) == 0
    done = client.post("/leads/bulk/apply", data={**form, "expected": "15"})
    assert done.status_code == 200 and db.leads.count_documents({"status": "已排除"}) == 15


def test_refer_only_when_every_lead_may_be_referred(
    client: TestClient, db: Database[dict[str, Any]], queue: LeadQueue
) -> None:
    csrf = login(client, "rev")
    queue.apply_many(SLIMMING, "confirm", "rev")
    everything = {"csrf": csrf, "action": "refer"}
    preview = client.post("/leads/bulk/preview", data=everything)
    assert "须当前筛选的全部线索均可执行，有 2 条不可执行" in preview.text
    assert 'action="/leads/bulk/apply"' not in preview.text
    refused = client.post("/leads/bulk/apply", data={**everything, "expected": "16"})
    assert refused.status_code == 409 and db.leads.count_documents({"status": "已移送"}) == 0
    confirmed = {**everything, **SLIMMING}
    assert 'action="/leads/bulk/apply"' in client.post("/leads/bulk/preview", data=confirmed).text
    client.post("/leads/bulk/apply", data={**confirmed, "expected": "14"})
    assert db.leads.count_documents({"status": "已移送"}) == 14


def test_dismiss_needs_a_reason_and_unknown_actions_are_refused(
    client: TestClient, db: Database[dict[str, Any]]
) -> None:
    csrf = login(client, "rev")
    preview = client.post("/leads/bulk/preview", data={"csrf": csrf, "action": "dismiss"})
    assert "“排除”须填写理由" in preview.text and 'action="/leads/bulk/apply"' not in preview.text
    for action in ("close", "police", "<script>"):
        response = client.post("/leads/bulk/preview", data={"csrf": csrf, "action": action})
        assert response.status_code == 400 and "不能批量执行的操作" in response.text
    bad = client.post(
        "/leads/bulk/preview", data={"csrf": csrf, "action": "confirm", "min_score": "x"}
    )
    assert "分值须为数字" in bad.text and 'action="/leads/bulk/apply"' not in bad.text
    assert db.leads.count_documents({"status": "待研判"}) == 16


def test_bulk_actions_are_for_reviewers_and_need_the_csrf_token(
    client: TestClient, db: Database[dict[str, Any]]
) -> None:
    form = {"action": "confirm", "expected": "16"}
    for username in ("ana", "adm", "dwl"):
        csrf = login(client, username)
        for url in ("/leads/bulk/preview", "/leads/bulk/apply"):
            assert client.post(url, data={**form, "csrf": csrf}).status_code == 403, username
        if username != "dwl":
            assert 'action="/leads/bulk/preview"' not in client.get("/leads").text
        client.post("/logout", data={"csrf": csrf})
    csrf = login(client, "rev")
    for token in (None, "wrong" + csrf):
        data = form if token is None else {**form, "csrf": token}
        refused = client.post("/leads/bulk/apply", data=data)
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert db.leads.count_documents({"status": "已确认"}) == 0
