"""Profile features for new sites: licences on the item page, API paging, value transforms,
the deployment's contact in the user agent.

The spider's callbacks are driven in process against the sandbox's router (no sockets,
no reactor), so every request the spider makes is counted.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from parsel import Selector
from scrapy import Request
from scrapy.http import TextResponse
from scrapy.utils.test import get_crawler

from crawlers.crawl_settings import SettingsConflict, deployment_user_agent
from crawlers.extract import JsonFieldSpec, SelectorSpec, evaluate, html_to_text, json_value
from crawlers.items import Listing
from crawlers.profiles import ProfileError, load_profile
from crawlers.spiders.profile import ProfileSpider, make_spider_class
from tests.test_profiles import API, STATIC, write
from tests.test_spider_unit import BASE, collect, html, make_spider, stat
from tiequan.sandbox.routes import SandboxApp
from tiequan.sandbox.world import World, generate_world

SEED, SCALE = 20220101, 0.2


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(SEED, SCALE)


def run(
    spider: ProfileSpider, app: SandboxApp, first: list[Request]
) -> tuple[list[Listing], Counter[str]]:
    """Crawl in process: every request answered by the sandbox router, in order."""
    queue: list[Request] = list(first)
    items: list[Listing] = []
    hits: Counter[str] = Counter()
    while queue:
        request = queue.pop(0)
        parts = urlsplit(request.url)
        hits[parts.path] += 1
        answer = app.handle(parts.path, parse_qs(parts.query))
        response = TextResponse(
            request.url, status=answer.status, body=answer.body, encoding="utf-8", request=request
        )
        assert request.callback is not None
        for out in collect(request.callback(response)):
            (queue if isinstance(out, Request) else items).append(out)
    return items, hits


def api_profile(**api: Any) -> dict[str, Any]:
    return {**copy.deepcopy(API), "name": "demo_app", "kind": "product", "api": api}


V2_FIELDS: dict[str, Any] = {
    "id": "id",
    "title": "title",
    "url": "url",
    "price": {"path": "price_fen", "type": "float", "scale": 0.01},
    "original_price": {"path": "original_price_fen", "type": "float", "scale": 0.01},
    "text": {"path": "desc_html", "strip_html": True},
    "sales": "sales",
    "shop_name": "shop.name",
    "image_urls": {"path": "images", "type": "urls"},
}
V2_LICENCE = {
    "credit_code": "shop.licence.credit_code",
    "name": "shop.licence.company_name",
    "address": "shop.licence.address",
}


def check_jsmall(items: list[Listing], world: World) -> None:
    entries = {e.item_id: e for e in world.entries["jsmall"]}
    assert sorted(i.item_id for i in items) == sorted(entries)
    for item in items:
        entry = entries[item.item_id]
        assert item.price is not None and item.price < 10_000  # yuan, not fen
        assert item.price == pytest.approx(entry.price)
        if entry.original_price is None:
            assert item.original_price is None
        else:
            assert item.original_price == pytest.approx(entry.original_price)
        assert item.text == entry.text
        assert item.image_urls == [f"{BASE}/jsmall/img/{n}.png" for n in entry.images]
        licence = world.shops["jsmall"][entry.shop_id].licence
        if licence.credit_code:
            assert item.licence is not None and item.licence.credit_code == licence.credit_code
            assert item.licence.name == licence.company
        else:
            assert item.licence is None


# ---- API paging ---------------------------------------------------------------------


def test_api_offset_paging_from_zero_fen_prices_html_text_and_inline_licence(
    tmp_path: Path, world: World
) -> None:
    data = api_profile(
        list_path="/jsmall/api/v2/items?offset={offset}&limit={limit}",
        items_key="data",
        paging={"by": "offset", "limit": 20, "total_key": "paging.total"},
        fields=V2_FIELDS,
        licence_fields=V2_LICENCE,
    )
    spider = make_spider(tmp_path, data)
    first = list(spider.api_start())
    assert [r.url for r in first] == [f"{BASE}/jsmall/api/v2/items?offset=0&limit=20"]
    items, hits = run(spider, SandboxApp(world), first)
    check_jsmall(items, world)
    pages = -(-len(world.entries["jsmall"]) // 20)
    # one request per page of 20 and none for licences; the total ends the list
    assert hits == Counter({"/jsmall/api/v2/items": pages})
    assert stat(spider, "tiequan/licence_on_page") == sum(1 for i in items if i.licence)


def test_api_next_link_paging_ends_at_null(tmp_path: Path, world: World) -> None:
    data = api_profile(
        list_path="/jsmall/api/v2/items?offset={offset}&limit={limit}",
        items_key="data",
        paging={"by": "next", "next_key": "next", "limit": 25},
        fields=V2_FIELDS,
        licence_fields=V2_LICENCE,
    )
    spider = make_spider(tmp_path, data)
    items, hits = run(spider, SandboxApp(world), list(spider.api_start()))
    check_jsmall(items, world)
    assert hits["/jsmall/api/v2/items"] == -(-len(world.entries["jsmall"]) // 25)


def test_api_cursor_paging_ends_at_null_cursor(tmp_path: Path, world: World) -> None:
    data = api_profile(
        list_path="/social/api/feed?cursor={cursor}",
        items_key="posts",
        paging={"by": "cursor", "start": 0, "next_key": "next_cursor"},
        fields={"id": "id", "title": "title", "text": "text", "url": "url"},
    )
    data["kind"] = "post"
    spider = make_spider(tmp_path, data)
    items, hits = run(spider, SandboxApp(world), list(spider.api_start()))
    posts = world.entries["social"]
    assert [i.item_id for i in items] == [p.item_id for p in posts]
    assert hits["/social/api/feed"] == -(-len(posts) // 15)


def test_api_page_paging_from_zero_and_empty_page_end(tmp_path: Path) -> None:
    data = api_profile(
        list_path="/api/list?p={page}",
        items_key="rows",
        paging={"by": "page", "start": 0},
        fields={"id": "id", "title": "t"},
    )
    spider = make_spider(tmp_path, data)
    (first,) = spider.api_start()
    assert first.url == f"{BASE}/api/list?p=0"

    def page(url: str, rows: list[dict[str, Any]], request: Request) -> TextResponse:
        import json

        return TextResponse(url, body=json.dumps({"rows": rows}).encode(), request=request)

    out = collect(spider.parse_api_list(page(first.url, [{"id": 1, "t": "甲"}], first)))
    nxt = out[-1]
    assert isinstance(nxt, Request) and nxt.url == f"{BASE}/api/list?p=1"
    assert collect(spider.parse_api_list(page(nxt.url, [], nxt))) == []


def test_old_page_profiles_still_page_by_number(tmp_path: Path) -> None:
    spider = make_spider(tmp_path, API)
    (first,) = spider.api_start()
    assert first.url == f"{BASE}/api/list?page=1"


# ---- licences read where the item is --------------------------------------------------

PAGE_WITH_LICENCE = """<html><body><h1>羊绒衫</h1><span class="sku">SKU-7</span>
<section class="lic"><p>企业名称：某某服饰有限公司</p>
<p>统一社会信用代码：91150100MA0N000000</p></section></body></html>"""


def licence_on_page_profile(read_from: list[str] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(STATIC)
    data["licence"] = {
        "fields": {
            "credit_code": {"css": ".lic p::text", "many": True, "regex": r"代码：(\w{18})"},
            "name": {"css": ".lic p::text", "regex": r"名称：(.+)"},
        }
    }
    if read_from is None:
        del data["item"]["licence_link"]
    else:
        data["licence"]["read_from"] = read_from
    return data


def test_licence_on_the_item_page_needs_no_request(tmp_path: Path) -> None:
    spider = make_spider(tmp_path, licence_on_page_profile())
    out = collect(spider.parse_item(html(f"{BASE}/mall/item/7", PAGE_WITH_LICENCE)))
    assert [type(x) for x in out] == [Listing]
    assert out[0].licence is not None
    assert out[0].licence.credit_code == "91150100MA0N000000"
    assert out[0].licence.name == "某某服饰有限公司"
    assert out[0].licence.url == f"{BASE}/mall/item/7"


def test_page_first_then_link(tmp_path: Path) -> None:
    spider = make_spider(tmp_path, licence_on_page_profile(["page", "link"]))
    linked = PAGE_WITH_LICENCE.replace(
        "</section>", '</section><a class="licence" href="/l/1">执照</a>'
    )
    (listing,) = collect(spider.parse_item(html(f"{BASE}/mall/item/7", linked)))
    assert isinstance(listing, Listing) and listing.licence is not None
    # no code on this page: the link is followed
    bare = '<h1>羊绒衫</h1><span class="sku">SKU-8</span><a class="licence" href="/l/1">执照</a>'
    (request,) = collect(spider.parse_item(html(f"{BASE}/mall/item/8", bare)))
    assert isinstance(request, Request) and request.url == f"{BASE}/l/1"


def test_inline_items_carry_their_licence(tmp_path: Path) -> None:
    data = {
        **copy.deepcopy(STATIC),
        "name": "demo_feed",
        "kind": "post",
        "render": "static",
        "listing": {
            "inline_items": {
                "container": "article",
                "fields": {"id": "::attr(data-id)", "title": "h2::text", "shop_name": ".by::text"},
            }
        },
        "licence": {
            "fields": {"credit_code": {"css": ".code::text", "regex": r"(\w{18})"}},
        },
    }
    del data["item"]
    spider = make_spider(tmp_path, data)
    body = """<article data-id="a"><h2>甲</h2><i class="by">某店</i>
    <span class="code">信用代码 91150100MA0N000000</span></article>
    <article data-id="b"><h2>乙</h2><i class="by">别家</i></article>"""
    out = collect(spider.parse_list(html(f"{BASE}/feed", body)))
    assert [(x.item_id, x.licence and x.licence.credit_code) for x in out] == [
        ("a", "91150100MA0N000000"),
        ("b", None),
    ]


# ---- value transforms ------------------------------------------------------------------


def test_html_transforms() -> None:
    escaped = "&lt;p&gt;第一段 &lt;b&gt;加粗&lt;/b&gt;&lt;/p&gt;&lt;p&gt;第二段&lt;/p&gt;"
    sel = Selector(
        text=f"""<div class="p" data-fen="19900">¥199</div>
        <div class="d" data-html="{escaped}"></div>
        <i class="t">甲</i><i class="t">乙</i>"""
    )
    price = SelectorSpec.parse({"css": ".p::attr(data-fen)", "type": "float", "scale": 0.01})
    assert evaluate(sel, price) == 199.0
    desc = SelectorSpec.parse({"css": ".d::attr(data-html)", "strip_html": True})
    assert evaluate(sel, desc) == "第一段 加粗\n第二段"
    tags = SelectorSpec.parse({"css": ".t::text", "many": True, "join": "、"})
    assert evaluate(sel, tags) == "甲、乙"


def test_json_transforms() -> None:
    data = {
        "price_fen": 19800,
        "cut": "¥1,980.5",
        "desc_html": "<div><p>买一<strong>送一</strong> &amp; 包邮</p><script>x()</script>"
        "<p>第二行<br>第三行</p></div>",
        "tags": ["羊绒", "", "男款"],
        "sku": "编号 SKU-1042",
    }
    assert json_value(data, JsonFieldSpec("price_fen", type="float", scale=0.01)) == 198.0
    assert json_value(data, JsonFieldSpec("price_fen", type="int", scale=0.01)) == 198
    assert json_value(data, JsonFieldSpec("cut", type="float")) == 1980.5
    assert json_value(data, JsonFieldSpec("desc_html", strip_html=True)) == (
        "买一送一 & 包邮\n第二行\n第三行"
    )
    assert json_value(data, JsonFieldSpec("tags", join="、")) == "羊绒、男款"
    assert json_value(data, JsonFieldSpec("sku", regex=r"SKU-(\d+)")) == "1042"
    assert json_value(data, JsonFieldSpec("tags")) == ["羊绒", "", "男款"]  # a bare path: as is
    assert html_to_text("<p>a &lt;b&gt; c</p>") == "a <b> c"


# ---- one precise line for every wrong value ------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "value", "expected"),
    [
        (
            api_profile(
                list_path="/l?page={page}&o={ofset}",
                items_key="x",
                fields={"id": "id", "title": "t"},
            ),
            "api.list_path",
            "'/l?page={page}&o={ofset}'",
            "{ofset} is not filled when paging by page",
        ),
        (
            api_profile(
                list_path="/l?page=1",
                items_key="x",
                paging={"by": "offset"},
                fields={"id": "id", "title": "t"},
            ),
            "api.list_path",
            "'/l?page=1'",
            "needs {offset}",
        ),
        (
            api_profile(
                list_path="/l",
                items_key="x",
                paging={"by": "next"},
                fields={"id": "id", "title": "t"},
            ),
            "api.paging.next_key",
            "(missing)",
            "by: next needs it",
        ),
        (
            api_profile(
                list_path="/l?o={offset}&n={limit}",
                items_key="x",
                paging={"by": "offset"},
                fields={"id": "id", "title": "t"},
            ),
            "api.paging.limit",
            "(missing)",
            "{limit}",
        ),
        (
            api_profile(
                list_path="/l?page={page}",
                items_key="x",
                fields={"id": "id", "title": "t", "price": {"path": "p", "scale": 0.01}},
            ),
            "api.fields.price.scale",
            "0.01",
            "add type: float",
        ),
        (
            api_profile(
                list_path="/l?page={page}",
                items_key="x",
                paging={"by": "sideways"},
                fields={"id": "id", "title": "t"},
            ),
            "api.paging.by",
            "'sideways'",
            "one of",
        ),
        (
            {**STATIC, "licence": {**STATIC["licence"], "read_from": ["link", "pages"]}},
            "licence.read_from.1",
            "'pages'",
            "one of",
        ),
        (
            licence_on_page_profile() | {"licence": {"fields": {}, "read_from": ["link"]}},
            "licence.read_from",
            "['link']",
            "needs item.licence_link",
        ),
        (
            {
                **STATIC,
                "item": {
                    "fields": {
                        **STATIC["item"]["fields"],
                        "price": {"css": ".p::text", "scale": 0.01},
                    }
                },
                "licence": {"fields": {}, "read_from": ["page"]},
            },
            "item.fields.price.scale",
            "0.01",
            "scale applies to numbers",
        ),
    ],
)
def test_bad_feature_values_name_file_field_value(
    tmp_path: Path, data: dict[str, Any], field: str, value: str, expected: str
) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: field {field}: bad value {value}")
    assert expected in message


# ---- user agent ----------------------------------------------------------------------------


def test_contact_goes_into_the_user_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIEQUAN_CONTACT", raising=False)
    cls = make_spider_class(load_profile(write(tmp_path, STATIC)))
    settings = {
        "TWISTED_REACTOR_ENABLED": False,
        "USER_AGENT": "Mozilla/5.0 (compatible; tiequan-supervision/0.1)",
        "TIEQUAN_CONTACT": "mailto:wj@amr.example.gov.cn",
    }
    crawler = get_crawler(cls, settings)
    assert crawler.settings["USER_AGENT"] == (
        "Mozilla/5.0 (compatible; tiequan-supervision/0.1; +mailto:wj@amr.example.gov.cn)"
    )
    monkeypatch.setenv("TIEQUAN_CONTACT", "https://amr.example.gov.cn/crawler")
    crawler = get_crawler(cls, {"TWISTED_REACTOR_ENABLED": False, "USER_AGENT": "tiequan"})
    assert crawler.settings["USER_AGENT"] == "tiequan (+https://amr.example.gov.cn/crawler)"


@pytest.mark.parametrize("contact", ["网络交易股", "a (b)", "x; y", "line\nbreak"])
def test_contact_that_cannot_go_into_a_header_is_refused(contact: str) -> None:
    from scrapy.settings import Settings

    with pytest.raises(SettingsConflict, match="TIEQUAN_CONTACT"):
        deployment_user_agent(Settings({"USER_AGENT": "ua", "TIEQUAN_CONTACT": contact}))
