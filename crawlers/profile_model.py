"""The typed, validated form of a site profile (built by crawlers.profiles)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crawlers.extract import JsonFieldSpec, SelectorSpec

MISSING = "(missing)"
_BASE_URL_RE = re.compile(r"^https?://[^/]+$")
DEFAULT_MAX_PAGES = 50


class ProfileError(ValueError):
    """A site profile is invalid; the message names file, field path and bad value."""

    def __init__(self, source: Path | str, field_path: str, value: Any, problem: str) -> None:
        self.source = str(source)
        self.field_path = field_path or "(top level)"
        self.value = value
        shown = value if value == MISSING else repr(value)
        super().__init__(f"{self.source}: field {self.field_path}: bad value {shown}: {problem}")


Fields = dict[str, SelectorSpec]
JsonFields = dict[str, JsonFieldSpec]
# Where licence fields are read: "page" is the page the item came from (its item page, or
# its card on a listing for inline items; no extra request), "link" the page that
# item.licence_link points to (one request per distinct link).
LICENCE_SOURCES = ("page", "link")
PAGING_MODES = ("page", "offset", "next", "cursor")


@dataclass(frozen=True)
class InlineItems:
    container: str
    fields: Fields


@dataclass(frozen=True)
class ListingSpec:
    item_links: SelectorSpec | None = None
    next_page: SelectorSpec | None = None
    max_pages: int = DEFAULT_MAX_PAGES
    inline_items: InlineItems | None = None


@dataclass(frozen=True)
class ItemSpec:
    fields: Fields
    licence_link: SelectorSpec | None = None


@dataclass(frozen=True)
class LicenceSpec:
    fields: Fields
    read_from: tuple[str, ...] = ("link",)


@dataclass(frozen=True)
class BrowserSpec:
    wait_for: str | None = None
    scroll_times: int = 0
    scroll_wait_ms: int = 500


@dataclass(frozen=True)
class Paging:
    """How an API list is paged.

    ``page``: {page} counts from ``start`` (default 1). ``offset``: {offset} starts at
    ``start`` (default 0) and moves by the number of items received. ``next``: the next
    request is the URL at ``next_key``. ``cursor``: {cursor} takes the value at
    ``next_key`` (first request: ``start``, default empty). {limit} is ``limit``.
    The list ends at an empty page, a null or missing ``next_key`` value, once
    ``total_key`` items were seen, at ``last_page_key`` or at ``max_pages``.
    """

    by: str = "page"
    start: int | str | None = None
    limit: int | None = None
    next_key: str | None = None
    total_key: str | None = None

    @property
    def first(self) -> int | str:
        if self.start is not None:
            return self.start
        defaults: dict[str, int | str] = {"page": 1, "offset": 0, "cursor": ""}
        return defaults.get(self.by, 1)


@dataclass(frozen=True)
class ApiSpec:
    list_path: str
    items_key: str
    fields: JsonFields
    last_page_key: str | None = None
    detail_path: str | None = None
    max_pages: int = DEFAULT_MAX_PAGES
    # With licence_path, licence_fields are read from that response; without it, from the
    # item's own JSON (its detail, else its list row).
    licence_path: str | None = None
    licence_fields: JsonFields = field(default_factory=dict)
    paging: Paging = field(default_factory=Paging)


@dataclass(frozen=True)
class Politeness:
    download_delay: float | None = None
    concurrent_requests: int | None = None
    autothrottle: bool | None = None
    obey_robots: bool | None = None
    autothrottle_target_concurrency: float | None = None
    autothrottle_max_delay: float | None = None

    def scrapy_settings(self) -> dict[str, Any]:
        """Only the values the profile sets; the rest stay at project defaults."""
        pairs = {
            "DOWNLOAD_DELAY": self.download_delay,
            "CONCURRENT_REQUESTS_PER_DOMAIN": self.concurrent_requests,
            "AUTOTHROTTLE_ENABLED": self.autothrottle,
            "ROBOTSTXT_OBEY": self.obey_robots,
            "AUTOTHROTTLE_TARGET_CONCURRENCY": self.autothrottle_target_concurrency,
            "AUTOTHROTTLE_MAX_DELAY": self.autothrottle_max_delay,
        }
        return {k: v for k, v in pairs.items() if v is not None}


# Listing fields whose coverage (share of items that have them) the crawl-health monitors
# check; "licence" means a licence with a credit code.
COVERAGE_FIELDS = (
    "title", "text", "price", "original_price", "sales", "shop_name", "shop_url",
    "image_urls", "licence",
)  # fmt: skip


@dataclass(frozen=True)
class Health:
    """The profile's own field-coverage rules (0–1 per field; 0 switches a rule off),
    over the defaults of crawlers.health.config."""

    field_coverage: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    cron: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class SiteProfile:
    name: str
    platform: str
    kind: str
    render: str
    base_url: str
    start_paths: tuple[str, ...]
    listing: ListingSpec | None
    item: ItemSpec | None
    licence: LicenceSpec | None
    browser: BrowserSpec
    api: ApiSpec | None
    politeness: Politeness
    schedule: Schedule
    source: Path
    category_hints: tuple[str, ...] = ()
    health: Health = field(default_factory=Health)

    def with_base_url(self, url: str) -> SiteProfile:
        """The same profile aimed at another host (a sandbox, a mirror)."""
        url = url.rstrip("/")
        if not _BASE_URL_RE.match(url):
            raise ProfileError(self.source, "base_url", url, "expected scheme://host[:port]")
        return replace(self, base_url=url)

    def url(self, path: str) -> str:
        return self.base_url + path
