"""The sandbox marketplace: determinism, ground truth, HTTP behaviour, scoring, CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import parsel
import pytest
import yaml

from tiequan.cli.main import main as cli_main
from tiequan.party.creditcode import check_digit, is_valid
from tiequan.sandbox.creditcode import make_uscc
from tiequan.sandbox.evasion import ALL_VARIANTS, disguise, plain, to_chinese_number
from tiequan.sandbox.routes import SandboxApp
from tiequan.sandbox.server import SandboxServer
from tiequan.sandbox.truth import TruthItem, build_truth, format_score, score_leads
from tiequan.sandbox.world import (
    LICENCE_ON_PAGE_TEMPLATE,
    MALL_PAGE_SIZE,
    SITES,
    generate_world,
    get_world,
)

REPO = Path(__file__).resolve().parents[1]
SEED = 20220101
SCALE = 0.2


def fetch(base: str, path: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def get_json(base: str, path: str) -> Any:
    status, _headers, body = fetch(base, path)
    assert status == 200, path
    return json.loads(body)


def profile(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "config/sites" / f"{name}.yaml").read_text())
    return data


# --- determinism ------------------------------------------------------------------


def _pages(seed: int) -> list[bytes]:
    world = generate_world(seed, 0.1)
    app = SandboxApp(world)
    paths = [e.path for prefix in ("mall", "property", "social") for e in world.entries[prefix][:6]]
    paths += ["/mall/search?q=health&page=1", "/property/list?page=1"]
    return [app.handle(p.split("?")[0], _query(p)).body for p in paths]


def _query(path: str) -> dict[str, list[str]]:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(path).query)


def test_same_seed_same_world_and_pages() -> None:
    a, b = generate_world(7, 0.1), generate_world(7, 0.1)
    assert [(e.item_id, e.title, e.text) for e in a.entries["mall"]] == [
        (e.item_id, e.title, e.text) for e in b.entries["mall"]
    ]
    assert _pages(7) == _pages(7)


def test_different_seed_different_world() -> None:
    t1 = build_truth(seed=1, scale=0.1)
    t2 = build_truth(seed=2, scale=0.1)
    assert {t.item_id for t in t1} != {t.item_id for t in t2}
    assert _pages(1) != _pages(2)


# --- truth content ----------------------------------------------------------------


def test_every_online_category_is_in_truth() -> None:
    config = yaml.safe_load((REPO / "config/categories.yaml").read_text(encoding="utf-8"))
    online = {c["id"] for c in config["categories"] if c["online"]}
    offline = {c["id"] for c in config["categories"] if not c["online"]}
    truth = build_truth(seed=SEED, scale=SCALE)
    present = {c for t in truth for c in t.categories}
    assert online <= present
    assert not present & offline
    assert {t.site for t in truth} == set(SITES.values())


def test_shares_of_benign_hard_negative_and_variants() -> None:
    truth = build_truth(seed=SEED, scale=1.0)
    n = len(truth)
    benign = sum(1 for t in truth if not t.categories and not t.hard_negative)
    hard = sum(1 for t in truth if t.hard_negative)
    violating = [t for t in truth if t.categories]
    assert 0.60 <= benign / n <= 0.75
    assert 0.06 <= hard / n <= 0.12
    assert all(not t.categories for t in truth if t.hard_negative)
    variants = Counter(t.variant for t in violating)
    assert set(ALL_VARIANTS) <= set(variants)
    assert {"no_permit", "misleading_area"} <= set(variants)
    assert variants["plain"] / len(violating) < 0.5
    core = {
        "slimming_aphrodisiac",
        "miracle_drug",
        "medical_beauty",
        "counterfeit_apparel",
        "real_estate",
    }
    per_cat = Counter(c for t in violating for c in t.categories)
    assert sum(per_cat[c] for c in core) > sum(v for c, v in per_cat.items() if c not in core)
    assert any(len(t.categories) > 1 for t in violating)
    assert 1100 <= n <= 1300


def test_counts_follow_scale() -> None:
    small, large = get_world(SEED, 0.1), get_world(SEED, 0.5)
    for prefix in SITES:
        assert len(large.entries[prefix]) > len(small.entries[prefix])
    assert len(large.entries["mall"]) == 300


def test_variants_really_disguise_the_claim() -> None:
    world = get_world(SEED, 1.0)
    for entries in world.entries.values():
        for e in entries:
            shown = f"{e.title}\n{e.text}"
            if e.variant == "plain":
                assert e.claim in shown
            elif e.variant == "split":
                assert e.claim not in shown
                # the halves meet when title and text are read as one string
                assert e.claim in f"{e.title}{e.text}"
            elif e.variant in ("traditional", "symbols", "pinyin", "numeric", "homophone"):
                assert e.claim not in shown, (e.variant, e.claim, shown)
            elif e.variant == "image_only":
                assert e.claim not in shown
                assert any(
                    e.claim in lines for lines in (world.images[(e.prefix, n)] for n in e.images)
                )
            elif e.variant == "no_permit":
                assert e.extra["permit"] == ""
            elif e.variant == "misleading_area":
                assert not re.search("建筑面积|套内面积", e.extra["area"])
            else:
                assert e.variant == "none" and not e.categories


def test_topics_are_well_formed() -> None:
    from tiequan.sandbox.evasion import terms
    from tiequan.sandbox.textbase import all_topics, fits

    config = yaml.safe_load((REPO / "config/categories.yaml").read_text(encoding="utf-8"))
    known = {c["id"] for c in config["categories"]}
    for topic in all_topics():
        assert topic.category in known
        for claim in topic.claims:
            assert any(len(t) >= 2 for t in terms(claim.text)), claim.text
            assert set(claim.products) <= set(topic.products), claim.text
            assert set(claim.extra) <= known
        for product in topic.products:
            assert any(fits(s, product) for s in topic.specs), product
            assert sum(fits(p, product) for p in topic.points) >= 2, product
        scoped = {
            x for f in topic.points + topic.specs if "::" in f for x in f.split("::")[0].split()
        }
        assert scoped <= set(topic.products) | {
            "电动自行车",
            "浓香型白酒",
            "酱香型白酒",
            "青稞酒",
            "腰带",
            "链条包",
        }


def test_evasion_helpers() -> None:
    import random

    rng = random.Random(0)
    claim = "{减肥}效果好，3天瘦10斤"
    assert plain(claim) == "减肥效果好，3天瘦10斤"
    assert disguise(claim, "traditional", rng) == "減肥效果好，3天瘦10斤"
    assert "jianfei" in (disguise(claim, "pinyin", rng) or "") or "jf" in (
        disguise(claim, "pinyin", rng) or ""
    )
    assert disguise("{普通}", "numeric", rng) is None
    assert [to_chinese_number(n) for n in (3, 10, 15, 20, 105, 2980)] == [
        "三",
        "十",
        "十五",
        "二十",
        "一百零五",
        "两千九百八十",
    ]


# --- credit codes -------------------------------------------------------------------


def test_credit_code_check_digit() -> None:
    import random

    # The worked example printed in GB 32100-2015.
    assert is_valid("91350100M000100Y43")
    assert not is_valid("91350100M000100Y44")
    assert not is_valid("91350100M000100Y4")
    code = make_uscc(random.Random(5), "159921")
    assert is_valid(code) and code.startswith("91159921")
    assert check_digit(code[:17]) == code[17]


def test_all_shop_codes_valid_and_licence_page(sandbox: SandboxServer) -> None:
    world = sandbox.world
    shown = [s for shops in world.shops.values() for s in shops.values() if s.licence.credit_code]
    assert len(shown) > 20
    assert all(is_valid(s.licence.credit_code) for s in shown)
    counties = Counter(s.licence.county for s in shown)
    assert len(counties) >= 6
    shop = next(s for s in world.shops["mall"].values() if s.licence.credit_code)
    status, _h, body = fetch(sandbox.base_url, f"/mall/shop/{shop.shop_id}/licence")
    assert status == 200
    sel = parsel.Selector(text=body.decode("utf-8"))
    xp = profile("sandbox_mall")["licence"]["fields"]["credit_code"]["xpath"]
    assert sel.xpath(xp).get() == shop.licence.credit_code
    xp_addr = profile("sandbox_mall")["licence"]["fields"]["address"]["xpath"]
    assert shop.licence.county in sel.xpath(xp_addr).get("")


# --- HTTP behaviour ------------------------------------------------------------------


def test_robots_and_admin_links(sandbox: SandboxServer) -> None:
    status, headers, body = fetch(sandbox.base_url, "/robots.txt")
    text = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert "Disallow: /mall/admin/" in text and "Disallow: /private/" in text
    page = fetch(sandbox.base_url, "/mall/search?q=health&page=1")[2].decode()
    links = (
        parsel.Selector(text=page).css(profile("sandbox_mall")["listing"]["item_links"]).getall()
    )
    assert any(link.startswith("/mall/admin/") for link in links)


def test_fault_then_success_and_slow_paths() -> None:
    with SandboxServer(seed=SEED, scale=SCALE) as srv:
        faults = srv.world.faults
        p429 = next(p for p, s in faults.items() if s == 429)
        p5xx = next(p for p, s in faults.items() if s >= 500)
        status, headers, _ = fetch(srv.base_url, p429)
        assert status == 429 and headers["Retry-After"] == "1"
        assert fetch(srv.base_url, p429)[0] == 200
        assert fetch(srv.base_url, p5xx)[0] in (502, 503)
        assert fetch(srv.base_url, p5xx)[0] == 200
        assert srv.hits[p429] == 2
        slow_path, delay = min(srv.world.slow.items(), key=lambda kv: kv[1])
        started = time.monotonic()
        assert fetch(srv.base_url, slow_path)[0] in (200, 429, 502, 503)
        assert time.monotonic() - started >= delay * 0.9
        assert fetch(srv.base_url, "/mall/item/0000000")[0] == 404
        assert fetch(srv.base_url, "/nowhere")[0] == 404


def test_pagination_trap_is_endless(sandbox: SandboxServer) -> None:
    sel_next = profile("sandbox_mall")["listing"]["next_page"]
    first = parsel.Selector(
        text=fetch(sandbox.base_url, "/mall/browse/clearance?page=1")[2].decode()
    )
    assert first.css("li.result")
    for n in (4, 57, 1000):
        status, _h, body = fetch(sandbox.base_url, f"/mall/browse/clearance?page={n}")
        sel = parsel.Selector(text=body.decode())
        assert status == 200 and not sel.css("li.result")
        assert sel.css(sel_next).get() == f"/mall/browse/clearance?page={n + 1}"


def test_search_pagination_reaches_every_mall_item(sandbox: SandboxServer) -> None:
    prof = profile("sandbox_mall")
    found: set[str] = set()
    for start in prof["start_paths"]:
        if "/search" not in start:
            continue
        path: str | None = start
        pages = 0
        while path:
            pages += 1
            sel = parsel.Selector(text=fetch(sandbox.base_url, path)[2].decode())
            found |= {
                link.rsplit("/", 1)[-1]
                for link in sel.css(prof["listing"]["item_links"]).getall()
                if link.startswith("/mall/item/")
            }
            path = sel.css(prof["listing"]["next_page"]).get()
        assert pages <= prof["listing"]["max_pages"]
    assert found == {e.item_id for e in sandbox.world.entries["mall"]}


def test_item_templates_expose_the_truth_id(sandbox: SandboxServer) -> None:
    fields = profile("sandbox_mall")["item"]["fields"]
    world = sandbox.world
    faulty = set(world.faults) | set(world.slow)
    seen_templates = set()
    for e in world.entries["mall"]:
        if e.template in seen_templates or e.path in faulty:
            continue
        seen_templates.add(e.template)
        sel = parsel.Selector(text=fetch(sandbox.base_url, e.path)[2].decode())
        assert sel.css(fields["id"]).get() == e.item_id
        assert sel.css(fields["title"]).get() == e.title
        assert float(sel.css(fields["price"]["css"]).get("").lstrip("¥")) == pytest.approx(e.price)
        assert len(sel.css(fields["image_urls"]["css"]).getall()) == len(e.images)
    assert seen_templates == {0, 1, 2, LICENCE_ON_PAGE_TEMPLATE}
    pfields = profile("sandbox_property")["item"]["fields"]
    for e in world.entries["property"]:
        if e.path in faulty:
            continue
        sel = parsel.Selector(text=fetch(sandbox.base_url, e.path)[2].decode())
        assert sel.css(pfields["id"]).get() == e.item_id
        permit = re.search(pfields["permit"]["regex"], sel.css(pfields["permit"]["css"]).get(""))
        assert (permit.group(1) if permit else "") == e.extra["permit"]


def test_images_are_png_and_lazy(sandbox: SandboxServer) -> None:
    world = sandbox.world
    e = next(x for p in SITES for x in world.entries[p] if x.variant == "image_only")
    status, headers, body = fetch(sandbox.base_url, f"/{e.prefix}/img/{e.images[0]}.png")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert body.startswith(b"\x89PNG")
    assert fetch(sandbox.base_url, "/mall/img/nope-1.png")[0] == 404


def test_jsmall_api_shapes(sandbox: SandboxServer) -> None:
    base = sandbox.base_url
    first = get_json(base, "/jsmall/api/items?page=1")
    assert set(first) >= {"items", "page", "last_page"} and first["page"] == 1
    assert len(first["items"]) == MALL_PAGE_SIZE and {"id", "title", "price"} <= set(
        first["items"][0]
    )
    last = first["last_page"]
    ids = [
        it["id"]
        for p in range(1, last + 1)
        for it in get_json(base, f"/jsmall/api/items?page={p}")["items"]
    ]
    assert ids == [e.item_id for e in sandbox.world.entries["jsmall"]]
    assert get_json(base, f"/jsmall/api/items?page={last + 1}")["items"] == []
    faulty = set(sandbox.world.faults) | set(sandbox.world.slow)
    item_id = next(i for i in ids if f"/jsmall/api/items/{i}" not in faulty)
    detail = get_json(base, f"/jsmall/api/items/{item_id}")
    api = profile("sandbox_jsmall")["api"]
    for key_path in api["fields"].values():
        node: Any = detail
        for part in key_path.split("."):
            node = node[part]
    assert detail["id"] == item_id
    shop = get_json(base, f"/jsmall/api/shops/{detail['shop']['id']}")
    assert shop["licence"]["address"]
    assert fetch(base, "/jsmall/api/items/JS_missing")[0] == 404
    assert b"fetch('/jsmall/api/items?page='" in fetch(base, "/jsmall/")[2]


def test_social_feed_cursor_covers_all_posts(sandbox: SandboxServer) -> None:
    cursor: int | None = 0
    ids: list[str] = []
    while cursor is not None:
        data = get_json(sandbox.base_url, f"/social/api/feed?cursor={cursor}")
        ids += [p["id"] for p in data["posts"]]
        assert all(
            {"id", "url", "author", "title", "text", "image"} <= set(p) for p in data["posts"]
        )
        cursor = data["next_cursor"]
    assert ids == [e.item_id for e in sandbox.world.entries["social"]]
    shell = fetch(sandbox.base_url, "/social/feed")[2].decode()
    assert "addEventListener('scroll'" in shell and "/social/api/feed?cursor=" in shell


def test_site_profiles_match_schema() -> None:
    schema = json.loads((REPO / "config/schemas/site_profile.schema.json").read_text())
    for name in SITES.values():
        data = profile(name)
        jsonschema.validate(data, schema)
        assert data["name"] == name and data["base_url"] == "http://127.0.0.1:8700"


# --- scoring ------------------------------------------------------------------------


def test_score_leads_arithmetic() -> None:
    truth = [
        TruthItem("s", "1", "/1", ["slimming_aphrodisiac", "miracle_drug"], "plain"),
        TruthItem("s", "2", "/2", ["slimming_aphrodisiac"], "symbols"),
        TruthItem("s", "3", "/3", [], "none", hard_negative=True),
        TruthItem("t", "1", "/t1", ["real_estate"], "plain"),
    ]
    leads = [
        ("s", "1", "slimming_aphrodisiac"),
        ("s", "1", "slimming_aphrodisiac"),  # duplicate counts once
        ("s", "3", "slimming_aphrodisiac"),  # hard negative -> fp
        ("t", "1", "real_estate"),
        ("t", "1", "miracle_drug"),  # wrong category -> fp
        ("x", "9", "real_estate"),  # not in truth -> ignored
    ]
    r = score_leads(leads, truth)
    assert (
        r["slimming_aphrodisiac"]["tp"],
        r["slimming_aphrodisiac"]["fp"],
        r["slimming_aphrodisiac"]["fn"],
    ) == (1, 1, 1)
    assert r["slimming_aphrodisiac"]["precision"] == pytest.approx(0.5)
    assert r["miracle_drug"] == {"tp": 0, "fp": 1, "fn": 1, "precision": 0.0, "recall": 0.0}
    assert r["real_estate"]["recall"] == 1.0
    assert (r["micro"]["tp"], r["micro"]["fp"], r["micro"]["fn"]) == (2, 2, 2)
    table = format_score(r)
    assert "real_estate" in table and "合计" in table and "0.500" in table


def test_perfect_leads_score_one() -> None:
    truth = build_truth(seed=SEED, scale=0.1)
    leads = [(t.site, t.item_id, c) for t in truth for c in t.categories]
    r = score_leads(leads, truth)
    assert r["micro"]["precision"] == 1.0 and r["micro"]["recall"] == 1.0
    assert r["micro"]["tp"] == len(leads)


# --- CLI ----------------------------------------------------------------------------


def test_cli_truth_and_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "truth.json"
    assert cli_main(["sandbox", "truth", "--out", str(out), "--scale", "0.1"]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert len(data) == len(build_truth(seed=SEED, scale=0.1))
    assert {"site", "item_id", "path", "categories", "variant", "hard_negative"} <= set(data[0])
    bad = next(d for d in data if d["categories"])
    leads = tmp_path / "leads.jsonl"
    leads.write_text(
        json.dumps(
            {"platform": bad["site"], "item_id": bad["item_id"], "category": bad["categories"][0]}
        )
        + "\n\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert cli_main(["sandbox", "score", "--leads", str(leads), "--scale", "0.1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["micro"]["tp"] == 1 and report["micro"]["fp"] == 0
    leads.write_text("{not json\n", encoding="utf-8")
    assert cli_main(["sandbox", "score", "--leads", str(leads)]) == 2


def test_cli_serve_writes_url_file(tmp_path: Path) -> None:
    url_file = tmp_path / "url.txt"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tiequan.cli.main",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--scale",
            "0.05",
            "--url-file",
            str(url_file),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not url_file.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        base = url_file.read_text().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base)
        assert fetch(base, "/robots.txt")[0] == 200
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close() if proc.stdout else None
        proc.stderr.close() if proc.stderr else None


def test_oracle_and_detector_agree_where_price_fraud_belongs() -> None:
    # The sandbox states it on its own (it reads no routing or detector data); the two must
    # agree: the routing entry in categories.yaml is what the detect stage and the CLI use.
    from tiequan.referral import load_categories, price_fraud_rule
    from tiequan.sandbox.truth import PRICE_FRAUD_CATEGORY

    assert load_categories().finding_route("price_fraud").category == PRICE_FRAUD_CATEGORY
    assert price_fraud_rule().category == PRICE_FRAUD_CATEGORY


def test_hostile_listing_is_served_as_escaped_text_and_is_in_the_truth() -> None:
    from tiequan.sandbox import hostile

    world = generate_world(SEED, 0.05)
    app = SandboxApp(world)
    clearance = parsel.Selector(text=app.handle("/mall/browse/clearance", {}).body.decode())
    assert f"/mall/item/{hostile.ITEM_ID}" in clearance.css("a.result-link::attr(href)").getall()
    page = app.handle(f"/mall/item/{hostile.ITEM_ID}", {})
    assert page.status == 200
    sel = parsel.Selector(text=page.body.decode())
    # The crawler reads the payloads back as the seller typed them: nothing became markup.
    assert sel.css("h1.item-title::text").get() == hostile.TITLE
    assert "\n".join(sel.css(".desc p::text").getall()) == hostile.TEXT
    assert sel.css("a.shop-name::text").get() == hostile.SHOP_NAME
    assert "window.__xss" not in "".join(sel.css("script::text").getall())
    assert not sel.css("[onerror], [onload], iframe, svg")
    truth = {t.item_id: t for t in build_truth(SEED, 0.05)}
    assert truth[hostile.ITEM_ID].categories == [hostile.CATEGORY]
    assert hostile.ITEM_ID not in {e.item_id for e in world.entries["mall"]}
