"""The analysts' lexicon page: suggestions accepted through the gate, rejections, roles."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from tests.test_lexicon import PHRASE, SLIM, label
from tests.test_web import HOSTILE, login
from tests.web_ops import workbench
from tiequan.leads.labels import LabelStore
from tiequan.leads.queue import LeadQueue
from tiequan.models.lexicon import LexiconStore, TermSpec
from tiequan.models.registry import ModelRecord
from tiequan.storage.store import WEB_AUDIT


@pytest.fixture
def client(
    db: Database[dict[str, Any]], live_model: ModelRecord, tmp_path: Path
) -> Iterator[TestClient]:
    texts = ["夏季新款纤体魔方贴，贴在肚子上就行", "纤体魔方贴 一盒十片", f"纤体魔方贴 {HOSTILE}"]
    LabelStore(db).record_many([label(f"L{i}", "confirm", t, 1) for i, t in enumerate(texts)])
    with workbench(db, LeadQueue(db), tmp_path / "evidence") as client:
        yield client


def forms(page: str, action: str) -> list[dict[str, str]]:
    """The hidden fields of each form posting to ``action``."""
    out = []
    for body in re.findall(rf'<form method="post" action="{action}">(.*?)</form>', page, re.S):
        out.append(dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', body)))
    return out


def test_an_analyst_accepts_a_suggestion_through_the_gate_and_rejects_another(
    client: TestClient, db: Database[dict[str, Any]]
) -> None:
    login(client, "ana")
    assert 'href="/lexicon"' in client.get("/").text
    page = client.get("/lexicon/suggestions")
    assert page.status_code == 200 and "候选新词" in page.text
    assert "<script>alert(1)</script>" not in page.text and "onerror=" not in page.text
    accepts = forms(page.text, "/lexicon/suggestions/accept")
    chosen = next(f for f in accepts if f["phrase"] == PHRASE and f["category"] == SLIM)
    done = client.post("/lexicon/suggestions/accept", data=chosen)
    assert done.status_code == 303 and done.headers["location"] == "/lexicon/suggestions"
    store = LexiconStore(db)
    assert store.version() == 1 and TermSpec(SLIM, PHRASE).key in store.overlay().added
    shown = client.get("/lexicon").text
    assert (
        f"词库版本 1：已新增 {SLIM} 词条“{PHRASE}”" in shown and "参考集测试集核心类别 F1" in shown
    )
    assert "采纳词库建议" in shown  # the history row's reason
    after = client.get("/lexicon/suggestions").text
    assert all(f["phrase"] != PHRASE for f in forms(after, "/lexicon/suggestions/accept"))
    csrf = chosen["csrf"]
    turned = client.post(
        "/lexicon/suggestions/reject", data={"csrf": csrf, "category": SLIM, "phrase": "一盒十片"}
    )
    assert turned.status_code == 303
    assert TermSpec(SLIM, "一盒十片").key in store.rejected() and store.version() == 1
    actions = {d["action"] for d in db[WEB_AUDIT].find({"username": "ana"})}
    assert {"lexicon_add", "lexicon_reject"} <= actions


def test_the_page_is_for_analysts_and_admins_and_posts_need_the_csrf_token(
    client: TestClient, db: Database[dict[str, Any]]
) -> None:
    login(client, "rev")
    assert client.get("/lexicon").status_code == 403
    assert 'href="/lexicon"' not in client.get("/").text
    client.post("/logout", data={"csrf": login(client, "rev")})
    csrf = login(client, "adm")
    assert client.get("/lexicon").status_code == 200
    form = {"category": SLIM, "term": "铁拳速纤灵", "reason": "测试"}
    assert client.post("/lexicon/add", data=form).status_code == 403
    bad = client.post("/lexicon/add", data={**form, "csrf": csrf, "category": "nope"})
    assert bad.status_code == 303
    page = client.get("/lexicon").text
    assert "词条字段 category 的值 &#39;nope&#39; 有误" in page
    assert LexiconStore(db).version() == 0
