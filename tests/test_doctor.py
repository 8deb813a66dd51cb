"""`tiequan doctor`: one line per check naming what is wrong and its fix; exit 0, 1 or 2."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from tests.conftest import TrainedModel
from tests.test_case_model import schema1_lead
from tiequan.cli.main import main
from tiequan.doctor import ERROR, OK, check_writable, time_checks
from tiequan.settings import SchedulerSettings


@pytest.fixture
def home(
    db: Database[dict[str, Any]], mongo_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A data directory, the test database and an empty model cache of its own."""
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TIEQUAN_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("TIEQUAN_CHROMIUM", raising=False)
    monkeypatch.delenv("TIEQUAN_EVIDENCE_DIR", raising=False)
    return tmp_path / "home"


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["doctor", *args])
    return code, capsys.readouterr().out.splitlines()


def test_the_happy_path_on_this_machine(
    home: Path,
    capsys: pytest.CaptureFixture[str],
    db: Database[dict[str, Any]],
    trained_model: TrainedModel,
) -> None:
    code, lines = doctor(capsys)
    [model] = [line for line in lines if "检测模型" in line]
    assert code == 2 and model.startswith("[错误] 检测模型：没有在用的检测模型"), lines
    assert "tiequan train" in model and "tiequan models promote" in model

    record = trained_model.promote_in(db)
    code, lines = doctor(capsys)
    assert code == 0, lines
    assert any(f"在用模型 {record.version}" in line for line in lines)
    assert all(line.startswith("[正常]") for line in lines[:-1])
    browser = next(line for line in lines if "浏览器" in line)
    assert "无界面模式可以启动" in browser and "版本" in browser
    names = {line.split("：", 1)[0].removeprefix("[正常] ") for line in lines[:-1]}
    assert {"浏览器", "中文字体", "数据库", "结构迁移", "OCR 模型", "检测模型", "磁盘空间"} <= names
    assert {
        "系统时钟",
        "时区",
        "目录（数据）",
        "目录（证据）",
        "目录（暂存区）",
        "目录（模型）",
    } <= names
    assert lines[-1] == f"共 {len(lines) - 1} 项检查：正常 {len(lines) - 1}，警告 0，错误 0"


def test_a_missing_browser_is_named_with_its_fix(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    db: Database[dict[str, Any]],
    trained_model: TrainedModel,
) -> None:
    trained_model.promote_in(db)  # so that the browser is the one error
    missing = tmp_path / "no-such-chromium"
    monkeypatch.setenv("TIEQUAN_CHROMIUM", str(missing))
    code, lines = doctor(capsys, "--no-browser-launch")
    assert code == 2
    [line] = [line for line in lines if "浏览器" in line]
    assert line.startswith(f"[错误] 浏览器：TIEQUAN_CHROMIUM='{missing}' 不是可执行文件。修复：")
    assert "chromium" in line.split("修复：", 1)[1]
    assert lines[-1].endswith("错误 1")


def test_an_unwritable_directory_is_named(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("TIEQUAN_EVIDENCE_DIR", str(blocker / "evidence"))
    code, lines = doctor(capsys, "--no-browser-launch")
    assert code == 2
    [line] = [line for line in lines if "目录（证据）" in line]
    assert line.startswith(
        f"[错误] 目录（证据）：{blocker / 'evidence'} 无法创建：{blocker} 不是目录"
    )
    assert "TIEQUAN_EVIDENCE_DIR" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to a read-only directory")
def test_a_read_only_directory_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        check = check_writable("数据", tmp_path, "TIEQUAN_HOME")
    finally:
        tmp_path.chmod(0o700)
    assert check.level == ERROR and "不可写" in check.message


def test_pending_migrations_are_an_error_naming_tiequan_migrate(
    home: Path, db: Database[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    db.leads.insert_one(schema1_lead())
    code, lines = doctor(capsys, "--no-browser-launch")
    [line] = [line for line in lines if "结构迁移" in line]
    assert code == 2 and line.startswith("[错误] 结构迁移：1 项迁移待执行：0001-leads-to-cases")
    assert line.endswith("修复：tiequan migrate（可先 tiequan migrate --dry-run）")


def test_an_unknown_time_zone_and_a_clock_in_the_past_are_errors() -> None:
    settings = SchedulerSettings.from_env({"TIEQUAN_SCHEDULER_TIMEZONE": "Mars/Olympus"})
    checks = time_checks(settings, now=datetime(1970, 1, 2, tzinfo=UTC))
    assert [c.level for c in checks] == [ERROR, OK, ERROR]
    assert "1970-01-02" in checks[0].message and "Mars/Olympus" in checks[2].message
