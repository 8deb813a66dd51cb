"""Pipeline settings, parsed once from Scrapy settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

_MAX_BATCH = 10_000


@dataclass(frozen=True)
class PipelineConfig:
    mongo_uri: str | None
    home: Path | None
    run_id: str
    batch_size: int
    config_dir: Path | None
    min_score: float

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> PipelineConfig:
        batch_size = settings.getint("TIEQUAN_BATCH_SIZE", 200)
        if not 1 <= batch_size <= _MAX_BATCH:
            raise ValueError(
                f"TIEQUAN_BATCH_SIZE must be between 1 and {_MAX_BATCH}, got {batch_size}"
            )
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
        return cls(
            mongo_uri=uri,
            home=Path(home) if home else None,
            run_id=settings.get("TIEQUAN_RUN_ID") or "adhoc",
            batch_size=batch_size,
            config_dir=Path(config_dir) if config_dir else None,
            min_score=min_score,
        )
