"""`tiequan detect`: JSON-lines round trip, input order, bad lines reported by number."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tiequan.cli import detect_cmd

# `tiequan detect` reads the registry's live model: the session model, live in the test's db.
pytestmark = pytest.mark.usefixtures("live_model_env")


def run_cli(*argv: str) -> int:
    # Only this command is registered, so the test does not depend on the other CLI modules.
    parser = argparse.ArgumentParser(prog="tiequan")
    detect_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["detect", *argv])
    return int(args.func(args))


RECORDS: list[dict[str, Any]] = [
    {"id": "a1", "text": "纯植物酵素，三天瘦十斤，减肥不反弹"},
    {"id": 2, "text": "今天天气很好，我们去公园散步"},
    {"id": "c3", "text": "100%山羊绒毛衣 秋冬新款", "price": 89},
    {"id": "d4", "text": "距地铁5分钟，年收益8%，名校旁"},
]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def read_output(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_round_trip_keeps_order_and_format(tmp_path: Path) -> None:
    inp = write_lines(tmp_path / "in.jsonl", [json.dumps(r, ensure_ascii=False) for r in RECORDS])
    out = tmp_path / "out.jsonl"
    assert run_cli("--input", str(inp), "--output", str(out)) == 0
    rows = read_output(out)
    assert [row["id"] for row in rows] == [r["id"] for r in RECORDS]
    assert all(set(row) == {"id", "findings"} for row in rows)
    by_id = {row["id"]: row["findings"] for row in rows}
    assert by_id[2] == []
    assert [f["category"] for f in by_id["a1"]] == ["slimming_aphrodisiac"]
    assert [f["category"] for f in by_id["c3"]] == ["counterfeit_apparel"]
    assert [f["category"] for f in by_id["d4"]] == ["real_estate"]
    for record in RECORDS:
        for finding in by_id[record["id"]]:
            assert set(finding) == {"category", "score", "article", "spans", "explanation"}
            for start, end in finding["spans"]:
                assert 0 <= start < end <= len(record["text"])
    first = by_id["a1"][0]
    assert RECORDS[0]["text"][slice(*first["spans"][0])] == "三天瘦十斤"


def test_bad_lines_are_reported_with_line_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        json.dumps({"id": "ok1", "text": "减肥茶"}, ensure_ascii=False),
        "{not json",
        json.dumps({"text": "no id"}),
        "",
        json.dumps({"id": "x", "text": 42}),
        json.dumps({"id": True, "text": "bool id"}),
        json.dumps({"id": "p", "text": "t", "price": "cheap"}),
        json.dumps(["a", "list"]),
        json.dumps({"id": "ok2", "text": "普通商品"}, ensure_ascii=False),
    ]
    inp = write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    assert run_cli("--input", str(inp), "--output", str(out)) == 1
    assert [row["id"] for row in read_output(out)] == ["ok1", "ok2"]
    err = capsys.readouterr().err
    for lineno, reason in [
        (2, "JSON"),
        (3, "id"),
        (5, "text"),
        (6, "id"),
        (7, "price"),
        (8, "对象"),
    ]:
        assert f"{inp} 第 {lineno} 行：" in err
        line = next(x for x in err.splitlines() if f"第 {lineno} 行" in x)
        assert reason in line
    assert "第 4 行" not in err  # blank lines are not records
    assert "错误行 6 条" in err


def test_stdin_and_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS[:2])
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    assert run_cli("--input", "-", "--output", "-") == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [row["id"] for row in rows] == ["a1", 2]


def test_min_score_option(tmp_path: Path) -> None:
    inp = write_lines(tmp_path / "in.jsonl", [json.dumps({"id": 1, "text": "减肥茶"})])
    out = tmp_path / "out.jsonl"
    assert run_cli("--input", str(inp), "--output", str(out), "--min-score", "0.1") == 0
    (finding,) = read_output(out)[0]["findings"]
    above = str(min(1.0, finding["score"] + 0.001))
    assert run_cli("--input", str(inp), "--output", str(out), "--min-score", above) == 0
    assert read_output(out)[0]["findings"] == []


def test_config_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config"
    (config / "lexicons").mkdir(parents=True)
    (config / "rules").mkdir()
    (config / "lexicons" / "vinegar.yaml").write_text("category: vinegar\n", encoding="utf-8")
    inp = write_lines(tmp_path / "in.jsonl", [json.dumps({"id": 1, "text": "x"})])
    code = run_cli("--input", str(inp), "--output", "-", "--config-dir", str(config))
    assert code == 2
    assert "vinegar.yaml" in capsys.readouterr().err


def test_missing_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_cli("--input", str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "o"))
    assert code == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_original_price_adds_a_price_fraud_finding(tmp_path: Path) -> None:
    records = [
        {"id": "p1", "text": "100%山羊绒毛衣 秋冬新款", "price": 89, "original_price": 1299},
        {"id": "p2", "text": "纯棉短袖T恤", "price": 59, "original_price": 69},
        {"id": "p3", "text": "纯棉短袖T恤", "price": 59, "original_price": "贵"},
    ]
    inp = write_lines(tmp_path / "in.jsonl", [json.dumps(r, ensure_ascii=False) for r in records])
    out = tmp_path / "out.jsonl"
    assert run_cli("--input", str(inp), "--output", str(out)) == 1  # p3 is a bad line
    by_id = {row["id"]: row["findings"] for row in read_output(out)}
    fraud = [f for f in by_id["p1"] if f.get("type") == "price_fraud"]
    assert len(fraud) == 1 and fraud[0]["category"] == "counterfeit_apparel"
    assert "《价格法》第十四条" in fraud[0]["article"]
    assert by_id["p2"] == [] and "p3" not in by_id


def test_explain_prints_readable_chinese(tmp_path: Path) -> None:
    inp = write_lines(tmp_path / "in.jsonl", [json.dumps(r, ensure_ascii=False) for r in RECORDS])
    out = tmp_path / "out.txt"
    assert run_cli("--input", str(inp), "--output", str(out), "--explain") == 0
    text = out.read_text(encoding="utf-8")
    assert "【a1】发现 1 项违法线索" in text and "【2】未发现违法线索" in text
    assert "声称减肥、壮阳等食品非法添加（slimming_aphrodisiac）" in text
    assert "【三天瘦十斤】" in text and "违反条款：《" in text and "处置建议：立案" in text
    assert not any(line.startswith("{") for line in text.splitlines())
