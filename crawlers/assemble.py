"""Turning extracted field values into Listing/Licence items, and the per-shop licence cache."""

from __future__ import annotations

import enum
import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from crawlers.extract import absolute_urls, parse_number
from crawlers.items import NOT_MODIFIED, Licence, Listing, RawCapture

if TYPE_CHECKING:
    from scrapy.http import Response
    from scrapy.http.headers import Headers
    from scrapy.settings import BaseSettings

    from crawlers.profiles import SiteProfile

# Profile field name -> Listing attribute; any other field goes to Listing.extra.
LISTING_FIELDS: dict[str, str] = {
    "id": "item_id",
    "title": "title",
    "text": "text",
    "price": "price",
    "original_price": "original_price",
    "sales": "sales",
    "shop_name": "shop_name",
    "shop_url": "shop_url",
    "image_urls": "image_urls",
    "url": "url",
}
LICENCE_FIELDS: tuple[str, ...] = ("credit_code", "name", "address")
REQUIRED_FIELDS: tuple[str, ...] = ("id", "title")
# Spiders keep the raw exchange on items only when this stage will consume (and clear) it.
EVIDENCE_PIPELINE = "pipelines.evidence.EvidencePipeline"
# The stages that read the raw exchange: the evidence stage, or a distributed crawl
# worker's hand-off to the detection workers, which run the evidence stage later.
RAW_CONSUMERS = (EVIDENCE_PIPELINE, "tiequan.distributed.handoff.HandoffPipeline")


def keeps_raw(settings: BaseSettings, consumers: tuple[str, ...] = RAW_CONSUMERS) -> bool:
    """Whether a stage reads the raw exchange (``consumers``), so items should carry it."""
    for component, order in settings.getwithbase("ITEM_PIPELINES").items():
        path = (
            component
            if isinstance(component, str)
            else (
                f"{getattr(component, '__module__', '')}.{getattr(component, '__qualname__', '')}"
            )
        )
        if path in consumers and order is not None:
            return True
    return False


def _header_pairs(headers: Headers | None) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if headers is None:
        return pairs
    for name, values in headers.items():
        for value in values:
            pairs.append((name.decode("latin-1"), bytes(value).decode("latin-1")))
    return pairs


def raw_capture(response: Response, *, dom: bytes | None = None) -> RawCapture:
    """The exchange that produced ``response``; ``dom`` is the page after scripts, if rendered."""
    request = response.request
    rendered = "playwright" in response.flags or dom is not None
    return RawCapture(
        request_url=request.url if request is not None else response.url,
        method=request.method if request is not None else "GET",
        request_headers=_header_pairs(request.headers if request is not None else None),
        response_url=response.url,
        status=response.status,
        response_headers=_header_pairs(response.headers),
        body=response.body,
        fetched_at=utc_now(),
        rendered=rendered,
        dom=dom if dom is not None and dom != response.body else None,
        redirect_urls=[str(u) for u in response.meta.get("redirect_urls", [])]
        if request is not None
        else [],
    )


@dataclass(frozen=True)
class PageInfo:
    """What the spider knows about the response an item came from."""

    url: str
    final_url: str
    status: int
    body: bytes
    raw: RawCapture | None = None  # set on items only when the evidence stage runs

    @classmethod
    def of(cls, response: Response, raw: RawCapture | None = None) -> PageInfo:
        request_url = response.request.url if response.request is not None else response.url
        return cls(request_url, response.url, response.status, response.body, raw)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return parse_number(str(value))


def _as_int(value: Any) -> int | None:
    number = _as_float(value)
    return None if number is None else round(number)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return "\n".join(str(v) for v in value if v not in (None, "")) or None
    text = str(value).strip()
    return text or None


def missing_required(fields: Mapping[str, Any]) -> list[str]:
    """Required fields (id, title) that are absent or empty."""
    return [name for name in REQUIRED_FIELDS if _as_text(fields.get(name)) is None]


def make_listing(
    fields: Mapping[str, Any], *, profile: SiteProfile, page: PageInfo
) -> Listing | None:
    """A Listing from extracted fields, or None when id or title is missing."""
    if missing_required(fields):
        return None
    base = page.final_url or page.url
    images = fields.get("image_urls")
    if images is None:
        image_list: list[str] = []
    elif isinstance(images, list):
        image_list = absolute_urls(images, base)
    else:
        image_list = absolute_urls([images], base)
    shop_url = _as_text(fields.get("shop_url"))
    own_url = _as_text(fields.get("url"))
    return Listing(
        platform=profile.name,
        platform_name=profile.platform,
        kind=profile.kind,
        url=urljoin(base, own_url) if own_url else page.url,
        item_id=str(_as_text(fields["id"])),
        title=str(_as_text(fields["title"])),
        text=_as_text(fields.get("text")) or "",
        price=_as_float(fields.get("price")),
        original_price=_as_float(fields.get("original_price")),
        sales=_as_int(fields.get("sales")),
        shop_name=_as_text(fields.get("shop_name")),
        shop_url=urljoin(base, shop_url) if shop_url else None,
        image_urls=image_list,
        captured_at=utc_now(),
        final_url=page.final_url,
        status=page.status,
        body_sha256=page.sha256,
        extra={k: v for k, v in fields.items() if k not in LISTING_FIELDS},
        raw=page.raw,
    )


def make_licence(fields: Mapping[str, Any], url: str) -> Licence | None:
    """The licence shown at ``url``; None when the page shows none of its fields."""
    values = {name: _as_text(fields.get(name)) for name in LICENCE_FIELDS}
    if all(v is None for v in values.values()):
        return None
    return Licence(**values, url=url)


class LicenceState(enum.Enum):
    READY = "ready"  # licence already known and attached: emit now
    FETCH = "fetch"  # first item of this shop: request the licence page
    WAIT = "wait"  # request in flight: the item is held until it arrives


class LicenceCache:
    """One licence fetch per shop; items of the same shop wait for it.

    Keyed by the absolute licence URL, which identifies the shop's licence page.
    A failed fetch is remembered as None so later items are not held back. The pages
    themselves (for the evidence stage) are kept for the latest ``keep_pages`` shops only,
    so memory stays flat on a site of many shops; the evidence stage fetches an older
    one again when a listing of that shop is flagged.
    """

    def __init__(self, keep_pages: int = 512) -> None:
        self._known: dict[str, Licence | None] = {}
        self._pages: OrderedDict[str, RawCapture] = OrderedDict()
        self._pending: dict[str, list[Listing]] = {}
        self.keep_pages = keep_pages

    def add(self, key: str, listing: Listing) -> LicenceState:
        if key in self._known:
            listing.licence = self._known[key]
            listing.licence_raw = self._pages.get(key)
            if listing.licence_raw is not None:
                self._pages.move_to_end(key)
            return LicenceState.READY
        if key in self._pending:
            self._pending[key].append(listing)
            return LicenceState.WAIT
        self._pending[key] = [listing]
        return LicenceState.FETCH

    def resolve(
        self, key: str, licence: Licence | None, page: RawCapture | None = None
    ) -> list[Listing]:
        """Record the shop's licence (None on failure) and, for the evidence stage, the
        exchange of its page; return the held items, attached."""
        self._known[key] = licence
        if page is not None:
            self._pages[key] = page
            while len(self._pages) > self.keep_pages:
                self._pages.popitem(last=False)
        waiting = self._pending.pop(key, [])
        for listing in waiting:
            listing.licence = licence
            listing.licence_raw = page
        return waiting

    @property
    def pending_count(self) -> int:
        return sum(len(v) for v in self._pending.values())


def header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def not_modified(profile: SiteProfile, response: Response, item_id: str) -> Listing:
    """A 304 to a conditional request: the recrawl stage rebuilds the stored listing."""
    return Listing(
        platform=profile.name,
        platform_name=profile.platform,
        kind=profile.kind,
        url=response.url,
        item_id=item_id,
        title="",
        captured_at=utc_now(),
        final_url=response.url,
        status=response.status,
        etag=header(response, b"ETag"),
        last_modified=header(response, b"Last-Modified"),
        recrawl=NOT_MODIFIED,
    )
