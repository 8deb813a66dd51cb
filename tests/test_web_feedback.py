"""The unit's feedback (returned referrals), dismiss reasons from config, comments on a lead."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from tests import test_web
from tests.test_web import HOSTILE, login
from tiequan.cli import main as cli_main
from tiequan.evidence.artefacts import ArtefactStore
from tiequan.leads.comments import MAX_COMMENT
from tiequan.leads.queue import LeadQueue
from tiequan.settings import environment
from tiequan.storage.store import COMMENTS, WEB_AUDIT
from tiequan.web.accounts import Accounts
from tiequan.web.app import create_app
from tiequan.web.workbench import WorkbenchConfigError, default_path, load_workbench

# The workbench fixtures of tests/test_web.py: two leads, five accounts, a client.
queue = test_web.queue
artefacts = test_web.artefacts
leads = test_web.leads
accounts = test_web.accounts
app_client = test_web.app_client


def flash(page: str) -> str:
    found = re.search(r'class="flash"[^>]*>(.*?)<', page, re.S)
    return found.group(1).strip() if found else ""


def refer(client: TestClient, lead_id: str) -> None:
    csrf = login(client, "rev")
    for action in ("claim", "confirm", "refer"):
        response = client.post(
            f"/leads/{lead_id}/action", data={"action": action, "csrf": csrf, "reason": "证据充分"}
        )
        assert response.status_code == 303
    client.post("/logout", data={"csrf": csrf})


def test_a_unit_returns_a_referral_and_the_reviewer_sees_why(
    app_client: TestClient, leads: dict[str, str], queue: LeadQueue, db: Database[dict[str, Any]]
) -> None:
    lead_id = leads["plain"]
    refer(app_client, lead_id)

    # Another county's officer cannot return it.
    other = login(app_client, "other")
    refused = app_client.post(f"/unit/{lead_id}/return", data={"csrf": other, "reason": "不管"})
    assert refused.status_code == 404
    app_client.post("/logout", data={"csrf": other})

    unit = login(app_client, "dwl")
    assert f'action="/unit/{lead_id}/return"' in app_client.get("/unit").text
    # Without a reason the lifecycle refuses, and says so.
    app_client.post(f"/unit/{lead_id}/return", data={"csrf": unit, "reason": " "})
    assert "须填写理由" in flash(app_client.get("/unit").text)
    lead = queue.get(lead_id)
    assert lead is not None and lead["status"] == "已移送"
    response = app_client.post(
        f"/unit/{lead_id}/return", data={"csrf": unit, "reason": "经营地址不在本旗"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/unit"
    lead = queue.get(lead_id)
    assert lead is not None and lead["status"] == "已确认"
    unit_page = app_client.get("/unit").text
    assert "已退回移送" in flash(unit_page)
    assert f'href="/leads/{lead_id}"' not in unit_page  # no longer with the unit
    app_client.post("/logout", data={"csrf": unit})
    audit = db[WEB_AUDIT].find_one({"action": "lead_return"})
    assert audit is not None and audit["username"] == "dwl" and audit["lead_id"] == lead_id
    assert audit["detail"]["reason"] == "经营地址不在本旗"

    csrf = login(app_client, "rev")
    todo = app_client.get("/").text
    returned = todo.split("被退回的线索")[1]
    assert lead_id in returned and "经营地址不在本旗" in returned and "dwl" in returned
    page = app_client.get(f"/leads/{lead_id}").text
    feedback = page.split("<h2>办理反馈</h2>")[1].split("</section>")[0]
    assert "退回移送" in feedback and "经营地址不在本旗" in feedback and "dwl" in feedback
    labels = page.split("<h2>标注记录</h2>")[1].split("</section>")[0]
    assert labels.count("正例") == 2 and "退回移送" in labels and "无结论" in labels
    # The reviewer refers it again; the unit closes it; the outcome joins the feedback.
    app_client.post(f"/leads/{lead_id}/action", data={"action": "refer", "csrf": csrf})
    assert lead_id not in app_client.get("/").text.split("被退回的线索")[1]
    app_client.post("/logout", data={"csrf": csrf})
    unit = login(app_client, "dwl")
    app_client.post(f"/unit/{lead_id}/close", data={"csrf": unit, "outcome": "已责令整改"})
    # A closed lead cannot be returned: the lifecycle's message.
    app_client.post(f"/unit/{lead_id}/return", data={"csrf": unit, "reason": "又不管了"})
    assert "不能执行“退回移送”" in flash(app_client.get("/unit").text)
    page = app_client.get(f"/leads/{lead_id}").text
    feedback = page.split("<h2>办理反馈</h2>")[1].split("</section>")[0]
    assert feedback.index("已责令整改") < feedback.index("经营地址不在本旗")  # newest first
    lead = queue.get(lead_id)
    assert lead is not None and lead["status"] == "已办结"


def test_the_shipped_dismiss_reasons() -> None:
    assert default_path() == environment().config_dir / "workbench.yaml"
    reasons = load_workbench().dismiss_reasons
    assert "证据不足" in reasons and len(reasons) == len(set(reasons)) >= 3


@pytest.fixture
def custom_client(
    tmp_path: Path,
    db: Database[dict[str, Any]],
    queue: LeadQueue,
    accounts: Accounts,
    artefacts: ArtefactStore,
) -> Iterator[TestClient]:
    path = tmp_path / "workbench.yaml"
    path.write_text("dismiss_reasons:\n  - 本局自定理由\n  - 平台已处理\n", encoding="utf-8")
    app = create_app(
        db, queue=queue, accounts=accounts, artefacts=artefacts, workbench=load_workbench(path)
    )
    with TestClient(app, follow_redirects=False) as client:
        yield client


def test_dismiss_offers_the_configured_reasons_and_refuses_others(
    custom_client: TestClient, leads: dict[str, str], queue: LeadQueue
) -> None:
    csrf = login(custom_client, "rev")
    plain, hostile = leads["plain"], leads["hostile"]
    page = custom_client.get(f"/leads/{plain}").text
    assert "<option>本局自定理由</option>" in page and "<option>平台已处理</option>" in page
    assert "宣传内容合法" not in page
    url = f"/leads/{plain}/action"
    data = {"action": "dismiss", "csrf": csrf, "preset": "宣传内容合法", "reason": "补充"}
    assert custom_client.post(url, data=data).status_code == 303
    assert "未知的排除理由：宣传内容合法" in flash(custom_client.get(f"/leads/{plain}").text)
    lead = queue.get(plain)
    assert lead is not None and lead["status"] == "待研判"
    custom_client.post(url, data=data | {"preset": "本局自定理由"})
    lead = queue.get(plain)
    assert lead is not None and lead["status"] == "已排除"
    assert lead["decision"]["reason"] == "本局自定理由；补充"
    # A reason of the reviewer's own, without a preset, is still accepted.
    custom_client.post(
        f"/leads/{hostile}/action", data={"action": "dismiss", "csrf": csrf, "reason": "自拟理由"}
    )
    lead = queue.get(hostile)
    assert lead is not None and lead["decision"]["reason"] == "自拟理由"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dismiss_reasons:\n  - 甲\n  - 123\n", "field dismiss_reasons[1]: bad value 123"),
        ("dismiss_reasons: []\n", "field dismiss_reasons: bad value []"),
        ("dismiss_reasons:\n  - 甲\n  - 甲\n", "field dismiss_reasons: bad value ['甲', '甲']"),
        ("dismiss_reasons:\n  - 甲\nreasons: [乙]\n", "field <root>: bad value"),
        ("reasons: [乙]\n", "field <root>: bad value {'reasons': ['乙']}"),
        ("dismiss_reasons: [甲\n", "invalid YAML"),
    ],
)
def test_a_malformed_workbench_config_names_file_field_and_value(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "workbench.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(WorkbenchConfigError) as err:
        load_workbench(path)
    assert str(err.value).startswith(f"{path}: ") and expected in str(err.value)
    with pytest.raises(WorkbenchConfigError, match="cannot read file"):
        load_workbench(tmp_path / "missing.yaml")


def test_comments_are_escaped_role_checked_and_audited(
    app_client: TestClient, leads: dict[str, str], db: Database[dict[str, Any]]
) -> None:
    plain = leads["plain"]
    url = f"/leads/{plain}/comments"
    csrf = login(app_client, "ana")
    assert app_client.post(url, data={"text": "没有令牌"}).status_code == 403  # CSRF
    assert app_client.post(url, data={"csrf": csrf, "text": HOSTILE}).status_code == 303
    app_client.post(url, data={"csrf": csrf, "text": "长" * (MAX_COMMENT + 1)})
    page = app_client.get(f"/leads/{plain}").text
    assert f"评论不能超过 {MAX_COMMENT} 字" in flash(page)
    comments = page.split('id="comments"')[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in comments and "<script>alert" not in page
    assert "<svg" not in page and "ana" in comments and "评论（1）" in page
    app_client.post("/logout", data={"csrf": csrf})
    audit = db[WEB_AUDIT].find_one({"action": "lead_comment"})
    assert audit is not None and audit["username"] == "ana" and audit["detail"]["text"] == HOSTILE

    # An admin may read the lead but not comment; a unit officer only on a lead it was sent.
    csrf = login(app_client, "adm")
    assert 'action="/leads/' not in app_client.get(f"/leads/{plain}").text
    assert app_client.post(url, data={"csrf": csrf, "text": "管理员"}).status_code == 403
    app_client.post("/logout", data={"csrf": csrf})
    csrf = login(app_client, "dwl")
    assert app_client.post(url, data={"csrf": csrf, "text": "尚未移送"}).status_code == 404
    app_client.post("/logout", data={"csrf": csrf})
    refer(app_client, plain)
    csrf = login(app_client, "dwl")
    assert app_client.post(url, data={"csrf": csrf, "text": "已收到，正在核查"}).status_code == 303
    assert "已收到，正在核查" in app_client.get(f"/leads/{plain}").text
    assert app_client.post(url, data={"csrf": csrf, "text": "   "}).status_code == 303
    assert "评论内容不能为空" in flash(app_client.get(f"/leads/{plain}").text)
    authors = [d["author"] for d in db[COMMENTS].find().sort("at", 1)]
    assert authors == ["ana", "dwl"]


def test_serve_refuses_a_malformed_workbench_config(
    monkeypatch: pytest.MonkeyPatch,
    mongo_uri: str,
    db: Database[dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "workbench.yaml").write_text("dismiss_reasons: 重复线索\n", encoding="utf-8")
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    monkeypatch.setenv("TIEQUAN_CONFIG_DIR", str(tmp_path))
    assert cli_main.main(["serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'workbench.yaml'}: field dismiss_reasons: bad value '重复线索'" in err
