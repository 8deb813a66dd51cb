"""Stage 350 (pipelines.images) and image findings in stage 400 (pipelines.detect).

The crawl test runs real Scrapy against the sandbox mall in a subprocess (reactors cannot
restart) with validate, dedup, image OCR and detect, and no database stages.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont
from scrapy import Request
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from crawlers.items import Listing
from detectors import Finding
from detectors.base import ListingContext
from pipelines.detect import DetectPipeline, image_explanation, merge_findings
from pipelines.images import ImageTextPipeline, OcrConfig, image_urls
from tests.crawling import CRAWL_SCRIPT
from tiequan.sandbox.server import SandboxServer
from tiequan.sandbox.truth import build_truth

REPO = Path(__file__).resolve().parents[1]
CRAWL_TIMEOUT_S = 150


def render(lines: list[str]) -> bytes:
    image = Image.new("RGB", (640, 200), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 34)
    for k, line in enumerate(lines):
        draw.text((40, 40 + 56 * k), line, fill=(0, 0, 0), font=font)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


# --- settings --------------------------------------------------------------------------
def test_config_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path))
    config = OcrConfig.from_settings(Settings())
    assert config.enabled is True
    assert config.max_images == 4
    assert config.threads == 2
    assert config.cache_dir == tmp_path / "ocr-cache"
    assert config.min_confidence == 0.5


def test_config_values_and_cache_off() -> None:
    settings = Settings(
        {
            "TIEQUAN_OCR_MAX_IMAGES": "2",
            "TIEQUAN_OCR_THREADS": "1",
            "TIEQUAN_OCR_CACHE_DIR": "",
            "TIEQUAN_OCR_MIN_CONFIDENCE": "0.8",
        }
    )
    config = OcrConfig.from_settings(settings)
    assert (config.max_images, config.threads, config.cache_dir) == (2, 1, None)
    assert config.min_confidence == 0.8
    home = OcrConfig.from_settings(Settings({"TIEQUAN_HOME": "/srv/tq"}))
    assert home.cache_dir == Path("/srv/tq/ocr-cache")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TIEQUAN_OCR_MAX_IMAGES", "-1"),
        ("TIEQUAN_OCR_THREADS", "0"),
        ("TIEQUAN_OCR_MIN_CONFIDENCE", "1.5"),
        ("TIEQUAN_OCR_MAX_BYTES", "0"),
    ],
)
def test_config_rejects_bad_values(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        OcrConfig.from_settings(Settings({name: value}))


def test_disabled_pipeline_is_not_configured() -> None:
    crawler = get_crawler(settings_dict={"TIEQUAN_OCR_ENABLED": False})
    with pytest.raises(NotConfigured, match="TIEQUAN_OCR_ENABLED"):
        ImageTextPipeline.from_crawler(crawler)


def test_image_urls_are_distinct_http_and_capped() -> None:
    item = Listing(
        "p", "product", "http://x/1", "1", "t",
        image_urls=["http://x/a.png", "data:image/png;base64,AA", "http://x/a.png",
                    "https://x/b.png", "http://x/c.png"],
    )  # fmt: skip
    assert image_urls(item, 2) == ["http://x/a.png", "https://x/b.png"]


# --- the stage with a stub downloader (real OCR) --------------------------------------------
class StubEngine:
    """Stands in for Scrapy's engine: serves canned responses and records the requests."""

    def __init__(self, pages: dict[str, tuple[int, bytes]]) -> None:
        self.pages = pages
        self.requested: list[str] = []

    async def download_async(self, request: Request) -> Response:
        self.requested.append(request.url)
        if request.url not in self.pages:
            raise IgnoreRequest("Forbidden by robots.txt")
        status, body = self.pages[request.url]
        return Response(request.url, status=status, body=body, request=request)


def test_stage_reads_images_and_counts_failures_without_failing() -> None:
    png = render(["纤体咖啡", "三天瘦十斤"])
    engine = StubEngine(
        {
            "http://x/a.png": (200, png),
            "http://x/copy.png": (200, png),
            "http://x/page.html": (200, b"<html>not an image</html>"),
            "http://x/gone.png": (404, b"not found"),
        }
    )
    crawler = get_crawler(settings_dict={"TIEQUAN_OCR_CACHE_DIR": ""})
    crawler.engine = engine  # type: ignore[assignment]
    pipeline = ImageTextPipeline.from_crawler(crawler)
    urls = ["http://x/a.png", "http://x/page.html", "http://x/gone.png", "http://x/robots.png"]
    first = Listing("p", "product", "http://x/1", "1", "t", image_urls=urls)
    second = Listing("p", "product", "http://x/2", "2", "t", image_urls=["http://x/a.png"])
    third = Listing("p", "product", "http://x/3", "3", "t", image_urls=["http://x/copy.png"])

    async def run() -> None:
        for item in (first, second, third):
            await pipeline.process_item(item)

    pipeline.open_spider()
    try:
        asyncio.run(run())
    finally:
        pipeline.close_spider()
    assert [i["url"] for i in first.image_texts] == ["http://x/a.png"]
    assert "三天瘦十斤" in first.image_texts[0]["text"]
    assert second.image_texts == first.image_texts
    assert third.image_texts[0]["sha256"] == first.image_texts[0]["sha256"]
    assert engine.requested.count("http://x/a.png") == 1  # repeated URL: read once
    stats = crawler.stats
    assert stats is not None
    assert stats.get_value("ocr/images") == 2
    assert stats.get_value("ocr/cache_hits") == 1  # the copy, by hash
    assert stats.get_value("ocr/url_repeats") == 1
    assert stats.get_value("ocr/errors") == 1
    assert stats.get_value("ocr/download_failed") == 2


# --- detection over image text -------------------------------------------------------------
def _finding(category: str, score: float) -> Finding:
    return Finding(
        category, score, "《广告法》第十七条", [(0, 2)], "宣称“减肥”，违反《广告法》第十七条"
    )


def test_merge_keeps_the_stronger_finding_and_its_provenance() -> None:
    text_weak = _finding("slimming_aphrodisiac", 0.6)
    image_strong = _finding("slimming_aphrodisiac", 0.9)
    image_strong.image_url = "http://x/a.png"
    text_only = _finding("miracle_drug", 0.7)
    tie_image = _finding("miracle_drug", 0.7)
    tie_image.image_url = "http://x/b.png"
    kept = merge_findings(
        [(text_weak, "t"), (text_only, "t")], [(image_strong, "i"), (tie_image, "i")]
    )
    assert [(f.category, f.image_url) for f, _ in kept] == [
        ("slimming_aphrodisiac", "http://x/a.png"),  # the image was stronger
        ("miracle_drug", None),  # a tie goes to the text
    ]


def test_image_explanation_says_it_was_in_the_image() -> None:
    assert image_explanation("宣称“减肥”，违反《广告法》") == "商品图片中宣称“减肥”，违反《广告法》"
    assert image_explanation("普通食品宣称减肥").startswith("商品图片中的文字：普通食品")


def test_detect_pipeline_reports_a_claim_found_only_in_an_image(
    live_crawl: dict[str, str],
) -> None:
    crawler = get_crawler(settings_dict=live_crawl)
    pipeline = DetectPipeline.from_crawler(crawler)
    pipeline.open_spider()
    claim = "纤体咖啡\n三天瘦十斤，不反弹"
    item = Listing(
        "sandbox_mall", "product", "http://x/1", "1", "纤体咖啡 礼盒装", text="详情见图",
        image_urls=["http://x/1-1.png"],
        image_texts=[{"url": "http://x/1-1.png", "sha256": "ab" * 32, "text": claim}],
    )  # fmt: skip
    pipeline.detect_item(item)
    pipeline.close_spider()
    records = {r["category"]: r for r in item.findings}
    record = records["slimming_aphrodisiac"]
    assert record["image"] == {"url": "http://x/1-1.png", "text": claim}
    assert record["explanation"].startswith("商品图片中")
    assert record["matched"] and all(m in claim for m in record["matched"])
    assert record["severity"]
    assert crawler.stats is not None
    assert crawler.stats.get_value("detector/image_hits/slimming_aphrodisiac") == 1


def test_image_text_needs_rule_evidence_not_the_classifier_alone(
    live_crawl: dict[str, str],
) -> None:
    crawler = get_crawler(settings_dict=live_crawl)
    pipeline = DetectPipeline.from_crawler(crawler)
    pipeline.open_spider()
    assert pipeline.detector is not None
    # Banner boilerplate an apparel listing's images carry: trade words, no claim.
    banner = "驼铃羊绒衫 男女同款 保暖针织 客服在线 量大议价"
    context = ListingContext(site_kind="mall", category="服装/羊绒衫")
    as_text = pipeline.detector.detect(banner, context=context)
    assert as_text and all(f.severity == "提醒告诫" for f in as_text)  # the classifier alone
    item = Listing(
        "sandbox_mall", "product", "http://x/2", "2", "羊绒衫", text="详情见图",
        extra={"category": "服装/羊绒衫"},
        image_urls=["http://x/2-1.png"],
        image_texts=[{"url": "http://x/2-1.png", "sha256": "cd" * 32, "text": banner}],
    )  # fmt: skip
    pipeline.detect_item(item)
    pipeline.close_spider()
    assert not [r for r in item.findings if r.get("image")]


# --- a real crawl ----------------------------------------------------------------------------
def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TIEQUAN_SITES_DIR"}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def crawl(
    base_url: str, work: Path, overrides: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    feed, stats, log = work / "items.jsonl", work / "stats.json", work / "crawl.log"
    args = [sys.executable, "-c", CRAWL_SCRIPT, "sandbox_mall", base_url, str(feed), str(stats),
            str(log), json.dumps(overrides)]  # fmt: skip
    proc = subprocess.run(args, cwd=REPO, env=_env(), capture_output=True, timeout=CRAWL_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    items = [json.loads(line) for line in feed.read_text(encoding="utf-8").splitlines()]
    return items, json.loads(stats.read_text(encoding="utf-8")), log.read_text(encoding="utf-8")


def test_crawl_finds_claims_that_live_only_in_images(
    sandbox: SandboxServer, tmp_path: Path, live_crawl: dict[str, str]
) -> None:
    from tests.fixtures_sandbox import SANDBOX_SCALE, SANDBOX_SEED

    overrides = {
        **live_crawl,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "RETRY_BACKOFF_BASE": 0.05,
        "RETRY_BACKOFF_MAX": 0.3,
        "ITEM_PIPELINES": {
            "pipelines.validate.ValidatePipeline": 100,
            "pipelines.dedup.DedupPipeline": 200,
            "pipelines.images.ImageTextPipeline": 350,
            "pipelines.detect.DetectPipeline": 400,
        },
        "TIEQUAN_OCR_CACHE_DIR": str(tmp_path / "ocr-cache"),
        # The sandbox puts an image-only claim in the first image; one image per listing
        # keeps the test quick (bench/ocr.py measures the full rate).
        "TIEQUAN_OCR_MAX_IMAGES": 1,
    }
    items, stats, log = crawl(sandbox.base_url, tmp_path, overrides)
    truth = [
        t
        for t in build_truth(SANDBOX_SEED, SANDBOX_SCALE)
        if t.site == "sandbox_mall" and t.variant == "image_only"
    ]
    assert truth, "the sandbox should hide some claims in images"
    by_id = {item["item_id"]: item for item in items}
    for t in truth:
        item = by_id[t.item_id]
        first_image = item["image_urls"][0]
        assert [i["url"] for i in item["image_texts"]] == [first_image]
        found = {f["category"]: f for f in item["findings"]}
        for category in t.categories:
            assert category in found, f"{t.item_id}: {category} not found in {item['image_texts']}"
            assert found[category]["image"]["url"] == first_image
            assert found[category]["explanation"].startswith("商品图片中")
    with_images = sum(1 for item in items if item["image_urls"])
    assert int(stats["ocr/images"]) == with_images
    assert int(stats.get("ocr/errors", 0)) == 0 and int(stats.get("ocr/download_failed", 0)) == 0
    assert float(stats["ocr/seconds"]) > 0
    # Images went through Scrapy's downloader (robots.txt, retries, downloader stats).
    assert int(stats["downloader/response_count"]) >= len(items) + with_images
    # One cache file per distinct image (a few sandbox images repeat across listings).
    hashes = {i["sha256"] for item in items for i in item["image_texts"]}
    assert len(hashes) > with_images // 2
    assert {p.stem for p in (tmp_path / "ocr-cache").rglob("*.json")} == hashes
    assert "Traceback" not in log
