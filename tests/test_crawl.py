"""Integration: crawl every sandbox site with real Scrapy (and real Chromium for the feed).

Twisted reactors cannot restart, so each crawl runs in its own Python process, all four
at once; items come back as a JSONL feed and stats as a JSON file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crawlers.profiles import default_sites_dir, load_profiles
from tests.crawling import CRAWL_SCRIPT
from tiequan.sandbox.server import SandboxServer
from tiequan.sandbox.truth import build_truth
from tiequan.sandbox.world import LICENCE_ON_PAGE_TEMPLATE, SITES, TRAP_REAL_PAGES

REPO = Path(__file__).resolve().parents[1]
PREFIX = {name: prefix for prefix, name in SITES.items()}
CRAWL_TIMEOUT_S = 150
# Fast but still exercising the backoff path: the sandbox asks for Retry-After: 1.
TEST_SETTINGS = {
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": False,
    "RETRY_BACKOFF_BASE": 0.05,
    "RETRY_BACKOFF_MAX": 0.3,
    "LOG_LEVEL": "INFO",
    "ITEM_PIPELINES": {},  # the crawl alone; tests/test_sweep.py covers the full chain
}


@dataclass
class CrawlResult:
    items: list[dict[str, Any]]
    stats: dict[str, Any]
    log: str

    def stat(self, key: str) -> int:
        return int(self.stats.get(key, 0))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TIEQUAN_SITES_DIR"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.fixture(scope="module")
def crawls(
    sandbox: SandboxServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, CrawlResult]:
    """Every shipped profile crawled once against a freshly reset sandbox."""
    sandbox.reset_counters()  # faults fire again on first request; hits start at zero
    work = tmp_path_factory.mktemp("crawls")
    names = list(load_profiles(default_sites_dir()))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    for name in names:
        args = [
            sys.executable, "-c", CRAWL_SCRIPT, name, sandbox.base_url,
            str(work / f"{name}.jsonl"), str(work / f"{name}.stats.json"),
            str(work / f"{name}.log"), json.dumps(TEST_SETTINGS),
        ]  # fmt: skip
        procs[name] = subprocess.Popen(args, cwd=REPO, env=_env(), stderr=subprocess.PIPE)
    deadline = time.monotonic() + CRAWL_TIMEOUT_S
    results: dict[str, CrawlResult] = {}
    for name, proc in procs.items():
        try:
            _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail(f"crawl {name} did not finish in {CRAWL_TIMEOUT_S}s")
        log_path = work / f"{name}.log"
        log = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
        assert proc.returncode == 0, f"{name} exited {proc.returncode}: {err.decode()[-3000:]}"
        feed = work / f"{name}.jsonl"
        lines = feed.read_text(encoding="utf-8").splitlines() if feed.exists() else []
        stats = json.loads((work / f"{name}.stats.json").read_text(encoding="utf-8"))
        results[name] = CrawlResult([json.loads(line) for line in lines], stats, log)
    return results


def truth_ids(site: str) -> set[str]:
    from tests.fixtures_sandbox import SANDBOX_SCALE, SANDBOX_SEED

    return {t.item_id for t in build_truth(SANDBOX_SEED, SANDBOX_SCALE) if t.site == site}


@pytest.mark.parametrize("site", sorted(SITES.values()))
def test_every_truth_item_is_captured(crawls: dict[str, CrawlResult], site: str) -> None:
    result = crawls[site]
    got = [item["item_id"] for item in result.items]
    assert len(got) == len(set(got)), "duplicate items"
    want = truth_ids(site)
    assert want, f"no truth for {site}"
    assert set(got) == want, (
        f"missing {sorted(want - set(got))[:5]}, extra {sorted(set(got) - want)[:5]}"
    )
    assert result.stat(f"tiequan/items/{site}") == len(want)
    assert result.stat("tiequan/item_incomplete") == 0
    for item in result.items:
        assert item["platform"] == site and item["title"]
        assert item["captured_at"].endswith("+00:00") and len(item["body_sha256"]) == 64
        assert item["status"] == 200


@pytest.mark.parametrize("site", ["sandbox_mall", "sandbox_property", "sandbox_jsmall"])
def test_licences_match_the_shops(
    crawls: dict[str, CrawlResult], sandbox: SandboxServer, site: str
) -> None:
    prefix = PREFIX[site]
    shown = 0
    for item in crawls[site].items:
        entry = sandbox.world.find(prefix, item["item_id"])
        assert entry is not None
        expected = sandbox.world.shops[prefix][entry.shop_id].licence
        if expected.credit_code:
            shown += 1
            assert item["licence"] is not None, item["url"]
            assert item["licence"]["credit_code"] == expected.credit_code
            assert item["licence"]["name"] == expected.company
        else:
            assert item["licence"] is None, item["url"]
    assert shown > 0
    assert crawls[site].stat("tiequan/licence_failed") == 0


def test_licence_on_the_item_page_costs_no_request(
    crawls: dict[str, CrawlResult], sandbox: SandboxServer
) -> None:
    world = sandbox.world
    by_id = {i["item_id"]: i for i in crawls["sandbox_mall"].items}
    on_page = [e for e in world.entries["mall"] if e.template == LICENCE_ON_PAGE_TEMPLATE]
    assert on_page
    for entry in on_page:
        retried = 1 if entry.path in world.faults else 0
        assert sandbox.hits[entry.path] == 1 + retried, entry.path  # fetched once, not twice
        licence = world.shops["mall"][entry.shop_id].licence
        got = by_id[entry.item_id]["licence"]
        if licence.credit_code:
            assert got["url"].endswith(entry.path) and got["credit_code"] == licence.credit_code
    # a shop whose items all print the licence has its licence page never asked for
    templates: dict[str, set[int]] = {}
    for entry in world.entries["mall"] + world.price_watch:
        templates.setdefault(entry.shop_id, set()).add(entry.template)
    only_on_page = [s for s, t in templates.items() if t == {LICENCE_ON_PAGE_TEMPLATE}]
    for shop_id in only_on_page:
        assert sandbox.hits[f"/mall/shop/{shop_id}/licence"] == 0
    stat = crawls["sandbox_mall"].stat("tiequan/licence_on_page")
    assert stat == sum(1 for e in on_page if world.shops["mall"][e.shop_id].licence.credit_code)


def test_product_fields_match_the_world(
    crawls: dict[str, CrawlResult], sandbox: SandboxServer
) -> None:
    for site in ("sandbox_mall", "sandbox_jsmall"):
        for item in crawls[site].items:
            entry = sandbox.world.find(PREFIX[site], item["item_id"])
            assert entry is not None
            assert item["title"] == entry.title
            assert item["price"] == pytest.approx(entry.price)
            assert item["sales"] == entry.sales
            assert len(item["image_urls"]) == len(entry.images)


def test_robots_txt_is_obeyed(crawls: dict[str, CrawlResult], sandbox: SandboxServer) -> None:
    assert crawls["sandbox_mall"].stat("robotstxt/forbidden") > 0  # admin links were offered
    forbidden = [p for p in sandbox.hits if p.startswith(("/mall/admin", "/private/"))]
    assert forbidden == []


def test_faults_are_retried_until_success(
    crawls: dict[str, CrawlResult], sandbox: SandboxServer
) -> None:
    retried: dict[str, int] = {}
    for result in crawls.values():
        for key, value in result.stats.items():
            if key.startswith("tiequan/retry/"):
                retried[key] = retried.get(key, 0) + int(value)
    assert retried.get("tiequan/retry/429", 0) > 0
    assert retried.get("tiequan/retry/503", 0) + retried.get("tiequan/retry/502", 0) > 0
    captured = {(PREFIX[s], i["item_id"]) for s, r in crawls.items() for i in r.items}
    for path in sandbox.world.faults:
        assert sandbox.hits[path] >= 2, f"{path} was not retried"
        prefix, item_id = path.split("/")[1], path.rstrip("/").split("/")[-1]
        assert (prefix, item_id) in captured, f"{path} failed once and never arrived"


def test_pagination_trap_stops_at_max_pages(
    crawls: dict[str, CrawlResult], sandbox: SandboxServer
) -> None:
    profile = load_profiles(default_sites_dir())["sandbox_mall"]
    assert profile.listing is not None
    assert profile.listing.max_pages > TRAP_REAL_PAGES
    assert sandbox.hits["/mall/browse/clearance"] == profile.listing.max_pages
    assert crawls["sandbox_mall"].stat("tiequan/pagination_capped") == 1


def test_social_feed_is_rendered_and_scrolled(crawls: dict[str, CrawlResult]) -> None:
    from tiequan.sandbox.world import FEED_BATCH

    result = crawls["sandbox_social"]
    assert result.stat("playwright/page_count") >= 1
    # the first render holds one batch; everything beyond it came from scrolling
    assert len(result.items) > FEED_BATCH
    assert all(item["kind"] == "post" and item["url"] for item in result.items)


@pytest.mark.parametrize("site", sorted(SITES.values()))
def test_crawl_logs_no_errors(crawls: dict[str, CrawlResult], site: str) -> None:
    result = crawls[site]
    errors = [line for line in result.log.splitlines() if "] ERROR:" in line or "Traceback" in line]
    assert errors == []
    assert result.stats["finish_reason"] == "finished"
    assert result.stat("tiequan/request_failed") == 0


def test_scrapy_list_uses_profiles() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.split() == sorted(load_profiles(default_sites_dir()))
