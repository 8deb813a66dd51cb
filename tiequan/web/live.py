"""The workbench in a real server and a real browser: for end-to-end tests and screenshots.

``LiveServer`` runs uvicorn from a thread on a free loopback port; ``launch_chromium``
starts the system Chromium through Playwright (it never downloads a browser).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI

from tiequan.settings import environment

# The crawler's list (crawlers/browser.py), which the workbench may not import: the
# headless-shell build first, and no calls home from a closed network.
CHROMIUM_CANDIDATES = (
    "/usr/bin/chromium-headless-shell",
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/bin/chromium",
)
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
START_TIMEOUT = 30.0  # seconds


class LiveServer:
    """``with LiveServer(app) as server:`` serves ``app`` at ``server.base_url`` until exit."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", ws="none"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="workbench", daemon=True)
        self.base_url = ""

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the workbench server did not start")
            time.sleep(0.02)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.base_url = f"http://{host}:{port}"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=START_TIMEOUT)


def chromium_path() -> str:
    """``$TIEQUAN_CHROMIUM``, else the first system Chromium there is."""
    override = environment().chromium
    for candidate in (override,) if override else CHROMIUM_CANDIDATES:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    where = override or "、".join(CHROMIUM_CANDIDATES)
    raise RuntimeError(f"找不到 Chromium（{where}），请安装 chromium 或设置 TIEQUAN_CHROMIUM")


def launch_chromium(playwright: Any) -> Any:
    """A headless system Chromium from a started ``sync_playwright()``."""
    return playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=list(CHROMIUM_ARGS)
    )
