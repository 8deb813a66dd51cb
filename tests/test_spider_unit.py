"""Unit tests of selector evaluation, the profile spider's callbacks, retry and settings.

No network and no reactor: callbacks are driven directly with HtmlResponse fixtures.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml
from parsel import Selector
from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

import crawlers.settings as project_settings
from crawlers.browser import CHROMIUM_ENV, BrowserNotFound, find_chromium
from crawlers.crawl_settings import SettingsConflict, TiequanCrawlSettings
from crawlers.extract import SelectorSpec, dotted_get, evaluate, parse_number
from crawlers.items import Listing
from crawlers.middlewares import BackoffRetryMiddleware, parse_retry_after
from crawlers.profiles import load_profile
from crawlers.spiderloader import ProfileSpiderLoader
from crawlers.spiders.api_mode import is_last_page
from crawlers.spiders.profile import SCROLL_PATIENCE, ProfileSpider, make_spider_class
from tests.test_profiles import API, STATIC

BASE = "http://127.0.0.1:8000"
ITEM_HTML = """<html><body>
<h1>  加绒 羊绒衫\n 男款 </h1>
<span class="sku">编号 SKU-1042</span>
<span class="price">¥1,299.00</span>
<a class="licence" href="/shop/7/licence">营业执照</a>
</body></html>"""
LICENCE_HTML = """<html><body><span class="code">91150100MA0N000000</span>
<span class="name">某某服饰有限公司</span></body></html>"""


def html(url: str, body: str, meta: dict[str, Any] | None = None) -> HtmlResponse:
    request = Request(url, meta=meta or {})
    return HtmlResponse(url=url, body=body.encode("utf-8"), encoding="utf-8", request=request)


def project_dict() -> dict[str, Any]:
    return {k: getattr(project_settings, k) for k in dir(project_settings) if k.isupper()}


def make_spider(tmp_path: Path, data: dict[str, Any]) -> ProfileSpider:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    cls = make_spider_class(load_profile(path))
    crawler = get_crawler(cls, {"TWISTED_REACTOR_ENABLED": False})
    spider = crawler._create_spider(base_url=BASE)
    crawler.spider = spider
    assert isinstance(spider, ProfileSpider)
    return spider


def collect(outputs: AsyncIterator[Any] | Iterable[Any]) -> list[Any]:
    if isinstance(outputs, AsyncIterator):

        async def drain() -> list[Any]:
            return [x async for x in outputs]

        return asyncio.run(drain())
    return list(outputs)


def stat(spider: ProfileSpider, key: str) -> Any:
    assert spider.crawler.stats is not None
    return spider.crawler.stats.get_value(key)


# ---- selector semantics -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("¥1,299.00", 1299.0),
        ("月销 1.2万+", 12000.0),
        ("已售3000+件", 3000.0),
        ("价格：面议", None),
        ("1.5k 人付款", 1500.0),
        (".5", 0.5),
    ],
)
def test_parse_number(text: str, expected: float | None) -> None:
    assert parse_number(text) == expected


def test_parse_number_regex_group() -> None:
    assert parse_number("3天瘦10斤 原价¥59", r"原价¥(\d+)") == 59.0
    assert parse_number("没有价格", r"原价¥(\d+)") is None


def test_selector_types() -> None:
    sel = Selector(
        text="""<div class="d"> 第一行 <b>加粗</b>\n\n 第二行 </div>
        <p class="t">甲</p><p class="t">  乙  </p>
        <img src="/a.jpg"><img src="http://cdn.example/b.jpg">
        <span class="s">月销 2.5万+</span><span class="n">共 12 件</span>"""
    )
    assert evaluate(sel, SelectorSpec(css="div.d"), BASE) == "第一行 加粗 第二行"
    assert evaluate(sel, SelectorSpec(css="p.t::text"), BASE) == "甲"
    assert evaluate(sel, SelectorSpec(css="p.t::text", many=True), BASE) == "甲\n乙"
    assert evaluate(sel, SelectorSpec(css="span.s::text", type="int"), BASE) == 25000
    assert evaluate(sel, SelectorSpec(xpath="//span[@class='n']/text()", type="float"), BASE) == 12
    assert evaluate(sel, SelectorSpec(css="img::attr(src)", type="url"), BASE) == f"{BASE}/a.jpg"
    assert evaluate(sel, SelectorSpec.parse({"css": "img::attr(src)", "type": "urls"}), BASE) == [
        f"{BASE}/a.jpg",
        "http://cdn.example/b.jpg",
    ]
    assert evaluate(sel, SelectorSpec(css="span.n::text", regex=r"共 (\d+)"), BASE) == "12"
    assert evaluate(sel, SelectorSpec(css=".absent::text"), BASE) is None
    assert evaluate(sel, SelectorSpec(css=".absent::text", type="float"), BASE) is None


def test_dotted_get() -> None:
    data = {"data": {"items": [{"id": 5}], "meta": {"last": 3}}}
    assert dotted_get(data, "data.items.0.id") == 5
    assert dotted_get(data, "data.meta.last") == 3
    assert dotted_get(data, "data.nothing.here") is None
    assert dotted_get(data, "data.items.4") is None


# ---- the spider on HTML fixtures ---------------------------------------------------


def test_list_page_yields_items_and_next(tmp_path: Path) -> None:
    spider = make_spider(tmp_path, STATIC)
    body = '<a class="item" href="/mall/item/1">1</a><a class="item" href="/mall/item/2">2</a>'
    body += '<a class="next" href="/mall/list?page=2">下一页</a>'
    out = collect(spider.parse_list(html(f"{BASE}/mall/list", body, {"tiequan_page": 1})))
    urls = [r.url for r in out]
    assert urls == [f"{BASE}/mall/item/1", f"{BASE}/mall/item/2", f"{BASE}/mall/list?page=2"]
    assert out[2].meta["tiequan_page"] == 2
    assert out[0].callback == spider.parse_item


def test_pagination_cap(tmp_path: Path) -> None:
    spider = make_spider(tmp_path, STATIC)  # max_pages: 3
    body = '<a class="next" href="/mall/list?page=4">下一页</a>'
    out = collect(spider.parse_list(html(f"{BASE}/mall/list?page=3", body, {"tiequan_page": 3})))
    assert out == []
    assert stat(spider, "tiequan/pagination_capped") == 1
    below = collect(spider.parse_list(html(f"{BASE}/mall/list?page=2", body, {"tiequan_page": 2})))
    assert [r.url for r in below] == [f"{BASE}/mall/list?page=4"]


def test_item_fields_and_licence_pending_list(tmp_path: Path) -> None:
    spider = make_spider(tmp_path, STATIC)
    first = collect(spider.parse_item(html(f"{BASE}/mall/item/1", ITEM_HTML)))
    assert len(first) == 1 and isinstance(first[0], Request)
    licence_request = first[0]
    assert licence_request.url == f"{BASE}/shop/7/licence" and licence_request.dont_filter
    # a second item of the same shop waits for the same licence: no second request
    second = collect(spider.parse_item(html(f"{BASE}/mall/item/2", ITEM_HTML.replace("1042", "7"))))
    assert second == []
    licence_page = html(licence_request.url, LICENCE_HTML, dict(licence_request.meta))
    items = collect(spider.parse_licence(licence_page))
    assert [i.item_id for i in items] == ["1042", "7"]
    listing = items[0]
    assert isinstance(listing, Listing)
    assert listing.title == "加绒 羊绒衫 男款"
    assert listing.price == 1299.0
    assert listing.platform == "demo_mall" and listing.kind == "product"
    assert listing.status == 200 and len(listing.body_sha256 or "") == 64
    assert listing.captured_at.endswith("+00:00")
    assert listing.licence is not None and listing.licence.credit_code == "91150100MA0N000000"
    assert items[1].licence is listing.licence
    # the licence is now known: a third item is emitted at once, with it
    third = collect(spider.parse_item(html(f"{BASE}/mall/item/3", ITEM_HTML.replace("1042", "9"))))
    assert [i.item_id for i in third] == ["9"] and third[0].licence is listing.licence
    assert stat(spider, "tiequan/items/demo_mall") == 3


def test_licence_failure_releases_held_items(tmp_path: Path) -> None:
    spider = make_spider(tmp_path, STATIC)
    (request,) = collect(spider.parse_item(html(f"{BASE}/mall/item/1", ITEM_HTML)))
    collect(spider.parse_item(html(f"{BASE}/mall/item/2", ITEM_HTML.replace("1042", "2"))))
    failure = Failure(ConnectionRefusedError("refused"))
    failure.request = request  # type: ignore[attr-defined]
    items = collect(spider.licence_failed(failure))
    assert [i.item_id for i in items] == ["1042", "2"]
    assert all(i.licence is None for i in items)
    assert stat(spider, "tiequan/licence_failed") == 1


def test_incomplete_item_is_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spider = make_spider(tmp_path, STATIC)
    url = f"{BASE}/mall/item/5"
    with caplog.at_level(logging.WARNING):
        out = collect(spider.parse_item(html(url, "<h1>只有标题</h1>")))
    assert out == []
    assert stat(spider, "tiequan/item_incomplete") == 1
    assert url in caplog.text and "id" in caplog.text


def test_inline_items(tmp_path: Path) -> None:
    data = {
        **STATIC,
        "name": "demo_feed",
        "kind": "post",
        "listing": {
            "inline_items": {
                "container": "article.post",
                "fields": {
                    "id": "::attr(data-id)",
                    "title": "h2::text",
                    "likes": {"css": ".l::text", "type": "int"},
                },
            }
        },
    }
    del data["item"], data["licence"]
    spider = make_spider(tmp_path, data)
    body = """<article class="post" data-id="p1"><h2>第一帖</h2><i class="l">1.1万</i></article>
    <article class="post" data-id="p2"><h2></h2></article>"""
    out = collect(spider.parse_list(html(f"{BASE}/feed", body)))
    assert [(x.item_id, x.title, x.extra) for x in out] == [("p1", "第一帖", {"likes": 11000})]
    assert stat(spider, "tiequan/item_incomplete") == 1


class FakeMouse:
    def __init__(self) -> None:
        self.wheels = 0

    async def wheel(self, dx: float, dy: float) -> None:
        self.wheels += 1


class FakePage:
    """Just enough of a Playwright page for ProfileSpider.rendered()."""

    def __init__(
        self, html: str, fail_content: bool = False, missing_selector: bool = False
    ) -> None:
        self.html = html
        self.url = f"{BASE}/feed"
        self.mouse = FakeMouse()
        self.closed = False
        self.fail_content = fail_content
        self.missing_selector = missing_selector
        self.settled = 0

    async def wait_for_selector(self, selector: str, timeout: float) -> None:
        if self.missing_selector:
            raise TimeoutError(f"{selector} not there")

    async def evaluate(self, script: str) -> str:
        return "800:40"  # the page never grows

    async def wait_for_timeout(self, ms: float) -> None:
        return None

    async def wait_for_load_state(self, state: str, timeout: float) -> None:
        self.settled += 1  # the spider waits for the feed's requests after each scroll

    async def content(self) -> str:
        if self.fail_content:
            raise RuntimeError("target closed")
        return self.html

    async def close(self) -> None:
        self.closed = True


def browser_spider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProfileSpider:
    exe = tmp_path / "chromium"
    exe.write_text("#!/bin/sh\n", encoding="utf-8")
    exe.chmod(0o755)
    monkeypatch.setenv(CHROMIUM_ENV, str(exe))
    data = {
        **STATIC,
        "name": "demo_js",
        "render": "browser",
        "browser": {"wait_for": "article", "scroll_times": 30, "scroll_wait_ms": 1},
    }
    spider = make_spider(tmp_path, data)
    assert spider.crawler.settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")["executable_path"] == str(
        exe
    )
    return spider


def test_browser_page_is_scrolled_until_it_stops_growing_and_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spider = browser_spider(tmp_path, monkeypatch)
    page = FakePage("<html><body><article>帖</article></body></html>", missing_selector=True)
    request = spider.list_request(f"{BASE}/feed", page=1)
    assert request.meta["playwright"] and request.meta["playwright_include_page"]
    request.meta["playwright_page"] = page
    response = HtmlResponse(url=request.url, body=b"<html></html>", request=request)
    rendered = asyncio.run(spider.rendered(response, list_page=True))
    assert page.closed
    assert page.mouse.wheels == SCROLL_PATIENCE == page.settled
    assert rendered.css("article::text").get() == "帖"
    assert stat(spider, "tiequan/browser_wait_timeout") == 1


def test_browser_page_closed_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spider = browser_spider(tmp_path, monkeypatch)
    page = FakePage("", fail_content=True)
    request = spider.item_request(f"{BASE}/mall/item/1")
    request.meta["playwright_page"] = page
    response = HtmlResponse(url=request.url, body=b"", request=request)
    with pytest.raises(RuntimeError):
        asyncio.run(spider.rendered(response, list_page=False))
    assert page.closed and page.mouse.wheels == 0
    # errback path: a failed download still closes the page it opened
    other = FakePage("")
    failed = spider.item_request(f"{BASE}/mall/item/2")
    failed.meta["playwright_page"] = other
    failure = Failure(ConnectionRefusedError("refused"))
    failure.request = failed  # type: ignore[attr-defined]
    asyncio.run(spider.on_error(failure))
    assert other.closed
    assert stat(spider, "tiequan/request_failed") == 1


def test_api_list_detail_and_licence(tmp_path: Path) -> None:
    spider = make_spider(tmp_path, API)
    page = {"data": {"items": [{"id": 11}, {"id": 12}]}, "last_page": 2}
    response = TextResponse(
        f"{BASE}/api/list?page=1",
        body=json.dumps(page).encode(),
        request=Request(f"{BASE}/api/list?page=1", meta={"tiequan_api_page": 1}),
    )
    out = collect(spider.parse_api_list(response))
    assert [r.url for r in out] == [
        f"{BASE}/api/item/11",
        f"{BASE}/api/item/12",
        f"{BASE}/api/list?page=2",
    ]
    detail = {"id": 11, "name": "学区房 首付三成", "agency": {"id": "a9"}}
    detail_response = TextResponse(f"{BASE}/api/item/11", body=json.dumps(detail).encode())
    (licence_request,) = collect(spider.parse_api_detail(detail_response))
    assert licence_request.url == f"{BASE}/api/licence/a9"
    licence = TextResponse(licence_request.url, body=b'{"code": "X1"}', request=licence_request)
    (listing,) = collect(spider.parse_licence(licence))
    assert listing.item_id == "11" and listing.extra == {"shop_id": "a9"}
    assert listing.licence is not None and listing.licence.credit_code == "X1"


def test_is_last_page() -> None:
    assert is_last_page({"meta": {"last": 3}}, "meta.last", 3)
    assert not is_last_page({"meta": {"last": 3}}, "meta.last", 2)
    assert is_last_page({"end": True}, "end", 1)
    assert not is_last_page({}, None, 99)


# ---- spider loader ---------------------------------------------------------------------


def test_spider_loader(tmp_path: Path) -> None:
    for data in (STATIC, API):
        (tmp_path / f"{data['name']}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    loader = ProfileSpiderLoader.from_settings(Settings({"TIEQUAN_SITES_DIR": str(tmp_path)}))
    assert loader.list() == ["demo_api", "demo_mall"]
    cls = loader.load("demo_mall")
    assert issubclass(cls, ProfileSpider) and cls.name == "demo_mall"
    custom = dict(cls.custom_settings or {})
    # The profile's field-coverage rules go with its politeness (crawlers.health.config).
    assert custom.pop("SPIDERMON_FIELD_COVERAGE_RULES")["Listing/title"] == 0.95
    assert custom == {
        "DOWNLOAD_DELAY": 0.25,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        "ROBOTSTXT_OBEY": True,
    }
    assert loader.find_by_request(Request(f"{BASE}/x")) == ["demo_api", "demo_mall"]
    assert loader.find_by_request(Request("http://127.0.0.1:1/x")) == []
    with pytest.raises(KeyError):
        loader.load("nope")


# ---- settings, retry, browser -------------------------------------------------------


def test_crawl_settings_from_project() -> None:
    cfg = TiequanCrawlSettings.from_settings(Settings(project_dict()))
    assert cfg.retry_enabled and cfg.retry_times == project_settings.RETRY_TIMES
    assert {429, 503} <= cfg.retry_http_codes
    assert cfg.backoff_delay(0) == project_settings.RETRY_BACKOFF_BASE
    assert cfg.backoff_delay(3) == 8 * project_settings.RETRY_BACKOFF_BASE
    assert cfg.backoff_delay(30) == project_settings.RETRY_BACKOFF_MAX
    assert cfg.backoff_delay(0, retry_after=1000) == project_settings.RETRY_BACKOFF_MAX


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"RETRY_BACKOFF_BASE": 60, "RETRY_BACKOFF_MAX": 5}, "RETRY_BACKOFF_BASE"),
        ({"RETRY_TIMES": -1}, "RETRY_TIMES"),
        (
            {"AUTOTHROTTLE_START_DELAY": 90, "AUTOTHROTTLE_MAX_DELAY": 10},
            "AUTOTHROTTLE_START_DELAY",
        ),
    ],
)
def test_crawl_settings_conflicts_raise(overrides: dict[str, Any], message: str) -> None:
    settings = Settings(project_dict())
    settings.setdict(overrides, priority="cmdline")
    with pytest.raises(SettingsConflict, match=message):
        TiequanCrawlSettings.from_settings(settings)


def test_both_retry_middlewares_conflict() -> None:
    settings = Settings(project_dict())
    settings.set(
        "DOWNLOADER_MIDDLEWARES",
        {"crawlers.middlewares.BackoffRetryMiddleware": 550},
        priority="cmdline",
    )
    with pytest.raises(SettingsConflict, match="retried twice"):
        TiequanCrawlSettings.from_settings(settings)


def test_ignored_settings_warn(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(project_dict())
    settings.setdict({"RETRY_ENABLED": False, "RETRY_TIMES": 9}, priority="cmdline")
    with caplog.at_level(logging.WARNING, logger="crawlers.crawl_settings"):
        TiequanCrawlSettings.from_settings(settings)
    assert "RETRY_TIMES" in caplog.text and "ignored" in caplog.text


def _middleware(extra: dict[str, Any]) -> BackoffRetryMiddleware:
    crawler = get_crawler(
        settings_dict={**project_dict(), **extra, "TWISTED_REACTOR_ENABLED": False}
    )
    crawler.spider = crawler._create_spider()
    return BackoffRetryMiddleware.from_crawler(crawler)


def test_retry_middleware_backoff_and_give_up() -> None:
    mw = _middleware({"RETRY_TIMES": 2, "RETRY_BACKOFF_BASE": 0.01, "RETRY_BACKOFF_MAX": 0.02})
    request = Request(f"{BASE}/x")

    async def run() -> list[Request | Response]:
        seen: list[Request | Response] = []
        current = request
        for _ in range(3):
            response = Response(
                current.url, status=503, headers={"Retry-After": "0"}, request=current
            )
            result = await mw.process_response(current, response)
            seen.append(result)
            if isinstance(result, Request):
                current = result
        return seen

    seen = asyncio.run(run())
    assert [type(x).__name__ for x in seen] == ["Request", "Request", "Response"]
    stats = mw.crawler.stats
    assert stats is not None and stats.get_value("tiequan/retry/503") == 2
    ok = asyncio.run(mw.process_response(request, Response(request.url, status=200)))
    assert isinstance(ok, Response) and ok.status == 200


def test_retry_disabled_is_not_configured() -> None:
    with pytest.raises(NotConfigured):
        _middleware({"RETRY_ENABLED": False})


def test_parse_retry_after() -> None:
    assert parse_retry_after(b"7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after(None) is None


def test_find_chromium(tmp_path: Path) -> None:
    exe = tmp_path / "chrome"
    exe.write_text("#!/bin/sh\n", encoding="utf-8")
    exe.chmod(0o755)
    assert find_chromium(env={CHROMIUM_ENV: str(exe)}) == exe
    with pytest.raises(BrowserNotFound):
        find_chromium(env={CHROMIUM_ENV: str(tmp_path / "missing")})
    assert find_chromium(env={}, candidates=(str(tmp_path / "no"), str(exe))) == exe
    assert find_chromium(env={}, candidates=(str(tmp_path / "no"),)) is None
