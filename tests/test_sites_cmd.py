"""`tiequan sites check` and `tiequan sites draft` against the sandbox."""

from __future__ import annotations

import re
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from parsel import Selector

from crawlers.browser import find_chromium
from crawlers.extract import evaluate
from crawlers.profiles import SiteProfile, default_sites_dir, load_profile, load_profiles
from tiequan.cli.main import main as cli_main
from tiequan.sandbox.server import SandboxServer
from tiequan.sandbox.world import (
    LICENCE_ON_PAGE_TEMPLATE,
    MALL_PAGE_SIZE,
    PROPERTY_PAGE_SIZE,
    Entry,
    World,
)
from tiequan.sites.draft import draft_profile
from tiequan.sites.fetch import Fetcher

SHIPPED = sorted(load_profiles(default_sites_dir()))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli_main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def needs_browser(profile: SiteProfile) -> None:
    if profile.render == "browser" and find_chromium() is None:
        pytest.skip("no Chromium")


# ---- sites check -----------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_check_passes_on_every_shipped_profile(
    name: str, sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = load_profiles(default_sites_dir())[name]
    needs_browser(profile)
    code, out, err = run(["sites", "check", name, "--base-url", sandbox.base_url], capsys)
    assert code == 0, out + err
    assert f"{name}: passed:" in out and " 0 errors" in out
    fields = (
        profile.api.fields
        if profile.api
        else profile.item.fields
        if profile.item
        else profile.listing.inline_items.fields  # type: ignore[union-attr]
    )
    for field in fields:
        assert re.search(rf"^\s+(\[\d\] )?{field}\s", out, re.M), f"no row for {field}"
    assert "ERROR" not in out


def _broken(tmp_path: Path, change: dict[str, Any]) -> Path:
    data = yaml.safe_load((default_sites_dir() / "sandbox_mall.yaml").read_text("utf-8"))
    data["item"]["fields"].update(change)
    path = tmp_path / "sandbox_mall.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_check_fails_on_a_selector_that_matches_nothing(
    tmp_path: Path, sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _broken(tmp_path, {"title": "h1.item-titel::text"})
    code, out, _err = run(["sites", "check", str(path), "--base-url", sandbox.base_url], capsys)
    assert code == 1
    row = next(line for line in out.splitlines() if line.strip().startswith("title "))
    assert "css h1.item-titel::text" in row and "ERROR: matched nothing (required)" in row
    assert "sandbox_mall: FAILED:" in out


def test_check_names_a_broken_selector_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _broken(tmp_path, {"price": {"css": ".price-now em::txet", "type": "float"}})
    code, out, err = run(["sites", "check", str(path)], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert f"{path}: field item.fields.price.css: bad value '.price-now em::txet'" in err


def test_check_reads_saved_pages_and_warns_on_non_numbers(
    tmp_path: Path, sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    entry = next(
        e
        for e in sandbox.world.entries["mall"]
        if e.template == 1 and e.path not in sandbox.world.faults
    )
    body = urllib.request.urlopen(sandbox.base_url + entry.path).read().decode()
    saved = tmp_path / "item.html"
    saved.write_text(body.replace(f"{entry.sales}</span>", "很多</span>"), encoding="utf-8")
    code, out, _err = run(["sites", "check", "sandbox_mall", "--html", str(saved)], capsys)
    assert code == 0
    assert "商品页 item" in out and entry.item_id in out
    sales = next(line for line in out.splitlines() if line.strip().startswith("sales "))
    assert "WARN: not a number: '很多'" in sales


def test_check_warns_when_a_licence_has_no_valid_code(
    tmp_path: Path, sandbox: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    world = sandbox.world
    entry = next(
        e
        for e in world.entries["mall"]
        if e.template == LICENCE_ON_PAGE_TEMPLATE
        and world.shops["mall"][e.shop_id].licence.credit_code
    )
    code_shown = world.shops["mall"][entry.shop_id].licence.credit_code
    body = urllib.request.urlopen(sandbox.base_url + entry.path).read().decode()
    broken = code_shown[:-1] + ("0" if code_shown[-1] != "0" else "1")  # wrong check character
    saved = tmp_path / "item.html"
    saved.write_text(body.replace(code_shown, broken), encoding="utf-8")
    code, out, _err = run(["sites", "check", "sandbox_mall", "--html", str(saved)], capsys)
    assert code == 0
    verdict = next(line for line in out.splitlines() if line.strip().startswith("licence "))
    assert broken in verdict and "WARN: credit code invalid" in verdict


# ---- sites draft ------------------------------------------------------------------------


def _page(fetcher: Fetcher, profile: SiteProfile, url: str) -> Selector:
    page = fetcher.render(url) if profile.render == "browser" else fetcher.get(url)
    assert page.status == 200, url
    return Selector(text=page.text)


def _good(world: World, prefix: str, template: int | None = None) -> list[Entry]:
    bad = set(world.faults) | set(world.slow)
    return [
        e
        for e in world.entries[prefix]
        if e.path not in bad and (template is None or e.template == template)
    ]


def expected_links(site: str, listing: Selector, world: World) -> set[str]:
    """The item pages a listing shows, by the world (or, for the feed, the shipped profile)."""
    if site == "mall":
        shipped = load_profiles(default_sites_dir())["sandbox_mall"].listing
        assert shipped is not None and shipped.item_links is not None
        shown = evaluate(listing, replace(shipped.item_links, many=True, type="urls"), "")
        return {u for u in shown if u.startswith("/mall/item/")}  # robots.txt drops the rest
    if site == "property":
        return {e.path for e in world.entries["property"][:PROPERTY_PAGE_SIZE]}
    if site == "jsmall":
        return {e.path for e in world.entries["jsmall"][:MALL_PAGE_SIZE]}
    return set(listing.css("article.post a.post-link::attr(href)").getall())


SITES = {
    # listing path, prefix, templates, has prices
    "mall": ("/mall/search?q=health&page=1", "mall", (0, 1, 2, 3), True),
    "property": ("/property/list?page=1", "property", (0, 1), True),
    "jsmall": ("/jsmall/", "jsmall", (0,), True),
    "social": ("/social/feed", "social", (0,), False),
}


@pytest.mark.parametrize("site", sorted(SITES))
def test_draft_gets_title_price_description_and_item_links(
    site: str, sandbox: SandboxServer, tmp_path: Path
) -> None:
    listing_path, prefix, templates, priced = SITES[site]
    if prefix in ("jsmall", "social") and find_chromium() is None:
        pytest.skip("no Chromium")
    world = sandbox.world
    base = sandbox.base_url
    # one item page per template (a single-template site: the draft picks the first link)
    items = (
        [base + _good(world, prefix, t)[0].path for t in templates] if len(templates) > 1 else []
    )
    with Fetcher(delay=0) as fetcher:
        draft = draft_profile(base + listing_path, f"draft_{site}", items=items, fetcher=fetcher)
        path = tmp_path / f"draft_{site}.yaml"
        path.write_text(draft.yaml, encoding="utf-8")
        profile = load_profile(path)
        assert profile.item is not None and profile.listing is not None
        # item links: exactly the items the listing shows
        listing = _page(fetcher, profile, base + listing_path)
        assert profile.listing.item_links is not None
        spec = replace(profile.listing.item_links, many=True, type="urls")
        links = {urlsplit(u).path for u in evaluate(listing, spec, base)}
        assert links == expected_links(site, listing, world), draft.yaml
        # title, price and description on items of every template
        for template in templates:
            for entry in _good(world, prefix, template)[:2]:
                sel = _page(fetcher, profile, base + entry.path)
                fields = {n: evaluate(sel, s, base) for n, s in profile.item.fields.items()}
                assert fields["title"] == entry.title, entry.path
                assert fields["text"] == entry.text, entry.path
                if priced:
                    assert fields["price"] == pytest.approx(entry.price), entry.path
                else:
                    assert "price" not in fields
