"""`tiequan sites check`: try a site profile on a few pages and say what each field yields.

Every page becomes a table: field, the value the spider would store, and where it came
from (the CSS alternative or XPath that matched, or the JSON path). Problems are rows
too: an error (a required field empty, a page that failed, a listing without items)
makes the check fail; a warning (an optional field empty, a number that does not parse,
a licence without a valid credit code) does not.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from parsel import Selector, SelectorList

from crawlers.assemble import REQUIRED_FIELDS
from crawlers.extract import (
    NUMBER_TYPES,
    JsonFieldSpec,
    SelectorSpec,
    dotted_get,
    evaluate,
    json_value,
    matched_alternatives,
    select,
)
from crawlers.profiles import SiteProfile
from crawlers.spiders.api_mode import list_url, next_list_page
from tiequan.party.creditcode import validate
from tiequan.sites.fetch import Fetcher, FetchError, Page

OK, WARN, ERROR = "ok", "warn", "error"
SHOWN_CHARS = 70
SHOWN_LINKS = 3


@dataclass
class Row:
    field: str
    value: str
    source: str
    level: str = OK
    note: str = ""


@dataclass
class PageCheck:
    kind: str  # listing, item, licence, api list, api item, api licence, unknown
    url: str
    status: int | None = None
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def problem(self, name: str, note: str, level: str = ERROR, source: str = "") -> None:
        self.rows.append(Row(name, "", source, level, note))

    @property
    def errors(self) -> int:
        return sum(1 for r in self.rows if r.level == ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for r in self.rows if r.level == WARN)


@dataclass
class CheckReport:
    profile: SiteProfile
    pages: list[PageCheck] = field(default_factory=list)
    requests: int = 0

    @property
    def errors(self) -> int:
        return sum(p.errors for p in self.pages)

    @property
    def warnings(self) -> int:
        return sum(p.warnings for p in self.pages)


def shown(value: Any) -> str:
    """A value as one short line: lists by count and first items, newlines as ⏎."""
    if value is None:
        return ""
    if isinstance(value, list):
        head = ", ".join(shown(v) for v in value[:SHOWN_LINKS])
        more = ", …" if len(value) > SHOWN_LINKS else ""
        return f"[{len(value)}] {head}{more}"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).replace("\n", " ⏎ ")
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


# ---- HTML pages -------------------------------------------------------------------------


def html_field(
    root: Selector | SelectorList[Selector],
    name: str,
    spec: SelectorSpec,
    base_url: str,
    required: bool = False,
) -> tuple[Row, Any]:
    """The row for one field: its value, the alternatives that matched, what is wrong."""
    value = evaluate(root, spec, base_url)
    matched = matched_alternatives(root, spec)
    source = "; ".join(f"{alt} ×{n}" if n > 1 else alt for alt, n in matched)
    row = Row(name, shown(value), source or spec.describe())
    if not _empty(value):
        if spec.type in NUMBER_TYPES and spec.many:
            raw = select(root, spec)
            if len(value) < len(raw):
                row.level, row.note = WARN, f"{len(raw) - len(value)} values are not numbers"
        return row, value
    row.level = ERROR if required else WARN
    if not matched:
        row.note = "matched nothing" + (" (required)" if required else "")
        return row, value
    raw_values = select(root, spec)
    sample = shown(raw_values[0]) if raw_values else ""
    if spec.type in NUMBER_TYPES:
        row.note = f"not a number: {sample!r}"
    elif spec.regex:
        row.note = f"regex {spec.regex!r} found nothing in {sample!r}"
    else:
        row.note = "matched only empty text"
    return row, value


def licence_verdict(check: PageCheck, values: Mapping[str, Any], where: str) -> None:
    """A row on whether the licence read here yields a valid credit code."""
    code = values.get("credit_code")
    if _empty(code):
        named = [n for n in ("name", "address") if not _empty(values.get(n))]
        note = "no credit code: the lead would say 未公示统一社会信用代码"
        if named:
            note += f" although {', '.join(named)} was read"
        check.add(Row("licence", "", where, WARN, note))
        return
    verdict = validate(str(code))
    if verdict.valid:
        check.add(Row("licence", verdict.code, where, OK, "credit code valid"))
    else:
        check.add(
            Row("licence", shown(code), where, WARN, f"credit code invalid: {verdict.problem}")
        )


def check_item_page(
    profile: SiteProfile, sel: Selector, url: str, status: int | None
) -> tuple[PageCheck, str | None]:
    """An item page's table and the licence link to follow (None: none, or not needed)."""
    assert profile.item is not None
    check = PageCheck("item", url, status)
    for name, spec in profile.item.fields.items():
        check.add(html_field(sel, name, spec, url, required=name in REQUIRED_FIELDS)[0])
    licence = profile.licence
    code_on_page = False
    if licence is not None and "page" in licence.read_from:
        values = {}
        for name, spec in licence.fields.items():
            row, values[name] = html_field(sel, f"licence.{name}", spec, url)
            if "link" in licence.read_from and row.level == WARN:
                row.level, row.note = OK, "not on this page: the licence link is tried next"
            check.add(row)
        code_on_page = not _empty(values.get("credit_code"))
        if code_on_page or "link" not in licence.read_from:
            licence_verdict(check, values, "this page")
    link = None
    if profile.item.licence_link is not None and licence and "link" in licence.read_from:
        spec = replace(profile.item.licence_link, many=False, type="url")
        row, link = html_field(sel, "licence_link", spec, url)
        if code_on_page:
            row.note, row.level = "not followed: the page shows the licence", OK
        elif _empty(link):
            row.note = "no licence link and no licence on the page"
        check.add(row)
    return check, None if code_on_page else link


def check_licence_page(
    profile: SiteProfile, sel: Selector, url: str, status: int | None
) -> PageCheck:
    check = PageCheck("licence", url, status)
    values: dict[str, Any] = {}
    for name, spec in (profile.licence.fields if profile.licence else {}).items():
        row, values[name] = html_field(sel, f"licence.{name}", spec, url)
        check.add(row)
    licence_verdict(check, values, "this page")
    return check


def check_listing_page(
    profile: SiteProfile, sel: Selector, url: str, status: int | None
) -> tuple[PageCheck, list[str]]:
    """A listing's table and the item URLs it links to."""
    listing = profile.listing
    assert listing is not None
    check = PageCheck("listing", url, status)
    links: list[str] = []
    if listing.item_links is not None:
        spec = replace(listing.item_links, many=True, type="urls")
        row, found = html_field(sel, "item_links", spec, url, required=True)
        links = list(found or [])
        check.add(row)
    if listing.next_page is not None:
        spec = replace(listing.next_page, many=False, type="url")
        row, _next = html_field(sel, "next_page", spec, url)
        if row.level == WARN:
            row.level, row.note = OK, "no next page: the listing ends here"
        check.add(row)
    inline = listing.inline_items
    if inline is not None:
        cards = sel.css(inline.container)
        check.add(Row("inline_items", str(len(cards)), f"css {inline.container}"))
        if not cards:
            check.problem("inline_items", "no item cards on this page", source=inline.container)
        for k, card in enumerate(cards[:SHOWN_LINKS]):
            for name, field_spec in inline.fields.items():
                row, _v = html_field(card, name, field_spec, url, required=name in REQUIRED_FIELDS)
                row.field = f"[{k + 1}] {name}"
                check.add(row)
            if profile.licence is not None:
                values = {
                    name: html_field(card, name, spec, url)[1]
                    for name, spec in profile.licence.fields.items()
                }
                licence_verdict(check, values, f"card {k + 1}")
    return check, links


def classify(profile: SiteProfile, sel: Selector, url: str) -> str:
    """item, listing, licence or unknown: what the profile recognises on this page."""
    if profile.item is not None:
        values = [evaluate(sel, profile.item.fields[n], url) for n in REQUIRED_FIELDS]
        if all(not _empty(v) for v in values):
            return "item"
    listing = profile.listing
    if listing is not None:
        if listing.item_links is not None and evaluate(
            sel, replace(listing.item_links, many=True, type="urls"), url
        ):
            return "listing"
        if listing.inline_items is not None and sel.css(listing.inline_items.container):
            return "listing"
    if profile.licence is not None:
        spec = profile.licence.fields.get("credit_code")
        if spec is not None and not _empty(evaluate(sel, spec, url)):
            return "licence"
    return "unknown"


# ---- API pages --------------------------------------------------------------------------


def describe_json(spec: JsonFieldSpec) -> str:
    parts = [f"json {spec.path}"]
    if spec.type:
        parts.append(spec.type)
    if spec.strip_html:
        parts.append("strip_html")
    if spec.regex:
        parts.append(f"regex {spec.regex}")
    if spec.scale is not None:
        parts.append(f"×{spec.scale:g}")
    return ", ".join(parts)


def json_field_row(
    data: Any, name: str, spec: JsonFieldSpec, url: str, required: bool = False
) -> tuple[Row, Any]:
    value = json_value(data, spec, url)
    row = Row(name, shown(value), describe_json(spec))
    if _empty(value):
        raw = dotted_get(data, spec.path)
        row.level = ERROR if required else WARN
        if raw is None:
            row.note = "no such key" + (" (required)" if required else "")
        elif spec.type in NUMBER_TYPES:
            row.note = f"not a number: {shown(raw)!r}"
        else:
            row.note = f"empty after the transforms (raw {shown(raw)!r})"
    elif spec.type is None and spec.plain and isinstance(value, (dict, list)):
        if name not in ("image_urls",):
            row.level, row.note = WARN, "a JSON object or list, stored as is"
    return row, value


def check_api_fields(check: PageCheck, profile: SiteProfile, data: Any, url: str) -> dict[str, Any]:
    assert profile.api is not None
    values: dict[str, Any] = {}
    for name, spec in profile.api.fields.items():
        row, values[name] = json_field_row(data, name, spec, url, name in REQUIRED_FIELDS)
        check.add(row)
    return values


def check_api_licence(check: PageCheck, profile: SiteProfile, data: Any, url: str) -> None:
    assert profile.api is not None
    values: dict[str, Any] = {}
    for name, spec in profile.api.licence_fields.items():
        row, values[name] = json_field_row(data, f"licence.{name}", spec, url)
        check.add(row)
    licence_verdict(check, values, "this response" if profile.api.licence_path else "the item")


def licence_url(profile: SiteProfile, values: Mapping[str, Any]) -> str | None:
    assert profile.api is not None
    path = profile.api.licence_path
    if not path:
        return None
    for name, value in values.items():
        if "{" + name + "}" in path:
            if _empty(value):
                return None
            path = path.replace("{" + name + "}", str(value))
    return profile.url(path)


# ---- running a check ----------------------------------------------------------------------


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


class Checker:
    """Fetches (or reads) pages for one profile and checks each."""

    def __init__(self, profile: SiteProfile, fetcher: Fetcher | None, items: int = 2) -> None:
        self.profile = profile
        self.fetcher = fetcher
        self.items = items
        self.report = CheckReport(profile)

    def _fetch(self, url: str, kind: str) -> Page | None:
        assert self.fetcher is not None
        try:
            if self.profile.render == "browser":
                wait = self.profile.browser.wait_for if kind == "listing" else None
                scrolls = self.profile.browser.scroll_times if kind == "listing" else 0
                page = self.fetcher.render(url, wait, scrolls)
            else:
                page = self.fetcher.get(url)
        except FetchError as exc:
            check = PageCheck(kind, url)
            check.problem("page", f"cannot fetch: {exc}")
            self.report.pages.append(check)
            return None
        if page.status != 200:
            check = PageCheck(kind, url, page.status)
            check.problem("page", f"HTTP status {page.status}")
            self.report.pages.append(check)
            return None
        return page

    def run(self, urls: Iterable[str] = (), files: Iterable[Path] = ()) -> CheckReport:
        urls, files = list(urls), list(files)
        api = self.profile.render == "api"
        for path in files:
            text = path.read_text(encoding="utf-8", errors="replace")
            url = self.profile.url("/")
            if api:
                self.api_page(_parse_json(text), url, None, str(path), follow=False)
            else:
                self.html_page(Selector(text=text), url, None, str(path), follow=False)
        for url in urls:
            absolute = url if "://" in url else self.profile.url(url)
            page = self._fetch(absolute, "page")
            if page is None:
                continue
            if api:
                self.api_page(_parse_json(page.text), page.final_url, page.status, None, True)
            else:
                self.html_page(Selector(text=page.text), page.final_url, page.status, None, True)
        if not urls and not files:
            if api:
                self.api_walk()
            else:
                self.html_walk()
        if self.fetcher is not None:
            self.report.requests = self.fetcher.requests
        return self.report

    # -- HTML ---------------------------------------------------------------------------

    def html_page(
        self, sel: Selector, url: str, status: int | None, label: str | None, follow: bool
    ) -> None:
        kind = classify(self.profile, sel, url)
        shown_url = label or url
        if kind == "item":
            check, link = check_item_page(self.profile, sel, url, status)
            check.url = shown_url
            self.report.pages.append(check)
            if follow and link:
                self.licence_page(link)
        elif kind == "listing":
            check, _links = check_listing_page(self.profile, sel, url, status)
            check.url = shown_url
            self.report.pages.append(check)
        elif kind == "licence":
            check = check_licence_page(self.profile, sel, url, status)
            check.url = shown_url
            self.report.pages.append(check)
        else:
            check = PageCheck("unknown", shown_url, status)
            check.problem(
                "page",
                "neither an item page (item.fields id and title found nothing), a listing "
                "(no item links or cards) nor a licence page",
            )
            self.report.pages.append(check)

    def licence_page(self, url: str) -> None:
        page = self._fetch(url, "licence")
        if page is not None:
            sel = Selector(text=page.text)
            self.report.pages.append(
                check_licence_page(self.profile, sel, page.final_url, page.status)
            )

    def html_walk(self) -> None:
        start = self.profile.url(self.profile.start_paths[0])
        page = self._fetch(start, "listing")
        if page is None:
            return
        sel = Selector(text=page.text)
        check, links = check_listing_page(self.profile, sel, page.final_url, page.status)
        self.report.pages.append(check)
        followed_licence = False
        assert self.fetcher is not None
        for url in self._allowed(links)[: self.items]:
            item = self._fetch(url, "item")
            if item is None:
                continue
            item_sel = Selector(text=item.text)
            check, link = check_item_page(self.profile, item_sel, item.final_url, item.status)
            self.report.pages.append(check)
            if link and not followed_licence:
                followed_licence = True
                self.licence_page(link)

    def _allowed(self, links: list[str]) -> list[str]:
        """Item links robots.txt lets us fetch (a listing may offer others, as the sweep sees)."""
        assert self.fetcher is not None
        seen: list[str] = []
        for url in links:
            if url not in seen and self.fetcher.allowed(url):
                seen.append(url)
        return seen

    # -- API ----------------------------------------------------------------------------

    def api_page(
        self, data: Any, url: str, status: int | None, label: str | None, follow: bool
    ) -> None:
        api = self.profile.api
        assert api is not None
        shown_url = label or url
        if data is None:
            check = PageCheck("unknown", shown_url, status)
            check.problem("page", "not JSON")
            self.report.pages.append(check)
            return
        if isinstance(dotted_get(data, api.items_key), list):
            self.api_list(data, url, status, shown_url, follow)
            return
        check = PageCheck("api item", shown_url, status)
        values = check_api_fields(check, self.profile, data, url)
        if api.licence_fields and not api.licence_path:
            check_api_licence(check, self.profile, data, url)
        self.report.pages.append(check)
        target = licence_url(self.profile, values)
        if follow and target:
            self.api_licence(target)

    def api_list(
        self, data: Any, url: str, status: int | None, shown_url: str, follow: bool
    ) -> None:
        api = self.profile.api
        assert api is not None
        check = PageCheck("api list", shown_url, status)
        rows = dotted_get(data, api.items_key)
        check.add(Row("items", str(len(rows)), f"json {api.items_key}"))
        if not rows:
            check.problem("items", "the list is empty", source=f"json {api.items_key}")
        paging = api.paging
        step = next_list_page(self.profile, data, url, 1, paging.first, len(rows), len(rows))
        if isinstance(step, str):
            check.add(Row("next page", "", f"paging by {paging.by}", OK, f"the list ends: {step}"))
        else:
            check.add(Row("next page", step[0], f"paging by {paging.by}"))
        self.report.pages.append(check)
        for raw in rows[: self.items]:
            if api.detail_path:
                item_id = json_value(raw, api.fields["id"])
                if _empty(item_id):
                    check.problem("id", "a list row has no id for api.detail_path")
                    continue
                if follow:
                    detail = self.profile.url(api.detail_path.replace("{id}", str(item_id)))
                    self.api_fetch(detail, "api item")
                continue
            item = PageCheck("api item", f"{shown_url} (list row)", status)
            values = check_api_fields(item, self.profile, raw, url)
            if api.licence_fields and not api.licence_path:
                check_api_licence(item, self.profile, raw, url)
            self.report.pages.append(item)
            target = licence_url(self.profile, values)
            if follow and target:
                self.api_licence(target)

    def api_fetch(self, url: str, kind: str) -> None:
        page = self._fetch(url, kind)
        if page is not None:
            self.api_page(_parse_json(page.text), page.final_url, page.status, None, True)

    def api_licence(self, url: str) -> None:
        if any(p.kind == "api licence" for p in self.report.pages):
            return  # one licence response shows whether licence_fields work
        page = self._fetch(url, "api licence")
        if page is None:
            return
        check = PageCheck("api licence", page.final_url, page.status)
        check_api_licence(check, self.profile, _parse_json(page.text), page.final_url)
        self.report.pages.append(check)

    def api_walk(self) -> None:
        first = list_url(self.profile, self.profile.api.paging.first)  # type: ignore[union-attr]
        self.api_fetch(first, "api list")


def check_profile(
    profile: SiteProfile,
    *,
    urls: Iterable[str] = (),
    files: Iterable[Path] = (),
    items: int = 2,
    fetcher: Fetcher | None = None,
) -> CheckReport:
    """Check ``profile`` on the given pages, or on its first listing and a few items."""
    urls, files = list(urls), list(files)
    if fetcher is None and (urls or not files):
        delay = profile.politeness.download_delay
        fetcher = Fetcher(
            delay=0.5 if delay is None else delay,
            obey_robots=profile.politeness.obey_robots is not False,
        )
        with fetcher:
            return Checker(profile, fetcher, items).run(urls, files)
    return Checker(profile, fetcher, items).run(urls, files)


__all__ = ["CheckReport", "PageCheck", "Row", "check_profile"]
