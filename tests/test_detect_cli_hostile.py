"""`tiequan detect` on input other programs and hostile pages produce."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_detect_cli import read_output, run_cli


def test_bom_bad_bytes_nesting_and_non_finite_prices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = json.dumps({"id": "a", "text": "三天瘦十斤"}, ensure_ascii=False).encode()
    lines = [
        b"\xef\xbb\xbf" + good,  # a byte-order mark, as Windows editors write
        b'{"id": "b", "text": "\xff\xfe broken bytes"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"id": "c", "text": "100%\xe7\xbe\x8a\xe7\xbb\x92", "price": NaN}',
        b'{"id": "d", "text": "t", "original_price": Infinity, "price": 1}',
        json.dumps({"id": "e", "text": "月瘦二十斤"}, ensure_ascii=False).encode(),
    ]
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out.jsonl"
    assert run_cli("--input", str(inp), "--output", str(out), "--rules-only") == 1
    rows = read_output(out)
    assert [row["id"] for row in rows] == ["a", "e"]
    assert all(row["findings"] for row in rows)
    err = capsys.readouterr().err
    for lineno, reason in [(2, "UTF-8"), (3, "嵌套"), (4, "price"), (5, "original_price")]:
        line = next(x for x in err.splitlines() if f"第 {lineno} 行" in x)
        assert reason in line, line
    assert "第 1 行" not in err and "Traceback" not in err
    assert "错误行 4 条" in err


@pytest.mark.usefixtures("live_model_env")
def test_lone_surrogates_are_replaced_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        '{"id": "s1", "text": "\\u4e09\\u5929\\ud800\\u7626\\u5341\\u65a4", "title": "\\udfff"}',
        '{"id": "s2", "text": "\\u6708\\u7626\\u4e8c\\u5341\\u65a4"}',
    ]
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run_cli("--input", str(inp), "--output", str(out)) == 0
    rows = {row["id"]: row["findings"] for row in read_output(out)}
    assert set(rows) == {"s1", "s2"}
    assert [f["category"] for f in rows["s1"]] == ["slimming_aphrodisiac"]
    assert [f["category"] for f in rows["s2"]] == ["slimming_aphrodisiac"]
    assert "替换无效字符 2 个" in capsys.readouterr().err


def test_a_fault_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tiequan.cli import main as cli

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("模拟故障")

    monkeypatch.setattr("tiequan.cli.detect_cmd.findings_for", broken)
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": 1, "text": "三天瘦十斤"}\n', encoding="utf-8")
    code = cli.main(["detect", "--input", str(inp), "--output", "-", "--rules-only"])
    err = capsys.readouterr().err
    assert code == 3
    assert "内部错误：RuntimeError: 模拟故障" in err and "Traceback" not in err


def test_sweep_refuses_a_base_url_that_is_no_url(capsys: pytest.CaptureFixture[str]) -> None:
    from tiequan.cli import main as cli

    with pytest.raises(SystemExit) as info:
        cli.main(["sweep", "--all", "--base-url", "notaurl"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--base-url" in err and "'notaurl'" in err and "Traceback" not in err


def test_sweep_exit_code_tells_a_stopped_run_from_a_finished_one() -> None:
    from tiequan.cli.sweep_cmd import exit_code

    def report(reason: str, items: int = 5, errors: int = 0) -> dict[str, object]:
        return {
            "sites": {"a": {"finish_reason": "finished"}, "b": {"finish_reason": reason}},
            "totals": {"items": items, "errors": errors},
        }

    assert exit_code(report("finished")) == 0
    assert exit_code(report("shutdown")) == 4  # SIGTERM: saved, but not complete
    assert exit_code(report("finished", items=0, errors=3)) == 1


def test_demo_serves_the_seed_it_scores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tiequan.cli import demo_cmd

    started: list[list[str]] = []

    class FakeServer:
        returncode = None

        def poll(self) -> None:
            return None

    def popen(cmd: list[str]) -> FakeServer:
        started.append(cmd)
        url_file.write_text("http://127.0.0.1:1\n")
        return FakeServer()

    url_file = tmp_path / "url"
    monkeypatch.setattr(demo_cmd.subprocess, "Popen", popen)
    _proc, url = demo_cmd.start_sandbox(url_file, seed=7, scale=0.1)
    assert url == "http://127.0.0.1:1"
    cmd = started[0]
    assert cmd[cmd.index("--seed") + 1] == "7" and cmd[cmd.index("--scale") + 1] == "0.1"
