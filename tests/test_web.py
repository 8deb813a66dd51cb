"""The review workbench: authorisation of every route, CSRF, lockout, escaping, the review loop."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pymongo.database import Database

from tests.test_leads import finding as leads_finding
from tests.test_leads import listing as leads_listing
from tiequan.cli import main as cli_main
from tiequan.evidence.artefacts import ArtefactStore
from tiequan.leads.queue import LeadQueue, make_lead_id
from tiequan.party.creditcode import check_digit
from tiequan.storage.store import EVIDENCE, WEB_AUDIT, Store, utcnow
from tiequan.web.accounts import MAX_FAILURES, Accounts
from tiequan.web.app import PUBLIC, ROUTE_ROLES, SECURITY_HEADERS, LoginThrottle, create_app
from tiequan.web.sessions import IDLE, Sessions
from tiequan.web.views import highlight

CODE = "91150921MA0R8K1X2" + check_digit("91150921MA0R8K1X2")
PARTY = f"uscc:{CODE}"
PASSWORD = "correct horse battery"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4b00000000049454e44ae426082"
)
XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(2)">',
    '"><svg onload=alert(3)>',
    '<a href="javascript:alert(4)">点我</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCg1KTwvc2NyaXB0Pg==">x</a>',
    "<svg><script>alert(6)</script></svg>",
    "{{7*7}}${7*7}{% raw %}",
    "' onmouseover='alert(8)",
    "</textarea></title><iframe src=//evil.example>",
]
HOSTILE = " ".join(XSS)
USERS = {
    "rev": ("reviewer", {}),
    "ana": ("analyst", {}),
    "adm": ("admin", {}),
    "dwl": ("unit_officer", {"bureau_key": "dongwulan"}),
    "other": ("unit_officer", {"bureau_key": "xiwulan"}),
}


def listing(item_id: str, *, title: str, shop: str, description: str) -> dict[str, Any]:
    return {
        "platform": "demo_shop",
        "kind": "product",
        "url": f"https://shop.example/item/{item_id}",
        "item_id": item_id,
        "title": title,
        "description": description,
        "price": 39.9,
        "shop_name": shop,
        "shop_url": f"https://shop.example/shop/{item_id}",
        "licence": {
            "credit_code": CODE,
            "name": "塔拉浩特市某某保健品商行",
            "address": "内蒙古自治区乌兰塔拉盟东乌兰旗团结大街18号",
            "url": None,
        },
        "captured_at": "2024-06-01T02:00:00+08:00",
        "evidence_id": None,
    }


def finding(category: str, matched: list[str]) -> dict[str, Any]:
    return {
        "category": category,
        "score": 0.9,
        "article": "《食品安全法》第七十三条",
        "spans": [[0, 4]],
        "explanation": "普通食品宣称减肥功效，疑似非法添加。",
        "matched": matched,
        "severity": "立案",
    }


@pytest.fixture
def queue(db: Database[dict[str, Any]]) -> LeadQueue:
    q = LeadQueue(db)
    q.ensure_indexes()
    return q


@pytest.fixture
def artefacts(tmp_path: Path) -> ArtefactStore:
    return ArtefactStore(tmp_path / "evidence")


@pytest.fixture
def leads(
    queue: LeadQueue, db: Database[dict[str, Any]], artefacts: ArtefactStore
) -> dict[str, str]:
    """A plain lead and a hostile one (XSS in title, description and shop name)."""
    plain = listing(
        "1", title="纤体速效茶", shop="小美保健专营店", description="本品喝一周瘦八斤，纤体速效"
    )
    hostile = listing("2", title=HOSTILE, shop=HOSTILE, description=f"{HOSTILE} 根治癌症 {HOSTILE}")
    Store(db).record_listings([plain, hostile], run_id="R1")
    queue.record(
        [
            (plain, finding("slimming_aphrodisiac", ["瘦八斤", "纤体速效"])),
            (hostile, finding("miracle_drug", ["根治癌症", "<script>"])),
        ],
        run_id="R1",
    )
    ids = {
        "plain": make_lead_id(PARTY, "slimming_aphrodisiac"),
        "hostile": make_lead_id(PARTY, "miracle_drug"),
    }
    shot = artefacts.put(PNG, kind="screenshot", media_type="image/png", name="screenshot.png")
    svg = artefacts.put(
        b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
        kind="image",
        media_type="image/svg+xml",
        name="image-1.svg",
    )
    db[EVIDENCE].insert_one(
        {
            "_id": "EV-1",
            "lead_ids": [ids["plain"]],
            "platform": "demo_shop",
            "item_id": "1",
            "run_id": "R1",
            "captured_at": datetime(2024, 6, 1, tzinfo=UTC),
            "url": "https://shop.example/item/1",
            "categories": ["slimming_aphrodisiac"],
            "party_key": PARTY,
            "artefacts": [shot.to_doc(), svg.to_doc()],
        }
    )
    return ids | {"shot": shot.sha256, "svg": svg.sha256}


@pytest.fixture
def accounts(db: Database[dict[str, Any]]) -> Accounts:
    # Cheap argon2 parameters: the same code path, a fraction of the time.
    accounts = Accounts(db, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for name, (role, extra) in USERS.items():
        accounts.add(name, role, PASSWORD, **extra)
    return accounts


@pytest.fixture
def app_client(
    db: Database[dict[str, Any]], queue: LeadQueue, accounts: Accounts, artefacts: ArtefactStore
) -> Iterator[TestClient]:
    app = create_app(db, queue=queue, accounts=accounts, artefacts=artefacts)
    with TestClient(app, follow_redirects=False) as client:
        yield client


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in; returns the session's CSRF token (read from a page, as a browser would)."""
    response = post_login(client, username, password)
    assert response.status_code == 303, response.text
    page = client.get("/unit" if USERS[username][0] == "unit_officer" else "/")
    match = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def post_login(client: TestClient, username: str, password: str) -> Any:
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, form.text
    return client.post(
        "/login", data={"username": username, "password": password, "csrf": token.group(1)}
    )


def concrete(path: str, leads: dict[str, str]) -> str:
    return path.replace("{lead_id}", leads["plain"]).replace("{sha256}", leads["shot"])


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    routes = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, APIRoute):
            routes.extend((method, route.path) for method in sorted(route.methods))
    return routes


def test_every_route_has_roles_and_refuses_strangers(
    app_client: TestClient, leads: dict[str, str]
) -> None:
    routes = api_routes(app_client)
    assert len(routes) >= 8
    for method, path in routes:
        key = (method, path)
        assert key in PUBLIC or key in ROUTE_ROLES, f"route {key} has no roles"
        if key in PUBLIC:
            continue
        response = app_client.request(method, concrete(path, leads))
        assert response.status_code in (303, 401), key
        if response.status_code == 303:
            assert response.headers["location"] == "/login"


@pytest.mark.parametrize("username", sorted(USERS))
def test_every_route_refuses_wrong_roles(
    app_client: TestClient, leads: dict[str, str], username: str
) -> None:
    csrf = login(app_client, username)
    role = USERS[username][0]
    for method, path in api_routes(app_client):
        key = (method, path)
        if key in PUBLIC or role in ROUTE_ROLES[key]:
            continue
        data = {"csrf": csrf, "action": "claim", "outcome": "x"} if method == "POST" else None
        response = app_client.request(method, concrete(path, leads), data=data)
        assert response.status_code == 403, (username, key, response.status_code)
        assert "无权访问" in response.text


def test_the_role_policy(app_client: TestClient, leads: dict[str, str]) -> None:
    """The table itself: only reviewers decide, only unit officers report outcomes."""
    lead = leads["plain"]
    for username, allowed in (("rev", True), ("ana", False), ("adm", False), ("dwl", False)):
        csrf = login(app_client, username)
        response = app_client.post(f"/leads/{lead}/action", data={"action": "claim", "csrf": csrf})
        assert (response.status_code == 303) is allowed, (username, response.status_code)
        response = app_client.get("/leads")
        assert (response.status_code == 200) is (username != "dwl"), username
        app_client.post("/logout", data={"csrf": csrf})
    csrf = login(app_client, "rev")
    assert app_client.get("/unit").status_code == 403
    response = app_client.post(f"/unit/{lead}/close", data={"csrf": csrf, "outcome": "x"})
    assert response.status_code == 403


def test_state_changes_need_the_sessions_csrf_token(
    app_client: TestClient, leads: dict[str, str], queue: LeadQueue
) -> None:
    csrf = login(app_client, "rev")
    url = f"/leads/{leads['plain']}/action"
    # The login form too: without the login page's token (a cross-site form) no one logs in.
    refused = app_client.post("/login", data={"username": "ana", "password": PASSWORD})
    assert refused.status_code == 403 and "tq_session" not in refused.cookies
    for data in ({"action": "claim"}, {"action": "claim", "csrf": "wrong" + csrf}):
        response = app_client.post(url, data=data)
        assert response.status_code == 403 and "CSRF" in response.text
    lead = queue.get(leads["plain"])
    assert lead is not None and lead["status"] == "待研判"
    assert app_client.post("/logout", data={}).status_code == 403
    assert app_client.post(url, data={"action": "claim", "csrf": csrf}).status_code == 303
    lead = queue.get(leads["plain"])
    assert lead is not None and lead["status"] == "研判中"


def test_login_locks_out_after_repeated_failures(
    app_client: TestClient, db: Database[dict[str, Any]]
) -> None:
    for _ in range(MAX_FAILURES):
        response = post_login(app_client, "rev", "wrong pass")
        assert response.status_code == 401 and "用户名或密码错误" in response.text
    response = post_login(app_client, "rev", PASSWORD)
    assert response.status_code == 401 and "锁定" in response.text
    assert "tq_session" not in response.cookies
    actions = [r["action"] for r in db[WEB_AUDIT].find({"username": "rev"}).sort("at", 1)]
    assert actions.count("login_failed") == MAX_FAILURES
    assert "lockout" in actions and actions[-1] == "login_locked"
    # Another account is not affected, and its login is audited.
    login(app_client, "ana")
    assert db[WEB_AUDIT].count_documents({"username": "ana", "action": "login"}) == 1


def _session_cookie(response: Any) -> str:
    found = [c for c in response.headers.get_list("set-cookie") if c.startswith("tq_session=")]
    assert len(found) == 1, response.headers
    return str(found[0]).lower()


def test_session_cookie_is_httponly_strict_and_secure_behind_https(
    app_client: TestClient,
) -> None:
    cookie = _session_cookie(post_login(app_client, "rev", PASSWORD))
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    with TestClient(app_client.app, base_url="https://testserver", follow_redirects=False) as tls:
        cookie = _session_cookie(post_login(tls, "rev", PASSWORD))
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie


def test_security_headers_on_every_response(app_client: TestClient, leads: dict[str, str]) -> None:
    responses = [app_client.get("/login"), app_client.get("/leads"), app_client.get("/nowhere")]
    responses.append(app_client.get("/static/app.js"))
    login(app_client, "rev")
    responses += [
        app_client.get(concrete(p, leads)) for m, p in api_routes(app_client) if m == "GET"
    ]
    for response in responses:
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.url, name)
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


PAGE_TAGS = set(
    "html head meta title link script body header strong nav a form span input button main h1 "
    "h2 h3 p table thead tbody tr th td label select option section article div img mark".split()
)


def _assert_inert(page: str) -> None:
    """Parsed as a browser would: no tag, handler or link from the payloads, only the page's own."""
    parser = _Tags()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert tag in PAGE_TAGS, tag
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            assert not (value or "").strip().lower().startswith(("javascript:", "data:")), value
        if tag == "script":
            assert attrs == [("src", "/static/app.js"), ("defer", None)], attrs
        if tag == "img":
            assert dict(attrs)["src"].startswith("/leads/"), attrs
        if tag == "a":
            assert dict(attrs)["href"].startswith("/"), attrs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "{{7*7}}" in html.unescape(page) and "49${" not in html.unescape(page)


def test_hostile_listing_text_is_escaped_in_queue_and_lead_page(
    app_client: TestClient, leads: dict[str, str]
) -> None:
    login(app_client, "rev")
    queue_page = app_client.get("/leads")
    assert queue_page.status_code == 200 and leads["hostile"] in queue_page.text
    _assert_inert(queue_page.text)
    lead_page = app_client.get(f"/leads/{leads['hostile']}")
    assert lead_page.status_code == 200
    _assert_inert(lead_page.text)
    # The matched terms are highlighted by <mark>, the payload inside them escaped.
    assert "<mark>根治癌症</mark>" in lead_page.text
    assert "<mark>&lt;script&gt;</mark>" in lead_page.text


def test_highlight_gives_context_around_each_match() -> None:
    text = "前" * 100 + "瘦八斤" + "中" * 10 + "纤体" + "后" * 100 + "瘦八斤"
    snippets = highlight(text, ["瘦八斤", "纤体"], context=5)
    assert len(snippets) == 2
    first = snippets[0]
    assert first[0] == ("…", False) and ("瘦八斤", True) in first and ("纤体", True) in first
    assert "".join(s for s, _ in first[1:-1]) == "前" * 5 + "瘦八斤" + "中" * 10 + "纤体" + "后" * 5
    assert snippets[1][-1] == ("瘦八斤", True)
    assert highlight("无关内容", ["瘦八斤"]) == []


def test_lead_page_shows_party_evidence_and_serves_the_screenshot(
    app_client: TestClient, leads: dict[str, str]
) -> None:
    login(app_client, "ana")
    page = app_client.get(f"/leads/{leads['plain']}")
    assert page.status_code == 200
    assert "校验通过" in page.text and "塔拉浩特市某某保健品商行" in page.text
    assert "<mark>瘦八斤</mark>" in page.text and "《食品安全法》第七十三条" in page.text
    assert f"/artefact/{leads['shot']}" in page.text
    assert '/action"' not in page.text  # an analyst gets no action forms (only comments)
    shot = app_client.get(f"/leads/{leads['plain']}/artefact/{leads['shot']}")
    assert shot.status_code == 200 and shot.content == PNG
    assert shot.headers["content-type"] == "image/png"
    svg = app_client.get(f"/leads/{leads['plain']}/artefact/{leads['svg']}")
    assert svg.headers["content-type"] == "application/octet-stream"
    assert svg.headers["content-disposition"].startswith("attachment")
    # An artefact of another lead, or an unknown hash, is not served through this lead.
    assert app_client.get(f"/leads/{leads['hostile']}/artefact/{leads['shot']}").status_code == 404
    assert app_client.get(f"/leads/{leads['plain']}/artefact/{'0' * 64}").status_code == 404


def test_claim_confirm_refer_then_the_unit_closes_it(
    app_client: TestClient, leads: dict[str, str], queue: LeadQueue, db: Database[dict[str, Any]]
) -> None:
    lead_id = leads["plain"]
    url = f"/leads/{lead_id}/action"
    csrf = login(app_client, "rev")
    # An illegal transition is refused with the lifecycle's message.
    app_client.post(url, data={"action": "refer", "csrf": csrf})
    page = app_client.get(f"/leads/{lead_id}")
    assert "不能执行“移送”" in page.text
    for action in ("claim", "confirm", "refer"):
        response = app_client.post(url, data={"action": action, "csrf": csrf, "reason": "证据充分"})
        assert response.status_code == 303
    lead = queue.get(lead_id)
    assert lead is not None and lead["status"] == "已移送"
    assert lead["referral"]["bureau_key"] == "dongwulan"
    history = queue.history(lead_id)
    assert [h["action"] for h in history] == ["claim", "confirm", "refer"]
    assert {h["actor"] for h in history} == {"rev"}
    web = [r["action"] for r in db[WEB_AUDIT].find({"lead_id": lead_id}).sort("at", 1)]
    assert web == ["lead_claim", "lead_confirm", "lead_refer"]
    todo = app_client.get("/")
    assert todo.status_code == 200 and "待办" in todo.text
    # Claim-next takes the other (pending) lead and opens it; then there is none left.
    taken = app_client.post("/claim-next", data={"csrf": csrf})
    assert taken.headers["location"] == f"/leads/{leads['hostile']}"
    hostile = queue.get(leads["hostile"])
    assert hostile is not None and hostile["claimed_by"] == "rev"
    assert leads["hostile"] in app_client.get("/").text  # under 我认领的线索
    assert app_client.post("/claim-next", data={"csrf": csrf}).headers["location"] == "/"
    assert "没有可认领" in app_client.get("/").text
    app_client.post("/logout", data={"csrf": csrf})

    # Another county's officer cannot open it, nor record an outcome, by URL.
    other = login(app_client, "other")
    assert lead_id not in app_client.get("/unit").text
    assert app_client.get(f"/leads/{lead_id}").status_code == 404
    shot = f"/leads/{lead_id}/artefact/{leads['shot']}"
    assert app_client.get(shot).status_code == 404
    refused = app_client.post(f"/unit/{lead_id}/close", data={"csrf": other, "outcome": "已处罚"})
    assert refused.status_code == 404
    app_client.post("/logout", data={"csrf": other})

    unit = login(app_client, "dwl")
    assert lead_id in app_client.get("/unit").text
    assert app_client.get(f"/leads/{lead_id}").status_code == 200
    assert app_client.get(f"/leads/{leads['hostile']}").status_code == 404  # not referred
    closed = app_client.post(f"/unit/{lead_id}/close", data={"csrf": unit, "outcome": "已责令下架"})
    assert closed.status_code == 303
    lead = queue.get(lead_id)
    assert lead is not None and lead["status"] == "已办结"
    assert lead["outcome"]["text"] == "已责令下架" and lead["outcome"]["by"] == "dwl"


def test_queue_filters_sort_and_page(app_client: TestClient, leads: dict[str, str]) -> None:
    login(app_client, "rev")
    by_category = app_client.get("/leads", params={"category": "miracle_drug"})
    assert leads["hostile"] in by_category.text and leads["plain"] not in by_category.text
    by_bureau = app_client.get("/leads", params={"bureau": "xiwulan"})
    assert "共 0 条" in by_bureau.text
    bad = app_client.get("/leads", params={"min_score": "abc", "date_from": "2024-13-01"})
    assert bad.status_code == 200 and "分值须为数字" in bad.text and "起始日期格式" in bad.text
    assert "共 2 条" in app_client.get("/leads", params={"sort": "score", "page": "9"}).text


def test_the_pager_links_name_the_row_they_follow(app_client: TestClient, queue: LeadQueue) -> None:
    start = utcnow()
    for n in range(3):  # three nights of leads: the pages cross night boundaries
        pairs = [
            (leads_listing(f"{n}-{i}", licence=False, shop=f"店{n}-{i}"), leads_finding())
            for i in range(45)
        ]
        queue.record(pairs, run_id=f"R{n}", now=start - timedelta(days=n))
    login(app_client, "rev")
    lead_ids = re.compile(r"/leads/(XS[0-9A-F]+)")

    def rows(page: str) -> list[str]:
        return list(dict.fromkeys(lead_ids.findall(page)))

    def pager(page: str, key: str) -> str:
        found = re.search(rf'<a href="([^"]+)" data-key="\{key}">', page)
        assert found, f"no pager link {key}"
        return html.unescape(found.group(1))

    first = app_client.get("/leads").text
    assert "共 135 条" in first
    following = pager(first, "]")
    assert "after=" in following
    by_number = rows(app_client.get("/leads", params={"page": "2"}).text)
    # A lead found meanwhile shifts the pages by number, not the page after a row.
    queue.record([(leads_listing("new", licence=False, shop="新店"), leads_finding())], run_id="R9")
    second = app_client.get(following).text
    assert rows(second) == by_number
    assert rows(app_client.get("/leads", params={"page": "2"}).text)[1:] == by_number[:-1]
    assert len(rows(second)) == 50 and not set(rows(second)) & set(rows(first))
    third = app_client.get(pager(second, "]")).text
    assert len(rows(third)) == 135 - 100 and "第 3 / 3 页" in third  # the new lead is on page 1
    back = app_client.get(pager(third, "[")).text
    assert "before=" in pager(third, "[") and rows(back) == rows(second)


def test_users_command_reads_the_password_from_stdin(
    monkeypatch: pytest.MonkeyPatch,
    mongo_uri: str,
    db: Database[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    import io

    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli_main.main(["users", "add", "boss", "--role", "admin", "--password-stdin"]) == 0
    assert "已新增账户 boss" in capsys.readouterr().out
    doc = db.users.find_one({"username": "boss"})
    assert doc is not None and doc["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in str(doc)
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli_main.main(["users", "passwd", "boss", "--password-stdin"]) == 2
    assert "密码至少" in capsys.readouterr().err
    assert cli_main.main(["users", "disable", "boss"]) == 0
    accounts = Accounts(db)
    assert accounts.get("boss") is None
    assert accounts.authenticate("boss", PASSWORD, client="t").user is None


def test_login_throttle_per_client_address() -> None:
    throttle = LoginThrottle(limit=3, window=60.0)
    assert [throttle.allow("10.0.0.1", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert throttle.allow("10.0.0.2", now=3)  # another address is not slowed
    assert throttle.allow("10.0.0.1", now=61)  # the window has moved on


def test_sessions_expire_and_end_with_the_account(
    app_client: TestClient, db: Database[dict[str, Any]], accounts: Accounts
) -> None:
    sessions = Sessions(db)
    token = sessions.create("ana")
    assert sessions.get(token) is not None
    stored = db.web_sessions.find_one({})
    assert stored is not None and token not in str(stored)  # only its hash is kept
    later = utcnow() + IDLE + timedelta(minutes=1)
    assert sessions.get(token, now=later) is None
    assert db.web_sessions.count_documents({}) == 0
    # A disabled account's live session is refused at the next request.
    login(app_client, "ana")
    assert app_client.get("/leads").status_code == 200
    accounts.disable("ana")
    response = app_client.get("/leads")
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_serve_demo_gives_a_fresh_one_time_password(
    accounts: Accounts, capsys: pytest.CaptureFixture[str]
) -> None:
    from tiequan.cli.serve_cmd import DEMO_USER, demo_login

    first = demo_login(accounts)
    assert accounts.authenticate(DEMO_USER, first, client="t").user is not None
    second = demo_login(accounts)  # run again: the same account, a new password
    assert second != first
    assert accounts.authenticate(DEMO_USER, first, client="t").user is None
    user = accounts.authenticate(DEMO_USER, second, client="t").user
    assert user is not None and user.role == "reviewer"
    assert cli_main.main(["serve", "--demo", "--host", "0.0.0.0"]) == 2  # never off this machine
    assert "只能用于本机地址" in capsys.readouterr().err
