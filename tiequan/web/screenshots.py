"""README screenshots of the workbench: `make screenshots` (``python -m tiequan.web.screenshots``).

Fills a throwaway store with a sweep of the sandbox mall (as `tiequan demo` does, with the
screenshots of the evidence stage on), serves the workbench on it, logs in as the demo
reviewer and saves the queue, a lead page and the dashboard as PNGs in docs/screenshots/.
``capture`` alone works on any running workbench (the end-to-end tests use it).
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess  # nosec B404 # the sweep runs in a child process of our own interpreter
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from PIL import Image

from tiequan.evidence.artefacts import ArtefactStore
from tiequan.evidence.manifest import evidence_sets
from tiequan.leads.model import Case
from tiequan.leads.queue import LeadQueue
from tiequan.sandbox.hostile import ITEM_ID as HOSTILE_ITEM
from tiequan.sandbox.server import SandboxServer
from tiequan.settings import child_environment, environment
from tiequan.storage.embedded import EmbeddedServer
from tiequan.web.accounts import Accounts
from tiequan.web.app import create_app
from tiequan.web.live import LiveServer, launch_chromium

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = REPO_ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 1280, 860
LEAD_HEIGHT = 1600
COLOURS = 128  # a palette PNG of a text page is a fraction of the full-colour one
DEMO_DB = "tiequan_screenshots"
SWEEP_SETTINGS = ("DOWNLOAD_DELAY=0", "AUTOTHROTTLE_ENABLED=False", "TIEQUAN_OCR_ENABLED=False")


def capture(
    browser: Any, base_url: str, username: str, password: str, out_dir: Path, lead_id: str
) -> list[Path]:
    """Log in and save queue.png, lead.png and (if there is one) dashboard.png in ``out_dir``.

    ``browser`` is a Playwright Chromium (see ``launch_chromium``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    try:
        page = context.new_page()
        page.goto(f"{base_url}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.press("input[name=password]", "Enter")
        pages = (
            ("queue", "/leads?sort=score"),
            ("lead", f"/leads/{quote(lead_id, safe='')}"),
            ("dashboard", "/dashboard"),
        )
        for name, path in pages:
            response = page.goto(base_url + path)
            if response is None or response.status == 404:
                log.info("%s: %s answers 404 in this build, no screenshot", name, path)
                continue
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}")
            page.wait_for_load_state("networkidle")
            if name == "lead" and page.locator('[data-key="c"]').count():
                with page.expect_navigation():  # claimed: the page shows the decisions
                    page.keyboard.press("c")
                page.wait_for_load_state("networkidle")
            height = LEAD_HEIGHT if name == "lead" else HEIGHT  # down to the evidence
            clip = {"x": 0, "y": 0, "width": WIDTH, "height": height}
            shot = page.screenshot(full_page=True, clip=clip)
            saved.append(save_png(shot, out_dir / f"{name}.png"))
    finally:
        context.close()
    return saved


def save_png(shot: bytes, path: Path) -> Path:
    """The screenshot as a palette PNG (smaller in the repository, the same to the eye)."""
    from io import BytesIO

    with Image.open(BytesIO(shot)) as image:
        image.convert("RGB").quantize(colors=COLOURS).save(path, optimize=True)
    log.info("saved %s (%d bytes)", path, path.stat().st_size)
    return path


def showcase_lead(queue: LeadQueue) -> str:
    """The best-scored lead with a page screenshot, other than the sandbox's XSS listing."""
    leads, _total = queue.search({}, [("score", -1)], skip=0, limit=200)
    for lead in leads:
        if HOSTILE_ITEM in {e.get("item_id") for e in lead.get("listings") or []}:
            continue
        sets = evidence_sets(queue.db, Case.from_doc(lead))
        if any(a.get("kind") == "screenshot" for s in sets for a in s.get("artefacts") or []):
            return str(lead["_id"])
    raise RuntimeError("the sweep made no lead with a screenshot")


def sweep_sandbox(base_url: str, mongo_uri: str, home: Path) -> None:
    """`tiequan sweep --site sandbox_mall` into ``DEMO_DB`` (a child process: Scrapy's reactor
    runs once per process)."""
    env = child_environment(
        {"TIEQUAN_MONGO_URI": mongo_uri, "TIEQUAN_DB": DEMO_DB, "TIEQUAN_HOME": str(home)},
        drop=("TIEQUAN_EVIDENCE_DIR",),
    )
    env.setdefault("TIEQUAN_MODEL_DIR", str(environment().model_dir))  # reuse the trained model
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "tiequan", "sweep", "--site", "sandbox_mall",
           "--base-url", base_url, "--progress", "0",
           *[a for kv in SWEEP_SETTINGS for a in ("-s", kv)]]  # fmt: skip
    subprocess.run(cmd, cwd=REPO_ROOT, env=env, check=True, timeout=600)  # nosec B603


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where the PNGs go")
    parser.add_argument("--scale", type=float, default=0.1, help="sandbox size multiplier")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from playwright.sync_api import sync_playwright

    from tiequan.cli.serve_cmd import DEMO_USER, demo_login

    with tempfile.TemporaryDirectory(prefix="tiequan-screenshots-") as tmp:
        home = Path(tmp)
        with EmbeddedServer(home / "db") as mongo, SandboxServer(scale=args.scale) as sandbox:
            from pymongo import MongoClient

            from tiequan.cli.demo_cmd import ensure_live_model

            setup: MongoClient[dict[str, Any]] = MongoClient(mongo.uri, tz_aware=True)
            with setup:
                ensure_live_model(setup[DEMO_DB])  # the sweep only loads a live model
            sweep_sandbox(sandbox.base_url, mongo.uri, home)

            client: MongoClient[dict[str, Any]] = MongoClient(mongo.uri, tz_aware=True)
            try:
                db = client[DEMO_DB]
                queue, accounts = LeadQueue(db), Accounts(db)
                password = demo_login(accounts)
                app = create_app(
                    db, queue=queue, accounts=accounts, artefacts=ArtefactStore(home / "evidence")
                )
                lead_id = showcase_lead(queue)
                with LiveServer(app) as server, sync_playwright() as playwright:
                    browser = launch_chromium(playwright)
                    try:
                        capture(browser, server.base_url, DEMO_USER, password, args.out, lead_id)
                    finally:
                        browser.close()
            finally:
                client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
