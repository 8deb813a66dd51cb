"""render: api — JSON list pages, optional detail and licence endpoints (a ProfileSpider mixin)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urljoin

import scrapy
from scrapy.http import Response

from crawlers.assemble import PageInfo, make_licence, make_listing
from crawlers.extract import dotted_get, json_fields, json_value

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from crawlers.items import Listing, RawCapture
    from crawlers.profiles import ApiSpec, SiteProfile

API_PAGE_META = "tiequan_api_page"  # how many list requests so far, this one included
API_POSITION_META = "tiequan_api_position"  # this request's page number, offset or cursor
API_SEEN_META = "tiequan_api_seen"  # items listed before this page


def _json(response: Response) -> Any:
    try:
        return json.loads(response.body)
    except ValueError:
        return None


def is_last_page(data: Any, last_page_key: str | None, page: int) -> bool:
    """``last_page_key`` names either the last page number or an "is last" flag."""
    if not last_page_key:
        return False
    value = dotted_get(data, last_page_key)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return page >= value
    if isinstance(value, str) and value.strip().isdigit():
        return page >= int(value)
    return False


def total_reached(data: Any, total_key: str | None, seen: int) -> bool:
    """Whether ``seen`` items cover the total the API reports at ``total_key``."""
    if not total_key:
        return False
    value = dotted_get(data, total_key)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return False
    try:
        return seen >= float(value)
    except ValueError:
        return False


CAPPED = "api.max_pages"


def list_url(profile: SiteProfile, position: int | str) -> str:
    """The list URL for a page number, offset or cursor (paging by next: the first URL)."""
    assert profile.api is not None
    paging = profile.api.paging
    values: dict[str, Any] = {"limit": paging.limit}
    if paging.by == "next":
        values["page"] = paging.start if paging.start is not None else 1
        values["offset"] = paging.start if paging.start is not None else 0
    else:
        values[paging.by] = position
    path = profile.api.list_path
    for name, value in values.items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    return profile.url(path)


def next_list_page(
    profile: SiteProfile,
    data: Any,
    url: str,
    count: int,
    position: int | str,
    seen: int,
    received: int,
) -> tuple[str, int | str] | str:
    """(URL, position) of the list page after this one, or why the list ends here.

    ``count`` list pages were requested so far, this one (at ``position``) included;
    ``seen`` items were listed up to and including its ``received``.
    """
    assert profile.api is not None
    spec = profile.api
    paging = spec.paging
    page_number = int(position) if paging.by == "page" else count
    if not received:
        return "the page lists no items"
    if is_last_page(data, spec.last_page_key, page_number):
        return f"last_page_key {spec.last_page_key} says this is the last page"
    if total_reached(data, paging.total_key, seen):
        return f"{seen} items listed: total_key {paging.total_key} reached"
    following: Any = None
    if paging.by in ("next", "cursor"):
        following = dotted_get(data, paging.next_key or "")
        if following in (None, "", False) or isinstance(following, (dict, list)):
            return f"next_key {paging.next_key} is {json.dumps(following, ensure_ascii=False)}"
    if count >= spec.max_pages:
        return f"{CAPPED} = {spec.max_pages} reached"
    if paging.by == "next":
        return urljoin(url, str(following)), ""
    nxt: int | str
    if paging.by == "cursor":
        nxt = following if isinstance(following, (int, str)) else str(following)
    elif paging.by == "offset":
        nxt = int(position) + received
    else:
        nxt = int(position) + 1
    return list_url(profile, nxt), nxt


class ApiModeMixin:
    if TYPE_CHECKING:
        profile: SiteProfile

        def inc_stat(self, key: str, count: int = 1) -> None: ...
        def emit(self, listings: list[Listing]) -> Iterator[Listing]: ...
        def incomplete(self, url: str, fields: dict[str, Any]) -> None: ...
        def capture(
            self, response: Response, rendered: Response | None = None
        ) -> RawCapture | None: ...
        def with_licence(self, key: str, listing: Listing, origin: Any = None) -> Iterator[Any]: ...
        async def on_error(self, failure: Failure) -> None: ...
        @property
        def logger(self) -> Any: ...

    def api_spec(self) -> ApiSpec:
        # a method, not a property: feed exports getattr() every spider attribute
        assert self.profile.api is not None
        return self.profile.api

    def api_start(self) -> Iterator[scrapy.Request]:
        paging = self.api_spec().paging
        yield self.api_list_request(self.api_list_url(paging.first), 1, paging.first, 0)

    def api_list_url(self, position: int | str) -> str:
        return list_url(self.profile, position)

    def api_list_request(
        self, url: str, count: int, position: int | str, seen: int
    ) -> scrapy.Request:
        meta = {API_PAGE_META: count, API_POSITION_META: position, API_SEEN_META: seen}
        return scrapy.Request(url, callback=self.parse_api_list, errback=self.on_error, meta=meta)

    def parse_api_list(self, response: Response) -> Iterator[Any]:
        data = _json(response)
        items = dotted_get(data, self.api_spec().items_key)
        if not isinstance(items, list):
            self.logger.warning("%s: no list at %r", response.url, self.api_spec().items_key)
            return
        for raw in items:
            if self.api_spec().detail_path:
                yield from self.api_detail_request(raw, response.url)
            else:
                yield from self.api_listing(raw, response)
        following = self.api_next_request(data, response, len(items))
        if following is not None:
            yield following

    def api_next_request(self, data: Any, response: Response, received: int) -> Any:
        """The request for the next list page, or None where the list ends."""
        count = int(response.meta.get(API_PAGE_META, 1))
        position = response.meta.get(API_POSITION_META, self.api_spec().paging.first)
        seen = int(response.meta.get(API_SEEN_META, 0)) + received
        step = next_list_page(self.profile, data, response.url, count, position, seen, received)
        if isinstance(step, str):
            if step.startswith(CAPPED):
                self.inc_stat("tiequan/pagination_capped")
                self.logger.info("stopped at %s: %s", response.url, step)
            return None
        url, nxt = step
        return self.api_list_request(url, count + 1, nxt, seen)

    def api_detail_request(self, raw: Any, list_url: str) -> Iterator[scrapy.Request]:
        item_id = json_value(raw, self.api_spec().fields["id"])
        if item_id is None:
            item_id = dotted_get(raw, "id")
        if item_id in (None, ""):
            self.incomplete(list_url, {"id": None, "title": dotted_get(raw, "title")})
            return
        path = self.api_spec().detail_path or ""
        yield scrapy.Request(
            self.profile.url(path.replace("{id}", quote(str(item_id), safe=""))),
            callback=self.parse_api_detail,
            errback=self.on_error,
        )

    def parse_api_detail(self, response: Response) -> Iterator[Any]:
        yield from self.api_listing(_json(response), response)

    def api_listing(self, data: Any, response: Response) -> Iterator[Any]:
        spec = self.api_spec()
        fields = json_fields(data, spec.fields, response.url)
        info = PageInfo.of(response, self.capture(response))
        listing = make_listing(fields, profile=self.profile, page=info)
        if listing is None:
            self.incomplete(response.url, fields)
            return
        key = self.api_licence_url(fields)
        if key:
            yield from self.with_licence(key, listing, origin=response.request)
            return
        if spec.licence_fields and not spec.licence_path:
            # the licence is part of the item's own JSON: no request for it
            listing.licence = make_licence(
                json_fields(data, spec.licence_fields, response.url), response.url
            )
            self.inc_stat(
                "tiequan/licence_on_page" if listing.licence else "tiequan/licence_absent"
            )
        yield from self.emit([listing])

    def api_licence_url(self, fields: dict[str, Any]) -> str | None:
        path = self.api_spec().licence_path
        if not path:
            return None
        for name, value in fields.items():
            placeholder = "{" + name + "}"
            if placeholder in path:
                if value in (None, ""):
                    self.inc_stat("tiequan/licence_missing")
                    return None
                path = path.replace(placeholder, str(value))
        return self.profile.url(path)

    def api_licence_fields(self, response: Response) -> dict[str, Any]:
        return json_fields(_json(response), self.api_spec().licence_fields, response.url)
