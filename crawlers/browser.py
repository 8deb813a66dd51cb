"""Finding the system Chromium and the launch options Playwright uses for it.

Playwright must never download its own browser: we always pass an explicit
``executable_path``. The flags keep Chromium from calling home on a closed network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from tiequan.settings import environment

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

CHROMIUM_ENV = "TIEQUAN_CHROMIUM"
CHROMIUM_CANDIDATES: tuple[str, ...] = (
    "/usr/bin/chromium-headless-shell",
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/bin/chromium",
)
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class BrowserNotFound(RuntimeError):
    """No usable Chromium executable was found."""


def find_chromium(
    env: Mapping[str, str] | None = None, candidates: tuple[str, ...] = CHROMIUM_CANDIDATES
) -> Path | None:
    """Return the Chromium to drive: ``$TIEQUAN_CHROMIUM`` if set, else the first candidate.

    Only checks paths, so it is cheap enough to call while settings load.
    """
    override = environment().chromium if env is None else env.get(CHROMIUM_ENV)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise BrowserNotFound(f"{CHROMIUM_ENV}={override!r} is not an executable file")
        return path
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def require_chromium() -> Path:
    """Like :func:`find_chromium` but raise with the places searched when there is none."""
    path = find_chromium()
    if path is None:
        raise BrowserNotFound(
            f"no Chromium found; set {CHROMIUM_ENV} or install one of: "
            + ", ".join(CHROMIUM_CANDIDATES)
        )
    return path


PLAIN_HTTP = "scrapy.core.downloader.handlers.http11.HTTP11DownloadHandler"


def plain_http(settings: BaseSettings) -> None:
    """Scrapy's own HTTP handler for a crawl that never opens a page in the browser: the
    Playwright handler would start two Node.js drivers (about 250 MB) for nothing."""
    handlers = dict(settings.getdict("DOWNLOAD_HANDLERS"))
    for scheme in ("http", "https"):
        if "scrapy_playwright" in str(handlers.get(scheme, "")):
            handlers[scheme] = PLAIN_HTTP
    settings.set("DOWNLOAD_HANDLERS", handlers, priority="spider")
