"""The one spider class all sites share; a site profile says what to fetch and extract.

``make_spider_class(profile)`` derives a named subclass per profile (the spider loader
does this), so ``scrapy crawl sandbox_mall`` runs ``ProfileSpider`` with that profile.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlparse, urlsplit

import scrapy
from parsel import Selector, SelectorList
from playwright.async_api import TimeoutError as PlaywrightTimeout
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.settings import BaseSettings
from twisted.python.failure import Failure

from crawlers import revisit
from crawlers.assemble import (
    EVIDENCE_PIPELINE,
    LicenceCache,
    LicenceState,
    PageInfo,
    header,
    keeps_raw,
    make_licence,
    make_listing,
    missing_required,
    not_modified,
    raw_capture,
    utc_now,
)
from crawlers.browser import BrowserNotFound, find_chromium, plain_http, require_chromium
from crawlers.crawl_settings import deployment_user_agent
from crawlers.extract import SelectorSpec, evaluate, extract_fields
from crawlers.health.config import health_settings
from crawlers.items import Licence, Listing, RawCapture
from crawlers.profiles import SiteProfile
from crawlers.spiders.api_mode import ApiModeMixin

PAGE_META = "tiequan_page"
FOLLOWUP_META = "tiequan_followup"
LICENCE_META = "tiequan_licence_key"
# Licence pages release held items, item pages finish what list pages found: asked before
# the next list page, so the request queue stays a few pages deep however large the site.
LICENCE_PRIORITY = 2
ITEM_PRIORITY = 1
ITEM_PAGE_META = "tiequan_item_page"  # may be asked conditionally (pipelines.recrawl)
RECRAWL_ITEM_META = "tiequan_recrawl_item"  # the stored listing a conditional request names
BROWSER_WAIT_TIMEOUT_MS = 15_000
SCROLL_PATIENCE = 3  # scrolls without new content before we call the feed exhausted
SETTLE_TIMEOUT_MS = 5_000
_SCROLL_JS = "window.scrollTo(0, document.body.scrollHeight)"
_SHAPE_JS = "document.body.scrollHeight + ':' + document.getElementsByTagName('*').length"


class ProfileSpider(ApiModeMixin, scrapy.Spider):
    """Crawls one site as its profile describes; ``-a base_url=...`` retargets it."""

    name = "profile"
    profile: SiteProfile

    def __init__(self, base_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if base_url:
            self.profile = type(self).profile.with_base_url(base_url)
        host = urlparse(self.profile.base_url).hostname
        self.allowed_domains = [host] if host else []
        self.licences = LicenceCache()
        self._keep_raw: bool | None = None
        self._revisits: dict[str, revisit.Target] | None = None

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        agent = deployment_user_agent(settings)
        if agent != settings.get("USER_AGENT"):
            settings.set("USER_AGENT", agent, priority=settings.getpriority("USER_AGENT") or 0)
        profile = getattr(cls, "profile", None)
        if profile is None:
            return
        options = dict(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
        if "executable_path" in options:
            return
        if profile.render == "browser":
            options["executable_path"] = str(require_chromium())
        elif keeps_raw(settings, (EVIDENCE_PIPELINE,)) and settings.getbool(
            "TIEQUAN_EVIDENCE_SCREENSHOTS", True
        ):  # (a distributed crawl worker hands its items off: the detection workers shoot)
            # Screenshots of flagged pages need the browser even on static sites; without
            # one the evidence stage notes the failure and keeps the other artefacts.
            try:
                found = find_chromium()
            except BrowserNotFound:
                found = None
            if found is None:
                plain_http(settings)
                return
            options["executable_path"] = str(found)
        else:
            plain_http(settings)
            return
        settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", options, priority="spider")

    # ---- shared helpers -------------------------------------------------------------

    def keep_raw(self) -> bool:
        # a method, not a property: feed exports getattr() every spider attribute
        if self._keep_raw is None:
            crawler = getattr(self, "crawler", None)
            self._keep_raw = crawler is not None and keeps_raw(crawler.settings)
        return self._keep_raw

    def capture(self, response: Response, rendered: Response | None = None) -> RawCapture | None:
        """The raw exchange for the evidence stage (None when that stage is off)."""
        if not self.keep_raw():
            return None
        dom = rendered.body if rendered is not None and rendered is not response else None
        return raw_capture(response, dom=dom)

    def inc_stat(self, key: str, count: int = 1) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(key, count)

    def revisits(self) -> dict[str, revisit.Target]:
        """This site's entries of the revisit list (TIEQUAN_FOLLOWUP_FILE), read once."""
        if self._revisits is None:
            path = self.settings.get("TIEQUAN_FOLLOWUP_FILE")
            self._revisits = revisit.load(path, self.name) if path else {}
        return self._revisits

    def emit(self, listings: list[Listing]) -> Iterator[Listing]:
        revisits = self.revisits()
        for listing in listings:
            listing.revisit = revisits.get(listing.item_id)
            self.inc_stat(f"tiequan/items/{self.profile.name}")
            yield listing

    def incomplete(self, url: str, fields: dict[str, Any]) -> None:
        self.inc_stat("tiequan/item_incomplete")
        self.logger.warning(
            "item at %s lacks %s: has the page layout changed?",
            url,
            ", ".join(missing_required(fields)),
        )

    def with_licence(
        self, key: str, listing: Listing, origin: scrapy.Request | None = None
    ) -> Iterator[Listing | scrapy.Request]:
        """Emit now if the shop's licence is known, else fetch it once and hold the item.

        A durable frontier (pipelines.frontier) keeps ``origin``, the item's page, unfinished
        while the item is held, so a crash before the licence page comes loses nothing.
        """
        state = self.licences.add(key, listing)
        frontier = getattr(self, "frontier", None)
        if state is not LicenceState.READY and frontier is not None and origin is not None:
            frontier.hold(origin, key)
        if state is LicenceState.READY:
            yield from self.emit([listing])
        elif state is LicenceState.FETCH:
            yield scrapy.Request(
                key,
                callback=self.parse_licence,
                errback=self.licence_failed,
                dont_filter=True,
                meta={LICENCE_META: key},
                priority=LICENCE_PRIORITY,
            )

    def parse_licence(self, response: Response) -> Iterator[Listing]:
        key = response.meta[LICENCE_META]
        if self.profile.render == "api":
            fields = self.api_licence_fields(response)
        elif not isinstance(response, TextResponse):
            fields = {}
        else:
            spec = self.profile.licence
            fields = extract_fields(response.selector, spec.fields if spec else {}, response.url)
        licence = make_licence(fields, response.url)
        if licence is None:
            # the shop shows no licence (电子商务法 §15 gap)
            self.inc_stat("tiequan/licence_absent")
        self.released(key, response.request)
        yield from self.emit(self.licences.resolve(key, licence, self.capture(response)))

    def licence_failed(self, failure: Failure) -> Iterator[Listing]:
        key = failure.request.meta[LICENCE_META]  # type: ignore[attr-defined]
        self.inc_stat("tiequan/licence_failed")
        self.logger.warning("licence page %s failed: %s", key, failure.getErrorMessage())
        self.released(key, failure.request)  # type: ignore[attr-defined]
        yield from self.emit(self.licences.resolve(key, None))

    def released(self, key: str, by: scrapy.Request | None) -> None:
        frontier = getattr(self, "frontier", None)
        if frontier is not None and by is not None:
            frontier.release(key, by)

    async def on_error(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        page = request.meta.get("playwright_page")
        if page is not None:
            await page.close()
        if failure.check(IgnoreRequest):
            # robots.txt, offsite and the like: deliberate, already in Scrapy's own stats
            self.logger.debug("request %s ignored: %s", request.url, failure.getErrorMessage())
            return
        self.inc_stat("tiequan/request_failed")
        self.logger.warning("request %s failed: %s", request.url, failure.getErrorMessage())

    # ---- static and browser rendering ---------------------------------------------

    async def start(self) -> AsyncIterator[Any]:
        for request in self.followup_requests():
            yield request
        if self.profile.render == "api":
            for request in self.api_start():
                yield request
            return
        for path in self.profile.start_paths:
            yield self.list_request(self.profile.url(path), page=1)

    def browser_meta(self) -> dict[str, Any]:
        if self.profile.render != "browser":
            return {}
        return {
            "playwright": True,
            "playwright_include_page": True,
            "playwright_page_goto_kwargs": {"wait_until": "domcontentloaded"},
        }

    def list_request(self, url: str, page: int) -> scrapy.Request:
        meta = {PAGE_META: page, **self.browser_meta()}
        return scrapy.Request(url, callback=self.parse_list, errback=self.on_error, meta=meta)

    async def rendered(self, response: Response, list_page: bool) -> Response:
        """The page's HTML after scripts (and scrolling, on list pages); closes the page."""
        page = response.meta.get("playwright_page")
        if page is None:
            return response
        browser = self.profile.browser
        try:
            if list_page and browser.wait_for:
                try:
                    await page.wait_for_selector(browser.wait_for, timeout=BROWSER_WAIT_TIMEOUT_MS)
                except Exception as exc:  # playwright's TimeoutError: render what we have
                    self.inc_stat("tiequan/browser_wait_timeout")
                    self.logger.warning("%s: %s not found: %s", response.url, browser.wait_for, exc)
            if list_page:
                await self.scroll(page)
            html = await page.content()
            url = page.url
        finally:
            await page.close()
        return HtmlResponse(
            url=url,
            body=html.encode("utf-8"),
            encoding="utf-8",
            status=response.status,
            request=response.request,
        )

    async def scroll(self, page: Any) -> None:
        """Scroll up to scroll_times times; stop early once the page stops growing."""
        browser = self.profile.browser
        unchanged = 0
        shape = await page.evaluate(_SHAPE_JS)
        for _ in range(browser.scroll_times):
            # wheel events and a jump to the bottom: lazy loaders listen for either
            await page.mouse.wheel(0, 4000)
            await page.evaluate(_SCROLL_JS)
            await page.wait_for_timeout(browser.scroll_wait_ms)
            # The feed's fetch may still be in flight on a busy machine: wait for the
            # network to settle (bounded) before deciding the page stopped growing.
            try:
                await page.wait_for_load_state("networkidle", timeout=SETTLE_TIMEOUT_MS)
            except PlaywrightTimeout:  # compare what we have
                self.inc_stat("tiequan/scroll_settle_timeout")
            new_shape = await page.evaluate(_SHAPE_JS)
            unchanged = unchanged + 1 if new_shape == shape else 0
            shape = new_shape
            if unchanged >= SCROLL_PATIENCE:
                break

    async def parse_list(self, response: Response) -> AsyncIterator[Any]:
        received = response
        response = await self.rendered(response, list_page=True)
        listing = self.profile.listing
        assert listing is not None
        if not isinstance(response, TextResponse):
            self.logger.warning("list page %s is not HTML", response.url)
            return
        if listing.inline_items is not None:
            for item in self.inline_items(response, self.capture(received, response)):
                yield item
        if listing.item_links is not None:
            links = evaluate(
                response.selector, replace(listing.item_links, many=True, type="urls"), response.url
            )
            for url in links:
                yield self.item_request(url)
        for request in self.next_page(response):
            yield request

    def next_page(self, response: TextResponse) -> Iterator[scrapy.Request]:
        listing = self.profile.listing
        assert listing is not None
        if listing.next_page is None:
            return
        url = evaluate(
            response.selector, replace(listing.next_page, many=False, type="url"), response.url
        )
        if not url:
            return
        page = int(response.meta.get(PAGE_META, 1))
        if page >= listing.max_pages:
            # the pagination-trap guard: stop following "next" however many there are
            self.inc_stat("tiequan/pagination_capped")
            self.logger.info("stopped at %s: listing.max_pages = %d reached", response.url, page)
            return
        yield self.list_request(url, page + 1)

    def inline_items(
        self, response: TextResponse, raw: RawCapture | None = None
    ) -> Iterator[Listing]:
        inline = self.profile.listing.inline_items  # type: ignore[union-attr]
        assert inline is not None
        info = PageInfo.of(response, raw)
        for node in response.css(inline.container):
            fields = extract_fields(node, inline.fields, response.url)
            listing = make_listing(fields, profile=self.profile, page=info)
            if listing is None:
                self.incomplete(response.url, fields)
                continue
            # CSS licence selectors look inside the item's card; an XPath from // sees the page
            listing.licence = self.licence_on_page(node, response.url)
            yield from self.emit([listing])

    def licence_on_page(self, root: Selector | SelectorList[Selector], url: str) -> Licence | None:
        """The licence shown where the item itself is (read_from: page), or None."""
        spec = self.profile.licence
        if spec is None or "page" not in spec.read_from:
            return None
        licence = make_licence(extract_fields(root, spec.fields, url), url)
        if licence is not None:
            self.inc_stat("tiequan/licence_on_page")
        return licence

    def followup_requests(self) -> Iterator[scrapy.Request]:
        """Pages of referred or admonished leads' listings, asked again (takedown follow-up).

        Only sites with item pages: a feed or API site's listings are re-seen by the crawl
        itself. A 404/410 answer is kept (it is the evidence of the takedown).
        """
        if self.profile.item is None or self.profile.render == "api":
            return
        for target in self.revisits().values():
            parts = urlsplit(target.url)
            # Re-based on this run's base_url: a sandbox (or mirror) may move between nights.
            url = self.profile.url(parts.path + (f"?{parts.query}" if parts.query else ""))
            meta = {
                **self.browser_meta(),
                FOLLOWUP_META: {"item_id": target.item_id, "title": target.title},
                "handle_httpstatus_list": [404, 410],
            }
            self.inc_stat("tiequan/followup_requests")
            yield scrapy.Request(url, callback=self.parse_item, errback=self.on_error, meta=meta)

    def gone(self, response: Response, target: dict[str, str], raw: Any) -> Listing:
        """A listing whose page is gone (404/410): kept as a marker for the follow-up."""
        return Listing(
            platform=self.profile.name,
            platform_name=self.profile.platform,
            kind=self.profile.kind,
            url=response.url,
            item_id=target["item_id"],
            title=target["title"] or target["item_id"],
            captured_at=utc_now(),
            final_url=response.url,
            status=response.status,
            extra={"gone": True},
            raw=raw,
            revisit=self.revisits().get(target["item_id"]),
        )

    def item_request(self, url: str) -> scrapy.Request:
        meta = {**self.browser_meta(), ITEM_PAGE_META: True}
        return scrapy.Request(
            url, callback=self.parse_item, errback=self.on_error, meta=meta, priority=ITEM_PRIORITY
        )

    async def parse_item(self, response: Response) -> AsyncIterator[Any]:
        received = response
        response = await self.rendered(response, list_page=False)
        target = response.meta.get(FOLLOWUP_META)
        if target is not None and response.status in (404, 410):
            self.inc_stat("tiequan/followup_gone")
            yield self.gone(response, target, self.capture(received, response))
            return
        if response.status == 304 and RECRAWL_ITEM_META in response.meta:
            self.inc_stat("tiequan/not_modified")
            bare = not_modified(self.profile, response, str(response.meta[RECRAWL_ITEM_META]))
            for sighting in self.emit([bare]):
                yield sighting
            return
        spec = self.profile.item
        assert spec is not None
        if not isinstance(response, TextResponse):
            self.logger.warning("item page %s is not HTML", response.url)
            return
        fields = extract_fields(response.selector, spec.fields, response.url)
        listing = make_listing(
            fields,
            profile=self.profile,
            page=PageInfo.of(response, self.capture(received, response)),
        )
        if listing is None:
            self.incomplete(response.url, fields)
            return
        if received is response:  # validators of a static page, for the next sweep
            listing.etag = header(received, b"ETag")
            listing.last_modified = header(received, b"Last-Modified")
        for out in self.with_item_licence(response, listing):
            yield out

    def with_item_licence(
        self, response: TextResponse, listing: Listing
    ) -> Iterator[Listing | scrapy.Request]:
        """Attach the licence by licence.read_from: the item page itself first when it
        shows a credit code there, else the licence link (fetched once per link)."""
        spec = self.profile.item
        assert spec is not None
        on_page = self.licence_on_page(response.selector, response.url)
        if on_page is not None and on_page.credit_code:
            listing.licence = on_page
            return self.emit([listing])
        link = None
        read_from = self.profile.licence.read_from if self.profile.licence else ()
        if spec.licence_link is not None and "link" in read_from:
            link = evaluate(response.selector, licence_link_spec(spec.licence_link), response.url)
        if link:
            return self.with_licence(link, listing, origin=response.request)
        listing.licence = on_page
        return self.emit([listing])


def licence_link_spec(spec: SelectorSpec) -> SelectorSpec:
    return replace(spec, many=False, type="url")


def make_spider_class(profile: SiteProfile) -> type[ProfileSpider]:
    """A ProfileSpider subclass named after the profile, carrying its politeness settings."""
    class_name = "".join(p.capitalize() for p in re.split(r"_+", profile.name)) + "Spider"
    attrs = {
        "name": profile.name,
        "profile": profile,
        "custom_settings": {**profile.politeness.scrapy_settings(), **health_settings(profile)},
        "__module__": __name__,
        "__doc__": f"Spider for {profile.platform} ({profile.source.name}).",
    }
    return type(class_name, (ProfileSpider,), attrs)
