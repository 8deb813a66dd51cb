"""One declaration of every TIEQUAN_* setting (tiequan.settings), parsed with clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from scrapy.settings import Settings

import crawlers.settings as crawl_module
from pipelines.config import EvidenceConfig, PipelineConfig, evidence_root
from pipelines.images import OcrConfig
from tiequan.evidence.artefacts import default_root
from tiequan.settings import (
    CRAWL_DEFAULTS,
    PROCESS,
    REPO_CONFIG_DIR,
    SETTINGS,
    Environment,
    SettingError,
    environment,
)

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"\bTIEQUAN_[A-Z][A-Z_]*[A-Z]\b")
ENV_READ = re.compile(r"\bos\.environ\b|\bgetenv\(")
# Modules that still read a process setting themselves, and why.
READS_ENV = {
    "tiequan/settings.py": "the one place",
    "detectors/config.py": "detectors imports no tiequan: its fallback for library use",
    "detectors/model_store.py": "detectors imports no tiequan: its fallback for library use",
}


def code_files() -> list[Path]:
    return [p for d in ("tiequan", "crawlers", "pipelines", "detectors")
            for p in sorted((ROOT / d).rglob("*.py"))]  # fmt: skip


def test_every_setting_the_code_names_is_declared() -> None:
    used = {m for p in code_files() for m in NAME.findall(p.read_text(encoding="utf-8"))}
    assert used and sorted(used - set(SETTINGS)) == []


def test_only_the_settings_module_reads_process_settings_from_the_environment() -> None:
    readers = {
        str(p.relative_to(ROOT))
        for p in code_files()
        if ENV_READ.search(p.read_text(encoding="utf-8"))
    }
    assert "tiequan/settings.py" in readers
    assert readers <= set(READS_ENV), sorted(readers - set(READS_ENV))


def test_the_scrapy_project_takes_its_defaults_from_the_declarations() -> None:
    for name, value in CRAWL_DEFAULTS.items():
        assert getattr(crawl_module, name) == value, name


def test_components_default_to_the_declared_values() -> None:
    empty = Settings()
    pipeline, ocr = PipelineConfig.from_settings(empty), OcrConfig.from_settings(empty)
    assert pipeline.batch_size == SETTINGS["TIEQUAN_BATCH_SIZE"].default
    assert pipeline.flush_seconds == SETTINGS["TIEQUAN_FLUSH_SECONDS"].default
    assert pipeline.max_field_chars == SETTINGS["TIEQUAN_MAX_FIELD_CHARS"].default
    assert pipeline.db_timeout_seconds == SETTINGS["TIEQUAN_DB_TIMEOUT"].default
    assert pipeline.min_score == SETTINGS["TIEQUAN_MIN_SCORE"].default
    assert ocr.threads == SETTINGS["TIEQUAN_OCR_THREADS"].default
    assert ocr.max_bytes == SETTINGS["TIEQUAN_OCR_MAX_BYTES"].default
    evidence = EvidenceConfig.from_settings(empty)
    assert evidence.screenshot_wait == SETTINGS["TIEQUAN_EVIDENCE_SCREENSHOT_WAIT"].default


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TIEQUAN_BATCH_SIZE", "abc", "TIEQUAN_BATCH_SIZE must be a whole number between 1 and"),
        ("TIEQUAN_BATCH_SIZE", "0", "got '0'"),
        ("TIEQUAN_MIN_SCORE", "nan", "TIEQUAN_MIN_SCORE must be a number between 0 and 1"),
        ("TIEQUAN_FLUSH_SECONDS", "-1", "TIEQUAN_FLUSH_SECONDS must be a number"),
        ("TIEQUAN_DB_TIMEOUT", "soon", "TIEQUAN_DB_TIMEOUT must be a number"),
        ("TIEQUAN_OCR_THREADS", "2.5", "TIEQUAN_OCR_THREADS must be a whole number"),
    ],
)
def test_a_bad_value_names_the_setting_and_the_value(name: str, value: str, message: str) -> None:
    settings = Settings({name: value})
    with pytest.raises(SettingError, match=re.escape(message)):
        OcrConfig.from_settings(settings) if "OCR" in name else PipelineConfig.from_settings(
            settings
        )


def test_environment_resolves_paths_once_and_checks_them(tmp_path: Path) -> None:
    env = Environment.from_env({"TIEQUAN_HOME": str(tmp_path)})
    assert env.config_dir == REPO_CONFIG_DIR and env.mongo_uri is None
    assert env.model_dir == tmp_path / "models" and env.evidence_dir == tmp_path / "evidence"
    with pytest.raises(SettingError, match="TIEQUAN_CONFIG_DIR is not a directory: '/no/such'"):
        Environment.from_env({"TIEQUAN_CONFIG_DIR": "/no/such"})
    with pytest.raises(SettingError, match="TIEQUAN_DB"):
        Environment.from_env({"TIEQUAN_DB": "a/b"})
    assert {s.name for s in PROCESS} >= {"TIEQUAN_HOME", "TIEQUAN_MONGO_URI", "TIEQUAN_CONFIG_DIR"}


def test_the_evidence_directory_is_the_same_for_the_sweep_and_the_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TIEQUAN_EVIDENCE_DIR", str(tmp_path / "elsewhere"))
    assert environment().evidence_dir == tmp_path / "elsewhere"
    assert default_root() == evidence_root(Settings()) == tmp_path / "elsewhere"
    monkeypatch.delenv("TIEQUAN_EVIDENCE_DIR")
    assert default_root() == evidence_root(Settings()) == tmp_path / "home" / "evidence"


def test_the_embedded_servers_cache_is_a_size() -> None:
    assert Environment.from_env({}).db_cache == "16M"
    assert Environment.from_env({"TIEQUAN_DB_CACHE": "1g"}).db_cache == "1G"
    with pytest.raises(SettingError, match=r"TIEQUAN_DB_CACHE must be a size .* got 'LOTS'"):
        Environment.from_env({"TIEQUAN_DB_CACHE": "lots"})


def test_the_evidence_store_is_a_directory_or_gridfs() -> None:
    assert Environment.from_env({}).evidence_store == "dir"
    assert Environment.from_env({"TIEQUAN_EVIDENCE_STORE": "GridFS"}).evidence_store == "gridfs"
    with pytest.raises(SettingError, match=r"TIEQUAN_EVIDENCE_STORE must be one of dir, gridfs"):
        Environment.from_env({"TIEQUAN_EVIDENCE_STORE": "s3"})
