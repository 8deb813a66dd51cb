"""Workbench fixtures: a sandbox sweep with screenshots, the app on a real port, Chromium.

One small sweep of the sandbox mall per session (screenshots on, OCR off) fills a database
of its own; the workbench serves it from a uvicorn thread, and tests drive it with
Playwright. Tests that change leads must pick their own (see tests/test_web_e2e.py).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from pymongo import MongoClient
from pymongo.database import Database

from tests.conftest import TrainedModel
from tests.fixtures_mongo import cli_env
from tests.fixtures_sandbox import SANDBOX_SEED
from tiequan.evidence.artefacts import ArtefactStore
from tiequan.leads.queue import LeadQueue
from tiequan.sandbox.server import SandboxServer
from tiequan.web.accounts import ROLE_REVIEWER, Accounts
from tiequan.web.app import create_app
from tiequan.web.live import LiveServer, launch_chromium

REPO = Path(__file__).resolve().parents[1]
WORKBENCH_SCALE = 0.05  # the mall's smallest world: a dozen leads, each with a screenshot
SWEEP_SETTINGS = (
    "DOWNLOAD_DELAY=0",
    "AUTOTHROTTLE_ENABLED=False",
    "RETRY_BACKOFF_BASE=0.05",
    "RETRY_BACKOFF_MAX=0.3",
    "TIEQUAN_OCR_ENABLED=False",
)
REVIEWER = "rev"
PASSWORD = "correct horse battery"


@dataclass
class Workbench:
    base_url: str
    db: Database[dict[str, Any]]
    accounts: Accounts
    sandbox: SandboxServer


@pytest.fixture(scope="session")
def swept_db(
    mongo_uri: str,
    mongo_client: MongoClient[dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
    trained_model: TrainedModel,
) -> Iterator[tuple[Database[dict[str, Any]], Path, SandboxServer]]:
    """A database filled by `tiequan sweep --site sandbox_mall`; (db, TIEQUAN_HOME, sandbox)."""
    name = f"t_web_{uuid.uuid4().hex[:8]}"
    trained_model.promote_in(mongo_client[name])
    home = tmp_path_factory.mktemp("web_home")
    env = cli_env(mongo_uri, name, home)
    with SandboxServer(seed=SANDBOX_SEED, scale=WORKBENCH_SCALE) as server:
        cmd = [sys.executable, "-m", "tiequan", "sweep", "--site", "sandbox_mall",
               "--base-url", server.base_url, "--progress", "0",
               *[a for kv in SWEEP_SETTINGS for a in ("-s", kv)]]  # fmt: skip
        result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        yield mongo_client[name], home, server
    mongo_client.drop_database(name)


@pytest.fixture(scope="session")
def workbench(
    swept_db: tuple[Database[dict[str, Any]], Path, SandboxServer],
) -> Iterator[Workbench]:
    """The workbench on the swept database, served on a free port, with a reviewer account."""
    db, home, sandbox = swept_db
    # Cheap argon2 parameters: the same code path, a fraction of the time.
    accounts = Accounts(db, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    accounts.add(REVIEWER, ROLE_REVIEWER, PASSWORD, display_name="测试研判员")
    queue = LeadQueue(db)
    app = create_app(db, queue=queue, accounts=accounts, artefacts=ArtefactStore(home / "evidence"))
    with LiveServer(app) as server:
        yield Workbench(server.base_url, db, accounts, sandbox)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless system Chromium, driven by Playwright's sync API.

    Per module, not per session: while Playwright's sync API is open it keeps an asyncio
    loop running on the main thread, and every later test that starts a loop or a Twisted
    reactor (asyncio.run, Scrapy's CrawlerRunner) would fail.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()
