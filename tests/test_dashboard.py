"""The dashboard: its figures on a seeded store, its routes and roles, hostile names, ECharts."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import docx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from pymongo.database import Database

from tests.dashboard_seed import (
    HOSTILE_PARTY,
    HOSTILE_SHOP,
    MIRACLE,
    NOW,
    PERIOD,
    SLIM,
    TOP_PARTY,
    seed,
)
from tiequan.documents.monitoring import DOCX_TYPE
from tiequan.leads.queue import LeadQueue
from tiequan.leads.stats import (
    DECISION_ACTIONS,
    REVIEW_ACTIONS,
    Period,
    PeriodError,
    dashboard,
)
from tiequan.storage.store import WEB_AUDIT
from tiequan.web.accounts import Accounts
from tiequan.web.app import create_app
from tiequan.web.context import HERE

PASSWORD = "correct horse battery"
ROLES = {"rev": "reviewer", "ana": "analyst", "adm": "admin", "dwl": "unit_officer"}
QUERY = "from=2026-03-01&to=2026-03-10"
ROUTES = ("/dashboard", "/dashboard/data", "/dashboard/report.docx")
VENDOR = HERE / "static" / "vendor" / "echarts"


@pytest.fixture
def seeded(db: Database[dict[str, Any]]) -> LeadQueue:
    return seed(db)


@pytest.fixture
def client(db: Database[dict[str, Any]]) -> Iterator[TestClient]:
    accounts = Accounts(db, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name, role in ROLES.items():
        extra = {"bureau_key": "dongwulan"} if role == "unit_officer" else {}
        accounts.add(name, role, PASSWORD, **extra)
    app = create_app(db, queue=LeadQueue(db), accounts=accounts)
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def login(client: TestClient, username: str) -> None:
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    data = {"username": username, "password": PASSWORD, "csrf": token.group(1)}
    assert client.post("/login", data=data).status_code == 303


def test_figures_of_the_seeded_store(db: Database[dict[str, Any]], seeded: LeadQueue) -> None:
    d = dashboard(db, PERIOD, NOW)
    assert d.days[0] == "2026-03-01" and d.days[-1] == "2026-03-10" and len(d.days) == 10
    # L6 at the period's first moment is in; L4 a minute before and L5 after are out;
    # L2 at 23:30 Beijing time is counted on its Beijing day.
    assert d.leads == 4
    assert d.by_day == (1, 2, 0, 0, 1, 0, 0, 0, 0, 0)
    assert [(c.key, c.label, c.count) for c in d.by_category] == [
        (SLIM, "减肥壮阳类", 3),
        (MIRACLE, "神药类", 1),
    ]
    assert [(s.key, s.total, s.per_day[:5]) for s in d.category_days] == [
        (SLIM, 3, (1, 2, 0, 0, 0)),
        (MIRACLE, 1, (0, 0, 0, 0, 1)),
    ]
    assert [(c.label, c.count) for c in d.by_unit] == [
        ("价格、反垄断和网络交易（广告）监督管理股", 4)
    ]
    assert [(c.key, c.label, c.count) for c in d.by_bureau] == [
        ("dongwulan", "东乌兰旗市场监督管理局", 2),
        ("", "未能确定管辖", 1),
        ("xiwulan", "西乌兰旗市场监督管理局", 1),
    ]
    assert [(c.label, c.count) for c in d.by_severity] == [("立案", 3), ("提醒告诫", 1)]
    assert [(c.key, c.label, c.count) for c in d.top_parties] == [
        ("uscc:P1", TOP_PARTY, 2),
        ("shop:P2", HOSTILE_SHOP, 1),
        ("shop:P3", HOSTILE_PARTY, 1),
    ]


def test_decisions_precision_and_throughput(
    db: Database[dict[str, Any]], seeded: LeadQueue
) -> None:
    d = dashboard(db, PERIOD, NOW)
    # Each lead once, by its latest decision in the period: L1 confirmed, referred and
    # closed (confirmed-like), L2 dismissed, L6 dismissed, reopened, then confirmed; L4
    # (found before the period) sent to the police in it; L5's admonition is after it.
    rows = [(r.category, r.decided, r.confirmed, r.dismissed, r.precision) for r in d.decisions]
    assert rows == [(SLIM, 3, 2, 1, 2 / 3), (MIRACLE, 1, 1, 0, 1.0)]
    assert (d.decided, d.confirmed, d.precision) == (4, 3, 0.75)
    assert {a.key: a.count for a in d.actions} == {
        "confirm": 2, "refer": 1, "admonish": 0, "police": 1, "dismiss": 2, "close": 1,
    }  # fmt: skip
    assert [a.label for a in d.actions] == [
        "确认线索",
        "移送",
        "提醒告诫",
        "移送公安",
        "排除",
        "办结",
    ]
    # Reviewers' decisions per day; the unit's 办结 and the reopen are no reviewer decisions.
    assert [(r.key, r.total, r.per_day[:5]) for r in d.reviewers] == [
        ("rev", 4, (0, 1, 1, 2, 0)),
        ("rev2", 2, (0, 0, 1, 0, 1)),
    ]
    assert "close" in DECISION_ACTIONS and "close" not in REVIEW_ACTIONS
    assert "reopen" not in DECISION_ACTIONS and "claim" not in DECISION_ACTIONS


def test_overdue_and_sweep_health(db: Database[dict[str, Any]], seeded: LeadQueue) -> None:
    d = dashboard(db, PERIOD, NOW)
    # L6 (confirmed 03-04, 2 days) and L3 (pending since 03-05, due 03-08); L2 and L1 are
    # final, L4 (police, 30 days) and L5 (due 03-20, then admonished) are not yet due.
    assert d.overdue == 2
    assert [(o.lead_id, o.status, o.party) for o in d.overdue_leads] == [
        ("L6", "已确认", HOSTILE_PARTY),
        ("L3", "待研判", HOSTILE_SHOP),
    ]
    assert (d.sweeps.runs, d.sweeps.pages, d.sweeps.items) == (2, 15, 12)
    assert (d.sweeps.errors, d.sweeps.findings, d.sweeps.leads_new) == (1, 4, 3)
    runs = [(r.run_id, r.pages, r.items, r.errors, r.duration_s) for r in d.runs]
    assert runs == [("R2", 5, 4, 0, 7.25), ("R1", 10, 8, 1, 12.5)]
    started = d.runs[0].started_at
    assert started is not None and started.isoformat() == "2026-03-09T02:00:00+08:00"
    doc = d.to_json()
    assert doc["precision"] == 0.75 and doc["decisions"][0]["precision"] == 2 / 3
    assert doc["period"] == {"start": "2026-03-01", "end": "2026-03-10"}
    assert doc["runs"][0]["started_at"] == "2026-03-08T18:00:00+00:00"
    json.dumps(doc)  # plain JSON values only


def test_an_empty_database(db: Database[dict[str, Any]]) -> None:
    d = dashboard(db, PERIOD, NOW)
    assert (d.leads, d.decided, d.overdue, d.sweeps.runs) == (0, 0, 0, 0)
    assert d.precision is None and d.by_day == (0,) * 10
    assert d.by_category == d.decisions == d.reviewers == d.runs == ()
    assert [a.count for a in d.actions] == [0] * len(DECISION_ACTIONS)


def test_periods() -> None:
    today = date(2026, 3, 10)
    assert Period.parse(None, None, today) == Period(date(2026, 2, 9), today)
    assert Period.parse("", "2026-03-05", today) == Period(date(2026, 2, 4), date(2026, 3, 5))
    assert Period.parse("2026-03-01", None, today).days()[-1] == "2026-03-10"
    bad = [
        (("2026-3-1", None), "日期格式有误：--from 2026-3-1（应为 YYYY-MM-DD）"),
        ((None, "2026-02-30"), "日期格式有误：--to 2026-02-30（应为 YYYY-MM-DD）"),
        (("2026-03-09", "2026-03-01"), "起始日期 2026-03-09 晚于截止日期 2026-03-01"),
        (("2000-01-01", "2026-03-01"), "统计期间最长 3660 天"),
    ]
    for (start, end), message in bad:
        with pytest.raises(PeriodError, match=re.escape(message)):
            Period.parse(start, end, today)


def test_routes_and_roles(client: TestClient, seeded: LeadQueue) -> None:
    for route in ROUTES:
        assert client.get(route).headers["location"] == "/login"
    login(client, "dwl")
    for route in ROUTES:
        response = client.get(f"{route}?{QUERY}")
        assert response.status_code == 403 and "无权访问" in response.text, route
    assert "/dashboard" not in client.get("/unit").text
    for username in ("rev", "ana", "adm"):
        login(client, username)
        page = client.get(f"/dashboard?{QUERY}")
        assert page.status_code == 200, username
        assert '<a href="/dashboard">监测看板</a>' in page.text
        data = client.get(f"/dashboard/data?{QUERY}")
        assert data.status_code == 200 and data.headers["content-type"] == "application/json"
        assert data.json()["leads"] == 4
        report = client.get(f"/dashboard/report.docx?{QUERY}")
        assert report.status_code == 200 and report.headers["content-type"] == DOCX_TYPE
        assert report.headers["content-disposition"].startswith("attachment;")
        assert "2026-03-01_2026-03-10.docx" in report.headers["content-disposition"]


def test_page_tables_hold_the_figures(
    client: TestClient, seeded: LeadQueue, db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    login(client, "ana")
    page = client.get(f"/dashboard?{QUERY}").text
    assert "统计期间：2026-03-01 至 2026-03-10" in page
    assert "<tr><td>减肥壮阳类</td><td>3</td></tr>" in page
    assert "<tr><td>未能确定管辖</td><td>1</td></tr>" in page
    assert "<tr><td>减肥壮阳类</td><td>3</td><td>2</td><td>1</td><td>66.7%</td></tr>" in page
    assert "<tr><th>准确率（确认类 ÷ 研判）</th><td>75.0%</td></tr>" in page
    assert "<tr><td>rev</td><td>4</td><td>3</td><td>2</td></tr>" in page
    assert "<tr><td>R1</td><td>2026-03-02 02:00</td><td>10</td><td>8</td>" in page
    assert f'href="/dashboard/report.docx?{QUERY.replace("&", "&amp;")}"' in page
    # The download is audited, with its period.
    body = client.get(f"/dashboard/report.docx?{QUERY}").content
    path = tmp_path / "r.docx"
    path.write_bytes(body)
    assert "网络交易监测报告" in [p.text for p in docx.Document(str(path)).paragraphs]
    record = db[WEB_AUDIT].find_one({"action": "monitoring_report"})
    assert record and record["username"] == "ana"
    assert record["detail"] == {"period": "2026-03-01 至 2026-03-10"}


def test_an_empty_database_page(client: TestClient) -> None:
    login(client, "rev")
    page = client.get("/dashboard")
    assert page.status_code == 200 and "本期无数据。" in page.text
    assert "本期无巡查记录。" in page.text and "目前没有超期线索。" in page.text
    assert client.get("/dashboard/report.docx").status_code == 200


def test_bad_dates(client: TestClient) -> None:
    login(client, "rev")
    page = client.get("/dashboard?from=2026-13-01")
    assert page.status_code == 400
    assert "日期格式有误：from 2026-13-01（应为 YYYY-MM-DD）" in page.text
    data = client.get("/dashboard/data?from=2026-03-09&to=2026-03-01")
    assert data.status_code == 400 and data.headers["content-type"] == "application/json"
    assert data.json() == {"error": "起始日期 2026-03-09 晚于截止日期 2026-03-01"}
    report = client.get("/dashboard/report.docx?to=x")
    assert report.status_code == 400 and "日期格式有误：to x" in report.text


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.data: dict[str, str] = {}
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = dict(attrs).get("id") if tag == "script" else None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.data[self._in] = self.data.get(self._in, "") + data

    def handle_endtag(self, tag: str) -> None:
        self._in = None


def test_hostile_names_stay_inert(client: TestClient, seeded: LeadQueue) -> None:
    login(client, "rev")
    page = client.get(f"/dashboard?{QUERY}").text
    parser = _Tags()
    parser.feed(page)
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts == [
        {"src": "/static/app.js", "defer": None},
        {"type": "application/json", "id": "dashboard-data"},
        {"src": "/static/vendor/echarts/echarts.min.js"},
        {"src": "/static/dashboard.js"},
    ]
    for tag, attrs in parser.tags:
        assert tag not in ("img", "svg", "iframe", "textarea"), tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "style" not in attrs, tag
    # In the tables, escaped; in the JSON element, no "<" at all, yet the same text.
    assert "<td>$\\frac{$&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x" in page
    raw = parser.data["dashboard-data"]
    assert "<" not in raw and ">" not in raw
    assert "<td>&lt;/textarea&gt;&lt;svg onload=alert(3)&gt;{{7*7}}</td>" in page
    labels = [p["label"] for p in json.loads(raw)["top_parties"]]
    assert HOSTILE_PARTY in labels and HOSTILE_SHOP in labels
    embedded, served = json.loads(raw), client.get(f"/dashboard/data?{QUERY}").json()
    embedded.pop("generated_at"), served.pop("generated_at")
    assert embedded == served


def test_echarts_is_vendored_and_served(client: TestClient) -> None:
    expected, name = (VENDOR / "SHA256SUMS").read_text(encoding="utf-8").split()
    assert name == "echarts.min.js"
    served = client.get("/static/vendor/echarts/echarts.min.js")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/javascript")
    assert hashlib.sha256(served.content).hexdigest() == expected
    assert served.headers["x-content-type-options"] == "nosniff"
    version = re.search(r"echarts@(\d+\.\d+\.\d+)", (VENDOR / "VENDOR.md").read_text("utf-8"))
    assert version and f'version="{version.group(1)}"'.encode() in served.content
    for licence in ("LICENSE", "NOTICE", "LICENSE-zrender", "LICENSE-d3"):
        assert (VENDOR / licence).stat().st_size > 100, licence
    script = client.get("/static/dashboard.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert "innerHTML" not in script.text and "textContent" in script.text
