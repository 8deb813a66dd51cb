"""Finding the system Chromium and the launch options Playwright uses for it.

Playwright must never download its own browser: we always pass an explicit
``executable_path``. The flags keep Chromium from calling home on a closed network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from tiequan.settings import environment

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
