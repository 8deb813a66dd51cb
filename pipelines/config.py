"""Pipeline settings, parsed once from Scrapy settings."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scrapy.settings import BaseSettings

from tiequan.settings import SettingError, default, environment, float_setting, int_setting
from tiequan.storage.connect import resolve_home

logger = logging.getLogger(__name__)

_MAX_BATCH = 10_000
_MAX_FLUSH_SECONDS = 3600.0
_MAX_DB_SECONDS = 600.0
_MAX_HISTORY_DAYS = 366.0
_MAX_HISTORY_LISTINGS = 10_000_000
# A field at the bound is at most 4 MB of UTF-8, far below MongoDB's 16 MB per document.
_MIN_FIELD_CHARS = 1_000
_MAX_FIELD_CHARS = 1_000_000
# The price history is read from the captures the store stage writes.
STORE_PIPELINE = "pipelines.store.StorePipeline"
_HISTORY_OPTIONS = ("TIEQUAN_PRICE_HISTORY_DAYS", "TIEQUAN_PRICE_HISTORY_MAX_LISTINGS")


def _path_of(component: object) -> str:
    if isinstance(component, str):
        return component
    return f"{getattr(component, '__module__', '')}.{getattr(component, '__qualname__', '')}"


def warn_ignored(settings: BaseSettings, names: Sequence[str], because: str) -> None:
    """Warn about each of ``names`` that is set although ``because`` makes it moot.

    A value equal to the declared default (which crawlers/settings.py sets) is not "set".
    """
    for name in names:
        value = settings.get(name)
        if value is not None and value != default(name):
            logger.warning("%s is ignored because %s", name, because)


def _price_history_enabled(settings: BaseSettings) -> bool:
    """TIEQUAN_PRICE_HISTORY: "auto" (default: on when the store stage runs), or a bool."""
    raw = settings.get("TIEQUAN_PRICE_HISTORY")
    if raw is None or (isinstance(raw, str) and raw.strip().lower() == "auto"):
        pipelines = settings.getwithbase("ITEM_PIPELINES")
        return any(_path_of(k) == STORE_PIPELINE and v is not None for k, v in pipelines.items())
    try:
        return settings.getbool("TIEQUAN_PRICE_HISTORY")
    except ValueError as exc:
        raise ValueError(f"TIEQUAN_PRICE_HISTORY must be auto, true or false, got {raw!r}") from exc


def _seconds(settings: BaseSettings, name: str) -> float:
    return float_setting(settings, name, 0.001, _MAX_DB_SECONDS)


def db_timeout_ms(settings: BaseSettings) -> int:
    """TIEQUAN_DB_TIMEOUT in milliseconds: what the sweep waits for its database."""
    return max(1, round(_seconds(settings, "TIEQUAN_DB_TIMEOUT") * 1000))


@dataclass(frozen=True)
class PipelineConfig:
    mongo_uri: str | None
    home: Path | None
    run_id: str
    batch_size: int
    config_dir: Path | None
    min_score: float
    # Price-fraud checks against the listing's earlier captures (tiequan.storage.prices).
    price_history: bool = False
    price_history_days: float = 30.0
    price_history_max_listings: int = 200_000
    # Seconds between timed flushes of the batch buffers (0: only when a batch is full).
    flush_seconds: float = 5.0
    # Characters a text field of a listing may hold; longer ones are cut by the validate
    # stage and their full text kept as an evidence artefact.
    max_field_chars: int = _MAX_FIELD_CHARS
    # How long a write waits for the database before it counts as an outage, and how
    # often the circuit breaker (tiequan.storage.breaker) probes it during one.
    db_timeout_seconds: float = 2.0
    db_probe_seconds: float = 5.0

    @property
    def db_timeout_ms(self) -> int:
        return max(1, round(self.db_timeout_seconds * 1000))

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> PipelineConfig:
        batch_size = int_setting(settings, "TIEQUAN_BATCH_SIZE", 1, _MAX_BATCH)
        flush_seconds = float_setting(settings, "TIEQUAN_FLUSH_SECONDS", 0.0, _MAX_FLUSH_SECONDS)
        max_field_chars = int_setting(
            settings, "TIEQUAN_MAX_FIELD_CHARS", _MIN_FIELD_CHARS, _MAX_FIELD_CHARS
        )
        db_timeout = _seconds(settings, "TIEQUAN_DB_TIMEOUT")
        db_probe = _seconds(settings, "TIEQUAN_DB_PROBE_SECONDS")
        min_score = float_setting(settings, "TIEQUAN_MIN_SCORE", 0.0, 1.0)
        uri = settings.get("TIEQUAN_MONGO_URI") or None
        home = settings.get("TIEQUAN_HOME") or None
        if uri and home:
            # The home directory only locates the embedded server's data.
            logger.warning("TIEQUAN_HOME=%s is ignored because TIEQUAN_MONGO_URI is set", home)
            home = None
        config_dir = settings.get("TIEQUAN_CONFIG_DIR") or None
        price_history = _price_history_enabled(settings)
        days = float_setting(settings, "TIEQUAN_PRICE_HISTORY_DAYS", 1e-3, _MAX_HISTORY_DAYS)
        max_listings = int_setting(
            settings, "TIEQUAN_PRICE_HISTORY_MAX_LISTINGS", 1, _MAX_HISTORY_LISTINGS
        )
        if not price_history:
            warn_ignored(settings, _HISTORY_OPTIONS, "the price history is off")
        return cls(
            mongo_uri=uri,
            home=Path(home) if home else None,
            run_id=settings.get("TIEQUAN_RUN_ID") or default("TIEQUAN_RUN_ID"),
            batch_size=batch_size,
            config_dir=Path(config_dir) if config_dir else environment().config_dir,
            min_score=min_score,
            price_history=price_history,
            price_history_days=days,
            price_history_max_listings=max_listings,
            flush_seconds=flush_seconds,
            max_field_chars=max_field_chars,
            db_timeout_seconds=db_timeout,
            db_probe_seconds=db_probe,
        )


_MAX_SCREENSHOT_CONCURRENCY = 16
_SCREENSHOT_OPTIONS = (
    "TIEQUAN_EVIDENCE_SCREENSHOT_CONCURRENCY",
    "TIEQUAN_EVIDENCE_SCREENSHOT_WAIT",
    "TIEQUAN_EVIDENCE_LIVE_SCREENSHOT",
)
_SCREENSHOT_WAITS = ("load", "domcontentloaded", "networkidle")


def evidence_root(settings: BaseSettings) -> Path:
    """TIEQUAN_EVIDENCE_DIR, else the data directory's ``evidence`` (whichever database)."""
    raw_root = settings.get("TIEQUAN_EVIDENCE_DIR") or None
    if raw_root:
        return Path(raw_root)
    home = settings.get("TIEQUAN_HOME") or None
    return resolve_home(Path(home)) / "evidence" if home else environment().evidence_dir


@dataclass(frozen=True)
class EvidenceConfig:
    """Settings of the evidence stage (pipelines.evidence)."""

    root: Path  # the content-addressed artefact directory
    screenshots: bool
    screenshot_concurrency: int
    screenshot_wait: str  # Playwright's wait_until before a live screenshot
    # A second screenshot of the page fetched again, beside the one of the capture.
    live_screenshot: bool = False

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> EvidenceConfig:
        root = evidence_root(settings)
        try:
            screenshots = settings.getbool("TIEQUAN_EVIDENCE_SCREENSHOTS", True)
        except ValueError as exc:
            raise ValueError(
                "TIEQUAN_EVIDENCE_SCREENSHOTS must be true or false, "
                f"got {settings.get('TIEQUAN_EVIDENCE_SCREENSHOTS')!r}"
            ) from exc
        concurrency = int_setting(
            settings, "TIEQUAN_EVIDENCE_SCREENSHOT_CONCURRENCY", 1, _MAX_SCREENSHOT_CONCURRENCY
        )
        wait = str(
            settings.get("TIEQUAN_EVIDENCE_SCREENSHOT_WAIT")
            or default("TIEQUAN_EVIDENCE_SCREENSHOT_WAIT")
        )
        if wait not in _SCREENSHOT_WAITS:
            raise ValueError(
                f"TIEQUAN_EVIDENCE_SCREENSHOT_WAIT must be one of {', '.join(_SCREENSHOT_WAITS)}, "
                f"got {wait!r}"
            )
        try:
            live = settings.getbool(
                "TIEQUAN_EVIDENCE_LIVE_SCREENSHOT", default("TIEQUAN_EVIDENCE_LIVE_SCREENSHOT")
            )
        except ValueError as exc:
            raise SettingError(
                "TIEQUAN_EVIDENCE_LIVE_SCREENSHOT must be true or false, "
                f"got {settings.get('TIEQUAN_EVIDENCE_LIVE_SCREENSHOT')!r}"
            ) from exc
        if not screenshots:
            warn_ignored(settings, _SCREENSHOT_OPTIONS, "screenshots are off")
        return cls(
            root=root,
            screenshots=screenshots,
            screenshot_concurrency=concurrency,
            screenshot_wait=wait,
            live_screenshot=screenshots and live,
        )
