"""render: api — JSON list pages, optional detail and licence endpoints (a ProfileSpider mixin)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy.http import Response

from crawlers.assemble import PageInfo, make_listing
from crawlers.extract import dotted_get, json_fields

if TYPE_CHECKING:
    from twisted.python.failure import Failure

    from crawlers.items import Listing, RawCapture
    from crawlers.profiles import ApiSpec, SiteProfile

API_PAGE_META = "tiequan_api_page"


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


class ApiModeMixin:
    if TYPE_CHECKING:
        profile: SiteProfile

        def inc_stat(self, key: str, count: int = 1) -> None: ...
        def emit(self, listings: list[Listing]) -> Iterator[Listing]: ...
        def incomplete(self, url: str, fields: dict[str, Any]) -> None: ...
        def capture(
            self, response: Response, rendered: Response | None = None
        ) -> RawCapture | None: ...
        def with_licence(self, key: str, listing: Listing) -> Iterator[Any]: ...
        async def on_error(self, failure: Failure) -> None: ...
        @property
        def logger(self) -> Any: ...

    def api_spec(self) -> ApiSpec:
        # a method, not a property: feed exports getattr() every spider attribute
        assert self.profile.api is not None
        return self.profile.api

    def api_start(self) -> Iterator[scrapy.Request]:
        yield self.api_list_request(1)

    def api_list_request(self, page: int) -> scrapy.Request:
        url = self.profile.url(self.api_spec().list_path.replace("{page}", str(page)))
        return scrapy.Request(
            url, callback=self.parse_api_list, errback=self.on_error, meta={API_PAGE_META: page}
        )

    def parse_api_list(self, response: Response) -> Iterator[Any]:
        page = int(response.meta.get(API_PAGE_META, 1))
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
        if not items or is_last_page(data, self.api_spec().last_page_key, page):
            return
        if page >= self.api_spec().max_pages:
            self.inc_stat("tiequan/pagination_capped")
            self.logger.info("stopped at %s: api.max_pages = %d reached", response.url, page)
            return
        yield self.api_list_request(page + 1)

    def api_detail_request(self, raw: Any, list_url: str) -> Iterator[scrapy.Request]:
        item_id = dotted_get(raw, self.api_spec().fields["id"])
        if item_id is None:
            item_id = dotted_get(raw, "id")
        if item_id in (None, ""):
            self.incomplete(list_url, {"id": None, "title": dotted_get(raw, "title")})
            return
        path = self.api_spec().detail_path or ""
        yield scrapy.Request(
            self.profile.url(path.replace("{id}", str(item_id))),
            callback=self.parse_api_detail,
            errback=self.on_error,
        )

    def parse_api_detail(self, response: Response) -> Iterator[Any]:
        yield from self.api_listing(_json(response), response)

    def api_listing(self, data: Any, response: Response) -> Iterator[Any]:
        fields = json_fields(data, self.api_spec().fields)
        info = PageInfo.of(response, self.capture(response))
        listing = make_listing(fields, profile=self.profile, page=info)
        if listing is None:
            self.incomplete(response.url, fields)
            return
        key = self.api_licence_url(fields)
        yield from self.with_licence(key, listing) if key else self.emit([listing])

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
        return json_fields(_json(response), self.api_spec().licence_fields)
