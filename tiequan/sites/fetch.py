"""A small, polite fetcher for `tiequan sites check` and `sites draft`: a few pages, one at a
time, robots.txt obeyed, the deployment's user agent; Chromium for browser profiles.

Not Scrapy: these commands fetch a handful of pages in order and need each answer at once,
and a Twisted reactor cannot restart inside one process.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright
from protego import Protego
from scrapy.settings import Settings

from crawlers.browser import CHROMIUM_ARGS, require_chromium
from crawlers.crawl_settings import deployment_user_agent

DEFAULT_TIMEOUT_S = 30.0
MAX_BYTES = 20_000_000
BROWSER_SCROLLS = 3  # enough for a check: the full sweep scrolls as the profile says


class FetchError(RuntimeError):
    """A page could not be fetched (network error, robots.txt, not allowed)."""


@dataclass(frozen=True)
class Page:
    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int
    body: bytes
    content_type: str = ""
    rendered: bool = False

    @property
    def text(self) -> str:
        charset = "utf-8"
        if "charset=" in self.content_type:
            charset = self.content_type.split("charset=")[-1].split(";")[0].strip() or charset
        return self.body.decode(charset, errors="replace")


def project_user_agent() -> str:
    """USER_AGENT of the project settings with the deployment's contact, as spiders send it."""
    settings = Settings()
    settings.setmodule("crawlers.settings", priority="project")
    return deployment_user_agent(settings)


class Fetcher:
    """Fetches pages one by one, ``delay`` seconds apart, obeying robots.txt."""

    def __init__(
        self,
        user_agent: str | None = None,
        *,
        delay: float = 0.5,
        obey_robots: bool = True,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.user_agent = user_agent or project_user_agent()
        self.delay = delay
        self.obey_robots = obey_robots
        self.timeout = timeout
        self.requests = 0
        self._robots: dict[str, Protego | None] = {}
        self._last = 0.0
        self._browser: Any = None
        self._playwright: Any = None

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None

    def _wait(self) -> None:
        pause = self._last + self.delay - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self._last = time.monotonic()

    def _raw_get(self, url: str) -> Page:
        if urlsplit(url).scheme not in ("http", "https"):
            raise FetchError(f"{url}: only http and https pages are fetched")
        self._wait()
        self.requests += 1
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # nosec B310
                body = answer.read(MAX_BYTES)
                kind = answer.headers.get("Content-Type", "")
                return Page(url, answer.geturl(), answer.status, body, kind)
        except urllib.error.HTTPError as exc:
            body = exc.read(MAX_BYTES) if exc.fp is not None else b""
            kind = exc.headers.get("Content-Type", "") if exc.headers else ""
            return Page(url, exc.geturl() or url, exc.code, body, kind)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise FetchError(f"{url}: {reason}") from exc

    def allowed(self, url: str) -> bool:
        if not self.obey_robots:
            return True
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._robots:
            try:
                page = self._raw_get(origin + "/robots.txt")
            except FetchError:
                page = None
            ok = page is not None and page.status == 200
            self._robots[origin] = Protego.parse(page.text) if ok and page else None
        rules = self._robots[origin]
        return rules is None or bool(rules.can_fetch(url, self.user_agent))

    def get(self, url: str) -> Page:
        """The page at ``url`` (any status); FetchError when it cannot be fetched."""
        if not self.allowed(url):
            raise FetchError(f"{url}: disallowed by robots.txt")
        return self._raw_get(url)

    def render(self, url: str, wait_for: str | None = None, scrolls: int = 0) -> Page:
        """The page's HTML after its scripts ran in Chromium (and a few scrolls)."""
        if not self.allowed(url):
            raise FetchError(f"{url}: disallowed by robots.txt")
        browser = self._chromium()
        self._wait()
        self.requests += 1
        page = browser.new_page(user_agent=self.user_agent)
        try:
            answer = page.goto(url, wait_until="domcontentloaded", timeout=self.timeout * 1000)
            if wait_for:
                try:
                    page.wait_for_selector(wait_for, timeout=self.timeout * 1000)
                except PlaywrightTimeout:  # check what is there: the table will show it
                    pass
            try:  # requests the page starts once its content is there (a shop's licence)
                page.wait_for_load_state("networkidle", timeout=5000)
            except PlaywrightTimeout:
                pass
            for _ in range(min(scrolls, BROWSER_SCROLLS)):
                page.mouse.wheel(0, 4000)
                page.wait_for_timeout(300)
                try:
                    page.wait_for_load_state("networkidle", timeout=5000)
                except PlaywrightTimeout:
                    pass
            html = page.content()
            status = answer.status if answer is not None else 200
            body = html.encode("utf-8")
            return Page(url, page.url, status, body, "text/html; charset=utf-8", rendered=True)
        except PlaywrightError as exc:
            raise FetchError(f"{url}: browser: {str(exc).splitlines()[0]}") from exc
        finally:
            page.close()

    def _chromium(self) -> Any:
        if self._browser is None:
            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=str(require_chromium()), headless=True, args=list(CHROMIUM_ARGS)
            )
        return self._browser
