"""tiequan's own crawl settings, parsed and checked once from Scrapy settings.

Conflicting values raise ``SettingsConflict``; values that have no effect because a
feature is switched off are logged as warnings.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from scrapy.settings import BaseSettings, get_settings_priority
from scrapy.utils.misc import load_object

from tiequan.settings import environment

log = logging.getLogger(__name__)

CONTACT_SETTING = "TIEQUAN_CONTACT"  # also read from the environment variable of that name
# A URL or an e-mail address: printable ASCII (header-safe), no parentheses (the user
# agent's comment) and no semicolons (its separators).
_CONTACT_RE = re.compile(r"^[!-'*-:<-~]([ !-'*-:<-~]*[!-'*-:<-~])?$")
STOCK_RETRY = "scrapy.downloadermiddlewares.retry.RetryMiddleware"
BACKOFF_RETRY = "crawlers.middlewares.BackoffRetryMiddleware"


class SettingsConflict(ValueError):
    """Two crawl settings contradict each other, or one is out of range."""


@dataclass(frozen=True)
class TiequanCrawlSettings:
    retry_enabled: bool
    retry_times: int
    retry_http_codes: frozenset[int]
    retry_exceptions: tuple[type[BaseException], ...]
    backoff_base: float
    backoff_max: float
    autothrottle: bool
    sites_dirs: tuple[Path, ...]

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> TiequanCrawlSettings:
        cfg = cls(
            retry_enabled=settings.getbool("RETRY_ENABLED"),
            retry_times=settings.getint("RETRY_TIMES"),
            retry_http_codes=frozenset(int(c) for c in settings.getlist("RETRY_HTTP_CODES")),
            retry_exceptions=tuple(load_object(e) for e in settings.getlist("RETRY_EXCEPTIONS")),
            backoff_base=settings.getfloat("RETRY_BACKOFF_BASE", 1.0),
            backoff_max=settings.getfloat("RETRY_BACKOFF_MAX", 30.0),
            autothrottle=settings.getbool("AUTOTHROTTLE_ENABLED"),
            sites_dirs=sites_dirs(settings.get("TIEQUAN_SITES_DIR")),
        )
        cfg._check(settings)
        return cfg

    def backoff_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1`` (attempt counts from 0)."""
        if retry_after is not None and retry_after >= 0:
            return min(retry_after, self.backoff_max)
        return min(self.backoff_base * 2**attempt, self.backoff_max)

    def _check(self, settings: BaseSettings) -> None:
        if self.retry_times < 0:
            raise SettingsConflict(f"RETRY_TIMES = {self.retry_times}: must be >= 0")
        for name, value in (
            ("RETRY_BACKOFF_BASE", self.backoff_base),
            ("RETRY_BACKOFF_MAX", self.backoff_max),
        ):
            if value < 0:
                raise SettingsConflict(f"{name} = {value}: must be >= 0")
        if self.backoff_base > self.backoff_max:
            raise SettingsConflict(
                f"RETRY_BACKOFF_BASE = {self.backoff_base} exceeds RETRY_BACKOFF_MAX = "
                f"{self.backoff_max}: every retry would wait the cap"
            )
        middlewares = settings.getwithbase("DOWNLOADER_MIDDLEWARES")
        if middlewares.get(STOCK_RETRY) is not None and middlewares.get(BACKOFF_RETRY) is not None:
            raise SettingsConflict(
                f"DOWNLOADER_MIDDLEWARES enables both {STOCK_RETRY} and {BACKOFF_RETRY}: "
                "requests would be retried twice; set the stock one to None"
            )
        if self.autothrottle:
            start = settings.getfloat("AUTOTHROTTLE_START_DELAY")
            cap = settings.getfloat("AUTOTHROTTLE_MAX_DELAY")
            if start > cap:
                raise SettingsConflict(
                    f"AUTOTHROTTLE_START_DELAY = {start} exceeds AUTOTHROTTLE_MAX_DELAY = {cap}"
                )
        project = get_settings_priority("project")
        if not self.retry_enabled:
            for name in (
                "RETRY_TIMES",
                "RETRY_HTTP_CODES",
                "RETRY_BACKOFF_BASE",
                "RETRY_BACKOFF_MAX",
            ):
                if (settings.getpriority(name) or 0) > project:
                    log.warning(
                        "%s = %r is ignored: RETRY_ENABLED is off", name, settings.get(name)
                    )
        if not self.autothrottle:
            for name in (
                "AUTOTHROTTLE_TARGET_CONCURRENCY",
                "AUTOTHROTTLE_START_DELAY",
                "AUTOTHROTTLE_MAX_DELAY",
            ):
                if (settings.getpriority(name) or 0) > project:
                    log.warning(
                        "%s = %r is ignored: AUTOTHROTTLE_ENABLED is off", name, settings.get(name)
                    )


def sites_dirs(value: object) -> tuple[Path, ...]:
    """TIEQUAN_SITES_DIR (setting, else env): a path, os.pathsep-joined paths or a list."""
    if value in (None, ""):
        return environment().sites_dirs
    if isinstance(value, (list, tuple)):
        return tuple(Path(v) for v in value)
    return tuple(Path(p) for p in str(value).split(os.pathsep) if p)


def deployment_user_agent(settings: BaseSettings) -> str:
    """USER_AGENT with the deployment's contact (TIEQUAN_CONTACT) in its comment.

    The contact is per deployment, not per site profile: it names the bureau that runs
    the crawler, whatever site it visits. Raises SettingsConflict on a value that cannot
    go into an HTTP header.
    """
    agent = str(settings.get("USER_AGENT") or "")
    contact = settings.get(CONTACT_SETTING) or environment().contact or ""
    contact = str(contact).strip()
    if not contact:
        return agent
    if not _CONTACT_RE.match(contact):
        raise SettingsConflict(
            f"{CONTACT_SETTING} = {contact!r}: must be a URL or e-mail address in printable "
            "ASCII, without parentheses or semicolons"
        )
    if contact in agent:
        return agent
    if agent.endswith(")"):
        return f"{agent[:-1]}; +{contact})"
    return f"{agent} (+{contact})".strip()
