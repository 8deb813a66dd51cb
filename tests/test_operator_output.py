"""What an operator reads: JSON log lines that parse, and plain output off a terminal."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from crawlers.extensions import ProgressExtension
from tiequan.logs import JsonFormatter
from tiequan.progress import BOARD, Steps, interactive
from tiequan.settings import SettingError, log_format

REPO = Path(__file__).resolve().parents[1]
STATS = {
    "response_received_count": 12,
    "item_scraped_count": 7,
    "detector/hits/slimming": 2,
    "detector/hits/miracle_drug": 1,
    "retry/count": 3,
}


class Stats:
    def get_stats(self) -> dict[str, Any]:
        return dict(STATS)


def test_a_json_log_line_carries_time_level_logger_message_and_extra_fields() -> None:
    logger = logging.getLogger("tiequan.test")
    record = logger.makeRecord(
        "tiequan.test", logging.WARNING, __file__, 1, "批次 %s 已暂存 %d 条", ("R1", 5), None,
        extra={"run_id": "R1", "spooled": 5},
    )  # fmt: skip
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "WARNING" and data["logger"] == "tiequan.test"
    assert data["message"] == "批次 R1 已暂存 5 条"
    assert data["run_id"] == "R1" and data["spooled"] == 5 and data["time"].endswith("+00:00")
    try:
        raise ValueError("坏值")
    except ValueError:
        failed = logger.makeRecord("t", logging.ERROR, __file__, 1, "失败", (), sys.exc_info())
    assert "ValueError: 坏值" in json.loads(JsonFormatter().format(failed))["exc"]


@pytest.mark.parametrize("how", ["flag", "env"])
def test_every_log_line_of_a_command_is_one_json_object(how: str, tmp_path: Path) -> None:
    env = {**os.environ, "TIEQUAN_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    env.pop("TIEQUAN_MONGO_URI", None)
    args = ["--log-json"] if how == "flag" else []
    if how == "env":
        env["TIEQUAN_LOG_FORMAT"] = "json"
    proc = subprocess.run(
        [sys.executable, "-m", "tiequan", *args, "-v", "migrate", "--status"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(d) for d in lines)
    assert any(d["logger"] == "tiequan.storage.connect" for d in lines)
    assert "0001-leads-to-cases  待执行" in proc.stdout


def test_a_bad_log_format_is_named() -> None:
    assert log_format({}) == "text" and log_format({"TIEQUAN_LOG_FORMAT": " JSON "}) == "json"
    with pytest.raises(SettingError, match="TIEQUAN_LOG_FORMAT must be text or json, got 'xml'"):
        log_format({"TIEQUAN_LOG_FORMAT": "xml"})


def test_sweep_progress_off_a_terminal_is_the_same_plain_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert not interactive()  # pytest's captured stderr is not a terminal
    ext = ProgressExtension(Stats(), 5.0)  # type: ignore[arg-type]
    ext.spider_name = "sandbox_mall"
    ext.report()
    ext.report(final=True)
    assert capsys.readouterr().err == (
        "[sandbox_mall] 页面 12 · 条目 7 · 命中 3 · 重试 3\n"
        "[sandbox_mall] 页面 12 · 条目 7 · 命中 3 · 重试 3（完成）\n"
    )


def test_steps_off_a_terminal_print_only_the_lines(capsys: pytest.CaptureFixture[str]) -> None:
    with Steps("迁移", 2) as steps:
        steps.line("第一行")
        steps.advance()
        steps.line("第二行")
        steps.advance()
    out = capsys.readouterr()
    assert out.out == "第一行\n第二行\n" and out.err == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_terminal_a_site_keeps_its_last_line_when_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    assert interactive()
    ext = ProgressExtension(Stats(), 5.0)  # type: ignore[arg-type]
    assert ext.live
    ext.spider_name = "sandbox_mall"
    ext.board_task = BOARD.add("开始")
    ext.report()
    ext.report(final=True)
    assert BOARD.progress is None  # the live display is gone with its last site
    assert "[sandbox_mall] 页面 12 · 条目 7 · 命中 3 · 重试 3（完成）" in screen.getvalue()
