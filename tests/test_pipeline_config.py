from __future__ import annotations

import logging
from pathlib import Path

import pytest
from scrapy.settings import Settings

from pipelines.config import PipelineConfig


def test_defaults() -> None:
    config = PipelineConfig.from_settings(Settings())
    assert config.mongo_uri is None
    assert config.home is None
    assert config.run_id == "adhoc"
    assert config.batch_size == 200
    assert config.min_score == 0.5


def test_values_are_parsed() -> None:
    settings = Settings(
        {
            "TIEQUAN_MONGO_URI": "mongodb://127.0.0.1:1/",
            "TIEQUAN_RUN_ID": "r1",
            "TIEQUAN_BATCH_SIZE": "50",
            "TIEQUAN_CONFIG_DIR": "/tmp/cfg",
            "TIEQUAN_MIN_SCORE": "0.7",
        }
    )
    config = PipelineConfig.from_settings(settings)
    assert config.mongo_uri == "mongodb://127.0.0.1:1/"
    assert config.run_id == "r1"
    assert config.batch_size == 50
    assert config.config_dir == Path("/tmp/cfg")
    assert config.min_score == 0.7


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TIEQUAN_BATCH_SIZE", 0, "TIEQUAN_BATCH_SIZE"),
        ("TIEQUAN_BATCH_SIZE", 10_001, "TIEQUAN_BATCH_SIZE"),
        ("TIEQUAN_MIN_SCORE", 1.5, "TIEQUAN_MIN_SCORE"),
    ],
)
def test_bad_values_raise_naming_the_setting(name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PipelineConfig.from_settings(Settings({name: value}))


def test_home_with_uri_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings({"TIEQUAN_MONGO_URI": "mongodb://127.0.0.1:1/", "TIEQUAN_HOME": "/tmp/h"})
    with caplog.at_level(logging.WARNING, logger="pipelines.config"):
        config = PipelineConfig.from_settings(settings)
    assert config.home is None
    assert "TIEQUAN_HOME" in caplog.text
