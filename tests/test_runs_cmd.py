"""`tiequan runs`: one line a run with its alert count; `--show RUN_ID` gives the run in full."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo.database import Database

from tiequan.cli.main import main
from tiequan.storage.store import Store
from tiequan.sweep.history import RunRecord, find_runs, render_runs
from tiequan.sweep.report import build_report
from tiequan.text import display_width

RUN = "R20261201T020000-ab12"
KILLED = "R20261130T020000-cd34"
COVERAGE = "字段覆盖率低于下限，页面布局可能已变化：价格 0%（下限 90%）"
RATE_429 = "429（请求过于频繁）响应 9 次 / 请求 60 次 = 15.0%（上限 5.0%）"


def health(check: str, label: str, status: str, message: str) -> dict[str, Any]:
    return {"check": check, "label": label, "status": status, "message": message,
            "passed": status in ("passed", "skipped")}  # fmt: skip


def swept(db: Database[dict[str, Any]]) -> None:
    """A resumed scheduled sweep with two failed health checks and a spooled outage."""
    stats = {
        "response_received_count": 60,
        "item_scraped_count": 40,
        "log_count/ERROR": 2,
        "downloader/response_status_count/429": 9,
        "downloader/exception_type_count/twisted.internet.error.TimeoutError": 3,
        "finish_reason": "finished",
        "db/spooled": 12,
        "db/outage_seconds": 8.5,
        "tiequan/health": [
            health("item_count", "条目数量", "passed", "条目 40"),
            health("field_coverage", "字段覆盖率", "failed", COVERAGE),
            health("http_429", "限流（429）", "failed", RATE_429),
        ],
    }
    report = build_report(
        None,
        run_id=RUN,
        started_at=datetime(2026, 11, 30, 18, 0, tzinfo=UTC),
        elapsed_s=754.0,
        crawler_stats={"alpha": stats},
        resumed=True,
    )
    report["resumed_from"] = KILLED
    report["spooled"] = {"records": 12, "run_record": False,
                         "replayed_at": datetime(2026, 12, 1, 1, 0, tzinfo=UTC)}  # fmt: skip
    replay = {"files": 2, "records": 7, "runs": [KILLED], "left": 0}
    report["scheduled"] = {"trigger": "schedule", "holder": "host:42:abc", "exit_code": 0,
                           "killed": False, "limit_s": 14400, "log": "/var/runs/x.log",
                           "replay": replay}  # fmt: skip
    Store(db).save_run(report)


@pytest.fixture
def cli(
    db: Database[dict[str, Any]], mongo_uri: str, monkeypatch: pytest.MonkeyPatch
) -> Database[dict[str, Any]]:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    return db


def test_the_table_has_one_line_a_run_with_its_alert_count(
    cli: Database[dict[str, Any]],
) -> None:
    swept(cli)
    [run] = find_runs(cli)
    assert run.resumed_from == KILLED
    assert [(a.site, a.check) for a in run.alerts] == [("alpha", "field_coverage"),
                                                      ("alpha", "http_429")]  # fmt: skip
    header, rule, row, total = render_runs([run]).splitlines()
    assert set(rule) <= {"-", " "} and total == "共 1 次运行，其中未完成 0 次"
    assert [cell(header, row, name) for name in ("批次", "告警", "续跑", "暂存", "启动前补写")] == [
        RUN, "2", "是", "12（已补写）", "7",
    ]  # fmt: skip
    assert "http:429" not in row  # errors by kind: in --show


def cell(header: str, row: str, name: str) -> str:
    """The cell of ``row`` under the column ``name`` (columns padded by display width)."""
    start, width, i = display_width(header[: header.index(name)]), 0, 0
    while width < start:
        width += display_width(row[i])
        i += 1
    return row[i:].split("  ")[0].strip()


def test_show_gives_the_run_in_full(
    cli: Database[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    swept(cli)
    assert main(["runs", "--show", RUN]) == 0
    out = capsys.readouterr().out
    assert f"运行批次 {RUN}（定时）" in out
    assert f"续跑：是，接续被中断的运行 {KILLED}" in out
    assert "状态：完成  结束原因：正常结束" in out and "各站点结束原因：alpha finished" in out
    assert "  download:TimeoutError × 3" in out and "  http:429 × 9" in out
    assert "  log_error × 2" in out
    assert "健康告警 2 项：" in out
    assert (
        f"  alpha · 字段覆盖率：{COVERAGE}" in out and f"  alpha · 限流（429）：{RATE_429}" in out
    )
    assert "条目数量" not in out  # a check that passed is no alert
    assert "暂存：数据库中断约 8.5 秒，暂存 12 条，已于 2026-12-01 09:00 补写" in out
    assert "调度：进程 host:42:abc，退出码 0，时限 14400 秒" in out
    assert f"启动前补写：7 条（来自 {KILLED}）" in out

    assert main(["runs", "--show", RUN, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run_id"] == RUN and shown["resumed_from"] == KILLED
    assert [a["message"] for a in shown["alerts"]] == [COVERAGE, RATE_429]


def test_show_of_an_unknown_run_is_one_line_naming_it(
    cli: Database[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "--show", "R-nope"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "没有运行记录 R-nope" in captured.err


def test_a_record_from_before_health_alerts_gets_them_from_its_sites() -> None:
    failed = health("finish_reason", "结束原因", "failed", "结束原因 closespider_timeout")
    doc = {
        "_id": "R1",
        "status": "failed",
        "end_reason": "closespider_timeout",
        "sites": {"alpha": {"health": [failed], "finish_reason": "closespider_timeout"}},
    }
    record = RunRecord.from_doc(doc)
    assert [(a.site, a.label, a.message) for a in record.alerts] == [
        ("alpha", "结束原因", "结束原因 closespider_timeout")
    ]
    assert record.resumed_from is None and record.launch is None
    assert record.finish_reasons == {"alpha": "closespider_timeout"}
