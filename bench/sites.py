"""Site profiles for new sites: what the licence-on-page reading saves, what `sites draft` gets.

Usage: .venv/bin/python bench/sites.py [--scale 1.0] [--sample 12] [--no-write]

a) Requests per item of a full crawl of the sandbox mall (every start path of its profile),
   in the same run against the same sandbox: before, the workaround the issue describes
   (a licence_link to the item's own canonical URL, licence.read_from [link]: the item page
   is fetched twice); after, the shipped profile (licence.read_from [page, link]).
b) Fields `tiequan sites draft` gets right without editing, per sandbox site, scored on a
   sample of items of every page template against the sandbox's own world.
Writes BENCHMARKS.md (section "sites").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml
from parsel import Selector

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from crawlers.extract import evaluate, extract_fields  # noqa: E402
from crawlers.profiles import SiteProfile, load_profile  # noqa: E402
from tests.crawling import CRAWL_SCRIPT  # noqa: E402
from tiequan.cli.sandbox_cmd import DEFAULT_SEED  # noqa: E402
from tiequan.sandbox.server import SandboxServer  # noqa: E402
from tiequan.sandbox.world import (  # noqa: E402
    LICENCE_ON_PAGE_TEMPLATE,
    MALL_PAGE_SIZE,
    PROPERTY_PAGE_SIZE,
    Entry,
    World,
)
from tiequan.sites.draft import draft_profile  # noqa: E402
from tiequan.sites.fetch import Fetcher  # noqa: E402

MALL = ROOT / "config" / "sites" / "sandbox_mall.yaml"
CRAWL_SETTINGS = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "RETRY_BACKOFF_BASE": 0.05,
    "RETRY_BACKOFF_MAX": 0.3,
    "LOG_LEVEL": "WARNING",
    "ITEM_PIPELINES": {},
}
# The workaround: for pages without a licence link, the item page's own canonical URL.
CANONICAL_WORKAROUND = (
    "//a[@class='licence-link']/@href | //a[@class='g-licence']/@href"
    " | //a[@class='pdp__licence']/@href"
    " | //link[@rel='canonical'][//section[@class='shop-licence']]/@href"
)


def before_profile(folder: Path) -> Path:
    data = yaml.safe_load(MALL.read_text(encoding="utf-8"))
    data["item"]["licence_link"] = {"xpath": CANONICAL_WORKAROUND}
    data["licence"]["read_from"] = ["link"]
    path = folder / "sandbox_mall.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def crawl(server: SandboxServer, sites_dir: Path, work: Path, label: str) -> dict[str, Any]:
    server.reset_counters()
    feed, stats, log = (work / f"{label}.{ext}" for ext in ("jsonl", "stats.json", "log"))
    env = {**os.environ, "TIEQUAN_SITES_DIR": str(sites_dir), "PYTHONPATH": str(ROOT)}
    args = [
        sys.executable, "-c", CRAWL_SCRIPT, "sandbox_mall", server.base_url,
        str(feed), str(stats), str(log), json.dumps(CRAWL_SETTINGS),
    ]  # fmt: skip
    subprocess.run(args, cwd=ROOT, env=env, check=True)
    items = [json.loads(line) for line in feed.read_text(encoding="utf-8").splitlines()]
    scrapy_stats = json.loads(stats.read_text(encoding="utf-8"))
    hits = Counter(server.hits)
    item_paths = {urlsplit(i["url"]).path for i in items}
    return {
        "items": len(items),
        "with_licence": sum(1 for i in items if i.get("licence")),
        "requests": int(scrapy_stats.get("downloader/request_count", 0)),
        "served": sum(hits.values()),
        "item_pages": sum(n for p, n in hits.items() if p in item_paths),
        "licence_pages": sum(n for p, n in hits.items() if p.endswith("/licence")),
    }


def requests_section(server: SandboxServer) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="tiequan-bench-sites-") as tmp:
        work = Path(tmp)
        (work / "before").mkdir()
        (work / "after").mkdir()
        before_profile(work / "before")
        (work / "after" / "sandbox_mall.yaml").write_text(MALL.read_text("utf-8"), "utf-8")
        before = crawl(server, work / "before", work, "before")
        after = crawl(server, work / "after", work, "after")
    on_page = sum(1 for e in server.world.entries["mall"] if e.template == LICENCE_ON_PAGE_TEMPLATE)
    lines = [
        "| variant | items | with licence | requests (Scrapy) | per item | item-page fetches"
        " | licence-page fetches |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in (
        ("before: licence_link to the item's canonical URL, read_from [link]", before),
        ("after: the shipped profile, read_from [page, link]", after),
    ):
        lines.append(
            f"| {label} | {r['items']} | {r['with_licence']} | {r['requests']} |"
            f" {r['requests'] / r['items']:.3f} | {r['item_pages']} | {r['licence_pages']} |"
        )
    saved = before["requests"] - after["requests"]
    lines += [
        "",
        f"{on_page} of the {len(server.world.entries['mall'])} drawn mall items use the template"
        f" that prints the licence on the page. The change saves {saved} requests"
        f" ({saved / before['requests']:.1%} of the crawl's); requests include robots.txt,"
        " listing pages and the sandbox's planned 429/503 retries.",
    ]
    return lines


# ---- b) sites draft ---------------------------------------------------------------------

DRAFT_SITES = {
    "sandbox_mall": ("/mall/search?q=health&page=1", "mall", (0, 1, 2, LICENCE_ON_PAGE_TEMPLATE)),
    "sandbox_property": ("/property/list?page=1", "property", (0, 1)),
    "sandbox_jsmall": ("/jsmall/", "jsmall", (0,)),
    "sandbox_social": ("/social/feed", "social", (0,)),
}
FIELDS = ("id", "title", "price", "original_price", "text", "shop_name", "licence")


def expected_next(site: str, world: World, base: str) -> str | None:
    """The second listing page's URL, if the sandbox has one (the feed has none)."""
    if site == "sandbox_mall":
        more = len(world.family_items("mall", "health")) > MALL_PAGE_SIZE
        return f"{base}/mall/search?q=health&page=2" if more else None
    if site == "sandbox_property":
        more = len(world.entries["property"]) > PROPERTY_PAGE_SIZE
        return f"{base}/property/list?page=2" if more else None
    if site == "sandbox_jsmall":
        return f"{base}/jsmall/?page=2" if len(world.entries["jsmall"]) > MALL_PAGE_SIZE else None
    return None


def truth(world: World, e: Entry, name: str) -> Any:
    shops = world.shops.get(e.prefix, {})
    shop = shops.get(e.shop_id)
    if name == "id":
        return e.item_id
    if name == "title":
        return e.title
    if name == "price":
        return e.price
    if name == "original_price":
        return e.original_price
    if name == "text":
        return e.text
    if name == "shop_name":
        if e.prefix == "social":
            return e.extra["author"]
        if e.prefix == "property":
            return e.extra["developer"]
        return shop.name if shop else None
    if name == "licence":
        if e.prefix == "social":
            return None
        return (shop.licence.credit_code or None) if shop else None
    raise KeyError(name)


def right(got: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(got, (int, float)):
        return abs(got - want) < 1e-6
    return bool(got == want)


def sample(world: World, prefix: str, templates: tuple[int, ...], n: int) -> list[Entry]:
    bad = set(world.faults) | set(world.slow)
    out: list[Entry] = []
    for template in templates:
        pool = [
            e
            for e in world.entries[prefix]
            if e.template == template
            and e.path not in bad
            and f"/jsmall/api/items/{e.item_id}" not in bad
        ]
        out += pool[: max(1, n // len(templates))]
    return out


def page(fetcher: Fetcher, profile: SiteProfile, url: str, wait: str = "h1, h2, h3") -> Selector:
    got = fetcher.render(url, wait) if profile.render == "browser" else fetcher.get(url)
    return Selector(text=got.text)


def values(fetcher: Fetcher, profile: SiteProfile, url: str) -> dict[str, Any]:
    """What a crawl with ``profile`` stores for the item at ``url`` (licence link followed)."""
    assert profile.item is not None
    sel = page(fetcher, profile, url)
    out = extract_fields(sel, profile.item.fields, url)
    code = None
    spec = profile.licence.fields.get("credit_code") if profile.licence else None
    if profile.licence is not None and spec is not None:
        if "page" in profile.licence.read_from:
            code = evaluate(sel, spec, url)
        link_spec = profile.item.licence_link
        if not code and link_spec is not None and "link" in profile.licence.read_from:
            link = evaluate(sel, replace(link_spec, many=False, type="url"), url)
            if link:
                code = evaluate(page(fetcher, profile, urljoin(url, link), "table"), spec, url)
    out["licence"] = code
    return out


def score_draft(
    server: SandboxServer, site: str, one_per_template: bool, n: int
) -> tuple[dict[str, tuple[int, int, int]], bool, bool]:
    listing_path, prefix, templates = DRAFT_SITES[site]
    world, base = server.world, server.base_url
    items: list[str] = []
    if one_per_template and len(templates) > 1:
        items = [base + sample(world, prefix, (t,), 1)[0].path for t in templates]
    with Fetcher(delay=0) as fetcher, tempfile.TemporaryDirectory() as tmp:
        draft = draft_profile(base + listing_path, f"draft_{prefix}", items=items, fetcher=fetcher)
        path = Path(tmp) / f"draft_{prefix}.yaml"
        path.write_text(draft.yaml, encoding="utf-8")
        profile = load_profile(path)
        wait = profile.browser.wait_for or "a[href]"
        listing = page(fetcher, profile, base + listing_path, wait)
        assert profile.listing is not None and profile.listing.item_links is not None
        links = evaluate(listing, replace(profile.listing.item_links, many=True, type="urls"), base)
        shown = set(listing.css("a[href]::attr(href)").getall())
        want = {e.path for e in world.entries[prefix] if e.path in shown}
        links_right = {urlsplit(u).path for u in links} == want
        nxt = (
            evaluate(listing, replace(profile.listing.next_page, many=False, type="url"), base)
            if profile.listing.next_page
            else None
        )
        next_right = (urljoin(base, nxt) if nxt else None) == expected_next(site, world, base)
        scores: dict[str, tuple[int, int, int]] = {}
        checked = sample(world, prefix, templates, n)
        for entry in checked:
            got = values(fetcher, profile, base + entry.path)
            for name in FIELDS:
                want_value = truth(world, entry, name)
                if name == "price" and prefix == "social":
                    want_value = None
                ok, total, present = scores.get(name, (0, 0, 0))
                scores[name] = (
                    ok + right(got.get(name), want_value),
                    total + 1,
                    present + (want_value is not None),
                )
    return scores, links_right, next_right


def cell(score: tuple[int, int, int]) -> str:
    """k/n right; "n/a" where the site has no such value and the draft yields none either."""
    ok, total, present = score
    return "n/a" if present == 0 and ok == total else f"{ok}/{total}"


def draft_section(server: SandboxServer, n: int) -> list[str]:
    lines = [
        "| site | drafted from | " + " | ".join(FIELDS) + " | item links | next page |",
        "|---|---|" + "---:|" * len(FIELDS) + "---|---|",
    ]
    for site in DRAFT_SITES:
        variants = [False, True] if len(DRAFT_SITES[site][2]) > 1 else [False]
        for per_template in variants:
            scores, links_right, next_right = score_draft(server, site, per_template, n)
            source = "one item page per template" if per_template else "the first item link"
            cells = [cell(scores[f]) for f in FIELDS]
            mark = {True: "right", False: "wrong"}
            lines.append(
                f"| {site} | {source} | "
                + " | ".join(cells)
                + f" | {mark[links_right]} | {mark[next_right]} |"
            )
    lines += [
        "",
        "A field is right when the drafted profile yields exactly the sandbox's value (the"
        " licence: its credit code, following the drafted licence link if any); an absent"
        " original price or licence is right when the draft yields none (n/a: the site shows"
        " none in the sample and the draft reads none). Items are sampled"
        " evenly across the site's page templates, skipping those the sandbox fails once."
        " The item pages given to the draft are the first of each template: where that one"
        " shows no original price, the draft has no selector for it on that template. The"
        " property portal and the feed link no shop page, so no shop name is drafted there.",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--sample", type=int, default=12, help="items scored per site")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    with SandboxServer(seed=DEFAULT_SEED, scale=args.scale) as server:
        requests = requests_section(server)
        drafted = draft_section(server, args.sample)
    lines = [
        f"Command: `.venv/bin/python bench/sites.py --scale {args.scale:g} --sample {args.sample}`",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()},"
        f" Python {platform.python_version()}; sandbox seed {DEFAULT_SEED}, scale"
        f" {args.scale:g}, in process.",
        "",
        "### Requests per item, full crawl of the sandbox mall (same run)",
        "",
        "The crawl a sweep makes (every start path), item pipelines off: they make no request",
        "of their own except evidence screenshots, which are off here.",
        "",
        *requests,
        "",
        "### Fields `tiequan sites draft` gets right without editing",
        "",
        *drafted,
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(
            ROOT / "BENCHMARKS.md",
            "sites",
            "Site profiles: licence on the item page, sites draft",
            text,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
