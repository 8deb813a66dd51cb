"""A real crawl of the sandbox mall with the evidence stage and Chromium screenshots on.

Runs Scrapy in a subprocess (reactors cannot restart) with validate, dedup, image OCR (one
image per listing), detect and evidence, against a small sandbox of its own.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image
from pymongo.database import Database
from warcio.archiveiterator import ArchiveIterator

from tests.crawling import CRAWL_SCRIPT
from tiequan.evidence.artefacts import ArtefactStore
from tiequan.evidence.capture import evidence_id
from tiequan.sandbox.server import SandboxServer
from tiequan.storage.store import EVIDENCE

REPO = Path(__file__).resolve().parents[1]
CRAWL_TIMEOUT_S = 240
SCALE = 0.05  # a few dozen mall listings: enough flagged pages, quick screenshots


@pytest.fixture(scope="module")
def small_sandbox() -> Iterator[SandboxServer]:
    server = SandboxServer(host="127.0.0.1", port=0, seed=20220101, scale=SCALE)
    server.start()
    yield server
    server.stop()


@pytest.mark.usefixtures("live_model")
def test_flagged_pages_get_screenshot_warc_and_images(
    small_sandbox: SandboxServer, tmp_path: Path, mongo_uri: str, db: Database[Any]
) -> None:
    home = tmp_path / "home"
    small_sandbox.reset_counters()
    feed, stats_path, log = tmp_path / "items.jsonl", tmp_path / "stats.json", tmp_path / "log"
    overrides = {
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "RETRY_BACKOFF_BASE": 0.05,
        "RETRY_BACKOFF_MAX": 0.3,
        "ITEM_PIPELINES": {
            "pipelines.validate.ValidatePipeline": 100,
            "pipelines.dedup.DedupPipeline": 200,
            "pipelines.images.ImageTextPipeline": 350,
            "pipelines.detect.DetectPipeline": 400,
            "pipelines.evidence.EvidencePipeline": 450,
        },
        "TIEQUAN_OCR_MAX_IMAGES": 1,
        "TIEQUAN_OCR_CACHE_DIR": str(tmp_path / "ocr-cache"),
        "TIEQUAN_HOME": str(home),
        "TIEQUAN_MONGO_URI": mongo_uri,
        "TIEQUAN_RUN_ID": "R-evidence",
        "TIEQUAN_EVIDENCE_SCREENSHOTS": True,
    }
    env = {k: v for k, v in os.environ.items() if k != "TIEQUAN_SITES_DIR"}
    env.update(PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""), TIEQUAN_DB=db.name)
    args = [sys.executable, "-c", CRAWL_SCRIPT, "sandbox_mall", small_sandbox.base_url,
            str(feed), str(stats_path), str(log), json.dumps(overrides)]  # fmt: skip
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, timeout=CRAWL_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    items = [json.loads(line) for line in feed.read_text(encoding="utf-8").splitlines()]
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    flagged = [i for i in items if i["findings"]]
    assert flagged and len(flagged) < len(items)
    assert all(i["raw"] is None for i in items)  # cleared before leaving the stage
    assert all(i["evidence_id"] is None for i in items if not i["findings"])
    assert int(stats["evidence/sets"]) == len(flagged)
    assert int(stats.get("evidence/screenshot_failed", 0)) == 0
    assert "Traceback" not in log.read_text(encoding="utf-8")

    store = ArtefactStore(home / "evidence")
    docs = {d["_id"]: d for d in db[EVIDENCE].find()}
    assert len(docs) == len(flagged)
    image_findings = licence_pages = 0
    for item in flagged:
        ev_id = evidence_id("sandbox_mall", item["item_id"], "R-evidence")
        assert item["evidence_id"] == ev_id
        doc = docs[ev_id]
        assert doc["notes"] == [] and doc["findings"] == item["findings"]
        assert doc["final_url"] == item["final_url"] and doc["status"] == 200
        by_kind = {a["kind"]: a for a in doc["artefacts"]}
        # The screenshot lays out what was captured: the page was fetched once, by the crawl.
        assert doc["screenshot_of"] == "capture" and "live_screenshot" not in by_kind
        path = urlsplit(item["final_url"]).path
        retried = path in small_sandbox.world.faults  # planned to fail once
        assert small_sandbox.hits[path] == 1 + retried, item["final_url"]
        shot = store.read(by_kind["screenshot"]["sha256"])
        with Image.open(io.BytesIO(shot)) as image:
            assert image.format == "PNG" and image.width >= 800 and image.height >= 600
            low, high = image.convert("L").getextrema()
            assert high - low > 100  # the captured page laid out, not a blank one
        records = list(_records(store.read(by_kind["warc"]["sha256"])))
        page = next(r for r in records if r[0] == "response" and r[1] == item["final_url"])
        assert item["title"].split()[0] in page[2].decode("utf-8")
        assert any(r[0] == "request" for r in records)
        licence_url = (item.get("licence") or {}).get("url")
        if licence_url and licence_url != item["final_url"]:  # read from the shop's page
            licence_pages += 1
            assert by_kind["licence_page"]["source_url"] == licence_url
            assert store.check(by_kind["licence_page"]["sha256"]) == "ok"
            assert any(r[0] == "response" and r[1] == licence_url for r in records)
        else:
            assert "licence_page" not in by_kind
        for finding in item["findings"]:
            url = (finding.get("image") or {}).get("url")
            if url:
                image_findings += 1
                art = next(a for a in doc["artefacts"] if a.get("source_url") == url)
                assert art["kind"] == "image" and store.check(art["sha256"]) == "ok"
                assert any(r[0] == "resource" and r[1] == url for r in records)
    assert image_findings, "the sandbox hides some claims in product images"
    assert licence_pages, "some sandbox shops show their licence on a page of its own"


def _records(data: bytes) -> Iterator[tuple[str, str, bytes]]:
    for record in ArchiveIterator(io.BytesIO(data)):
        uri = record.rec_headers.get_header("WARC-Target-URI") or ""
        yield record.rec_type, uri, record.content_stream().read()
