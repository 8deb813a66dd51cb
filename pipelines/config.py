"""Pipeline settings, parsed once from Scrapy settings."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scrapy.settings import BaseSettings

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
    """Warn about each of ``names`` that is set although ``because`` makes it moot."""
    for name in names:
        if settings.get(name) is not None:
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


def _seconds(settings: BaseSettings, name: str, default: float) -> float:
    try:
        value = settings.getfloat(name, default)
    except ValueError:
        value = float("nan")
    if not 0.0 < value <= _MAX_DB_SECONDS:  # also refuses NaN
        raise ValueError(
            f"{name} must be above 0 and at most {_MAX_DB_SECONDS:g} seconds, "
            f"got {settings.get(name)!r}"
        )
    return value


def db_timeout_ms(settings: BaseSettings) -> int:
    """TIEQUAN_DB_TIMEOUT in milliseconds: what the sweep waits for its database."""
    return max(1, round(_seconds(settings, "TIEQUAN_DB_TIMEOUT", 2.0) * 1000))


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
        batch_size = settings.getint("TIEQUAN_BATCH_SIZE", 200)
        if not 1 <= batch_size <= _MAX_BATCH:
            raise ValueError(
                f"TIEQUAN_BATCH_SIZE must be between 1 and {_MAX_BATCH}, got {batch_size}"
            )
        flush_seconds = settings.getfloat("TIEQUAN_FLUSH_SECONDS", 5.0)
        if not 0.0 <= flush_seconds <= _MAX_FLUSH_SECONDS:
            raise ValueError(
                f"TIEQUAN_FLUSH_SECONDS must be between 0 and {_MAX_FLUSH_SECONDS:g}, "
                f"got {flush_seconds}"
            )
        raw_chars = settings.get("TIEQUAN_MAX_FIELD_CHARS")
        try:
            max_field_chars = settings.getint("TIEQUAN_MAX_FIELD_CHARS", _MAX_FIELD_CHARS)
        except ValueError:
            max_field_chars = -1
        if not _MIN_FIELD_CHARS <= max_field_chars <= _MAX_FIELD_CHARS:
            raise ValueError(
                f"TIEQUAN_MAX_FIELD_CHARS must be a whole number between {_MIN_FIELD_CHARS} "
                f"and {_MAX_FIELD_CHARS}, got {raw_chars!r}"
            )
        db_timeout = _seconds(settings, "TIEQUAN_DB_TIMEOUT", 2.0)
        db_probe = _seconds(settings, "TIEQUAN_DB_PROBE_SECONDS", 5.0)
        min_score = settings.getfloat("TIEQUAN_MIN_SCORE", 0.5)
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"TIEQUAN_MIN_SCORE must be between 0 and 1, got {min_score}")
        uri = settings.get("TIEQUAN_MONGO_URI") or None
        home = settings.get("TIEQUAN_HOME") or None
        if uri and home:
            # The home directory only locates the embedded server's data.
            logger.warning("TIEQUAN_HOME=%s is ignored because TIEQUAN_MONGO_URI is set", home)
            home = None
        config_dir = settings.get("TIEQUAN_CONFIG_DIR") or None
        price_history = _price_history_enabled(settings)
        days = settings.getfloat("TIEQUAN_PRICE_HISTORY_DAYS", 30.0)
        if not 0.0 < days <= _MAX_HISTORY_DAYS:
            raise ValueError(
                f"TIEQUAN_PRICE_HISTORY_DAYS must be above 0 and at most {_MAX_HISTORY_DAYS:g}, "
                f"got {days}"
            )
        max_listings = settings.getint("TIEQUAN_PRICE_HISTORY_MAX_LISTINGS", 200_000)
        if not 1 <= max_listings <= _MAX_HISTORY_LISTINGS:
            raise ValueError(
                f"TIEQUAN_PRICE_HISTORY_MAX_LISTINGS must be between 1 and "
                f"{_MAX_HISTORY_LISTINGS}, got {max_listings}"
            )
        if not price_history:
            warn_ignored(settings, _HISTORY_OPTIONS, "the price history is off")
        return cls(
            mongo_uri=uri,
            home=Path(home) if home else None,
            run_id=settings.get("TIEQUAN_RUN_ID") or "adhoc",
            batch_size=batch_size,
            config_dir=Path(config_dir) if config_dir else None,
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
)
_SCREENSHOT_WAITS = ("load", "domcontentloaded", "networkidle")


def evidence_root(settings: BaseSettings) -> Path:
    """TIEQUAN_EVIDENCE_DIR, else the data directory's ``evidence`` (whichever database)."""
    raw_root = settings.get("TIEQUAN_EVIDENCE_DIR") or None
    if raw_root:
        return Path(raw_root)
    home = settings.get("TIEQUAN_HOME") or None
    return resolve_home(Path(home) if home else None) / "evidence"


@dataclass(frozen=True)
class EvidenceConfig:
    """Settings of the evidence stage (pipelines.evidence)."""

    root: Path  # the content-addressed artefact directory
    screenshots: bool
    screenshot_concurrency: int
    screenshot_wait: str  # Playwright's wait_until before the screenshot

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
        concurrency = settings.getint("TIEQUAN_EVIDENCE_SCREENSHOT_CONCURRENCY", 2)
        if not 1 <= concurrency <= _MAX_SCREENSHOT_CONCURRENCY:
            raise ValueError(
                "TIEQUAN_EVIDENCE_SCREENSHOT_CONCURRENCY must be between 1 and "
                f"{_MAX_SCREENSHOT_CONCURRENCY}, got {concurrency}"
            )
        wait = str(settings.get("TIEQUAN_EVIDENCE_SCREENSHOT_WAIT") or "load")
        if wait not in _SCREENSHOT_WAITS:
            raise ValueError(
                f"TIEQUAN_EVIDENCE_SCREENSHOT_WAIT must be one of {', '.join(_SCREENSHOT_WAITS)}, "
                f"got {wait!r}"
            )
        if not screenshots:
            warn_ignored(settings, _SCREENSHOT_OPTIONS, "screenshots are off")
        return cls(
            root=root,
            screenshots=screenshots,
            screenshot_concurrency=concurrency,
            screenshot_wait=wait,
        )
