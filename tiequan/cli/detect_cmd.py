"""`tiequan detect`: run the detectors over a JSON-lines file of texts.

Input lines are ``{"id": ..., "text": "...", "price": 12.5, "original_price": 99}``
(price and original_price optional), and optionally the listing's ``title`` and its
``context``: ``{"site_kind": "property", "category": "房产/新房", "shop": "…",
"hints": ["real_estate"]}`` (a plain string is taken as the category path). Output lines
are ``{"id": ..., "findings": [Finding.to_json(), ...]}`` in input order; spans index
into ``text``, and a claim found in the title has ``title_spans`` instead. A crossed-out
original price far above the price adds a ``"type": "price_fraud"`` finding. With
``--explain`` the findings are printed as readable Chinese text instead. A bad input
line (not JSON, not UTF-8, nested too deeply, a missing or mistyped field, a price that is
not a finite number) is reported on stderr with its file and line number and skipped, and
the others are still processed; the command then exits 1. A UTF-8 byte-order mark is
allowed. Lone surrogates and control characters in texts are replaced by U+FFFD and
counted. Blank lines are ignored. Exit codes: ``tiequan.cli.exit_codes``.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from detectors import ConfigError, Detector, Finding
from detectors.base import NO_CONTEXT, SITE_KINDS, ListingContext, join_title
from detectors.clean import repair_text
from detectors.combine import ListingDetector
from detectors.explain import format_record
from detectors.price import PriceFraudRule, price_fraud_finding
from tiequan.cli.exit_codes import EXIT_OK, EXIT_REJECTED, EXIT_USAGE
from tiequan.models.live import load_live
from tiequan.models.registry import RegistryError
from tiequan.referral import CategoriesError, price_fraud_rule

log = logging.getLogger(__name__)


class BadLine(ValueError):
    """An input line that is not a valid record."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "detect",
        help="检测文本中的违法宣传（JSON Lines 输入输出）",
        description="Run the detectors over JSON lines {id, text[, price]}.",
    )
    parser.add_argument("--input", required=True, help="input .jsonl file, or - for stdin")
    parser.add_argument("--output", required=True, help="output .jsonl file, or - for stdout")
    parser.add_argument(
        "--min-score", type=float, default=None, help="score threshold (default from config)"
    )
    parser.add_argument(
        "--config-dir", type=Path, default=None, help="config directory (default: <repo>/config)"
    )
    parser.add_argument(
        "--rules-only",
        action="store_true",
        help="lexicons and rules only, without the trained classifier",
    )
    parser.add_argument(
        "--explain", action="store_true", help="以中文可读形式输出检测结果（代替 JSON Lines）"
    )
    parser.set_defaults(func=run)


class Record:
    """One valid input line."""

    __slots__ = ("context", "original_price", "price", "repaired", "rid", "text", "title")

    def __init__(
        self,
        rid: str | int,
        text: str,
        price: float | None,
        original_price: float | None,
        title: str = "",
        context: ListingContext = NO_CONTEXT,
    ) -> None:
        self.text, repaired_text = repair_text(text)
        self.title, repaired_title = repair_text(title)
        self.rid, self.price, self.original_price = rid, price, original_price
        self.context = context
        self.repaired = repaired_text + repaired_title  # invalid characters replaced

    @property
    def joined(self) -> tuple[str, int]:
        """The text the detectors read (title first) and where ``text`` starts in it."""
        return join_title(self.title, self.text)


def _shown(value: Any, limit: int = 80) -> str:
    """A value for an error line: its repr, cut when long (a line can hold megabytes)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}…（共 {len(text)} 字符）"


def _number(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise BadLine(f"字段 {key} 应为数字或 null，实际为 {_shown(value)}")
    if value is not None and not math.isfinite(value):
        raise BadLine(f"字段 {key} 应为有限的数字，实际为 {_shown(value)}")
    return None if value is None else float(value)


def parse_record(line: str) -> Record:
    """Validate one input line; raises BadLine with a Chinese reason."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise BadLine(f"不是合法的 JSON（{exc.msg}，第 {exc.colno} 列）") from exc
    except RecursionError as exc:
        raise BadLine("JSON 嵌套层数过深") from exc
    if not isinstance(record, dict):
        raise BadLine(f"应为 JSON 对象，实际为 {type(record).__name__}")
    if "id" not in record:
        raise BadLine("缺少字段 id")
    if "text" not in record:
        raise BadLine("缺少字段 text")
    rid, text = record["id"], record["text"]
    if isinstance(rid, bool) or not isinstance(rid, str | int):
        raise BadLine(f"字段 id 应为字符串或整数，实际为 {_shown(rid)}")
    if not isinstance(text, str):
        raise BadLine(f"字段 text 应为字符串，实际为 {type(text).__name__}")
    title = record.get("title") or ""
    if not isinstance(title, str):
        raise BadLine(f"字段 title 应为字符串，实际为 {_shown(title)}")
    return Record(
        rid,
        text,
        _number(record, "price"),
        _number(record, "original_price"),
        title,
        parse_context(record.get("context")),
    )


def parse_context(raw: Any) -> ListingContext:
    """The optional ``context`` field: an object, or a string holding the category path."""
    if raw is None:
        return NO_CONTEXT
    if isinstance(raw, str):
        return ListingContext(category=repair_text(raw)[0])
    if not isinstance(raw, dict):
        raise BadLine(f"字段 context 应为对象或字符串，实际为 {_shown(raw)}")
    for key, value in raw.items():
        if key not in ("site_kind", "category", "shop", "hints"):
            raise BadLine(f"字段 context.{key} 不认识（可用 site_kind、category、shop、hints）")
        if key != "hints" and not isinstance(value, str):
            raise BadLine(f"字段 context.{key} 应为字符串，实际为 {_shown(value)}")
    kind = raw.get("site_kind", "")
    if kind and kind not in SITE_KINDS:
        kinds = "、".join(SITE_KINDS)
        raise BadLine(f"字段 context.site_kind 应为 {kinds} 之一，实际为 {_shown(kind)}")
    hints = raw.get("hints", [])
    if not isinstance(hints, list) or not all(isinstance(h, str) for h in hints):
        raise BadLine(f"字段 context.hints 应为类别编号的列表，实际为 {_shown(hints)}")
    category, shop = (repair_text(raw.get(k, ""))[0] for k in ("category", "shop"))
    try:
        return ListingContext(kind, category, shop, tuple(hints))
    except ValueError as exc:
        raise BadLine(f"字段 context.{exc}") from exc


def finding_json(finding: Finding, offset: int) -> dict[str, Any]:
    """``Finding.to_json`` with spans into the record's text; title spans apart."""
    record = finding.to_json()
    if offset and finding.image_url is None:
        spans = [[s - offset, e - offset] for s, e in finding.spans if s >= offset]
        title = [[s, min(e, offset - 1)] for s, e in finding.spans if s < offset]
        record["spans"] = spans
        if title:
            record["title_spans"] = title
    return record


def category_names() -> dict[str, str]:
    """Chinese names of the categories for --explain; ids only if categories.yaml fails."""
    from tiequan.referral.categories import CategoriesError, load_categories

    try:
        return {c.id: c.name for c in load_categories()}
    except (CategoriesError, OSError) as exc:
        log.warning("category names unavailable: %s", exc)
        return {}


def findings_for(
    detector: Detector | ListingDetector,
    record: Record,
    min_score: float | None,
    fraud_rule: PriceFraudRule,
) -> list[Finding]:
    """Text findings, plus a price-fraud finding when the original price looks made up."""
    text, _offset = record.joined
    findings = detector.detect(text, price=record.price, context=record.context)
    if min_score is not None:
        findings = [f for f in findings if f.score >= min_score]
    if record.original_price is not None:
        rules = detector.rules if isinstance(detector, ListingDetector) else detector
        evidence = {f.category: f.score for f in findings} or rules.evidence(
            text, price=record.price, context=record.context
        )
        fraud = price_fraud_finding(
            record.price, record.original_price, None, rule=fraud_rule, evidence=evidence
        )
        if fraud is not None:
            findings.append(fraud)
    return findings


@contextmanager
def _open_input(name: str) -> Iterator[IO[bytes]]:
    if name == "-":
        # A text-only stdin (an embedding program's StringIO) has no byte buffer.
        buffer = getattr(sys.stdin, "buffer", None)
        yield buffer if buffer is not None else io.BytesIO(sys.stdin.read().encode())
        return
    with open(name, "rb") as handle:
        yield handle


@contextmanager
def _open_output(name: str) -> Iterator[IO[str]]:
    if name == "-":
        yield sys.stdout
        return
    with open(name, "w", encoding="utf-8", newline="\n") as handle:
        yield handle


def input_lines(handle: IO[bytes]) -> Iterator[tuple[int, str | None, str]]:
    """(line number, text or None, why) per non-blank line; a line that is not UTF-8
    comes as None with the reason, so the lines around it are still read."""
    for lineno, raw in enumerate(handle, start=1):
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield lineno, None, f"不是 UTF-8 编码（第 {exc.start + 1} 字节 0x{raw[exc.start]:02x}）"
            continue
        if line.strip():
            yield lineno, line, ""


def run(args: argparse.Namespace) -> int:
    try:
        detector: Detector | ListingDetector
        if args.rules_only:
            detector = Detector.from_config(args.config_dir, min_score=args.min_score).compile()
        else:
            detector = load_live(args.config_dir)  # the registry's live model, not trained
        fraud_rule = price_fraud_rule(args.config_dir)
    except (ConfigError, CategoriesError) as exc:
        sys.stderr.write(f"配置错误：{exc}\n")
        return EXIT_USAGE
    except RegistryError as exc:
        sys.stderr.write(f"tiequan detect: {exc}\n")
        return EXIT_USAGE
    names = category_names() if args.explain else {}
    source = "<stdin>" if args.input == "-" else args.input
    done = flagged = bad = repaired = 0
    try:
        with _open_input(args.input) as inp, _open_output(args.output) as out:
            for lineno, line, why in input_lines(inp):
                try:
                    if line is None:
                        raise BadLine(why)
                    record = parse_record(line)
                except BadLine as exc:
                    bad += 1
                    sys.stderr.write(f"输入文件 {source} 第 {lineno} 行：{exc}，已跳过\n")
                    continue
                repaired += record.repaired
                findings = findings_for(
                    detector, record, None if args.rules_only else args.min_score, fraud_rule
                )
                text, offset = record.joined
                if args.explain:
                    out.write(format_record(record.rid, text, findings, names) + "\n\n")
                else:
                    rows = [finding_json(f, offset) for f in findings]
                    out.write(
                        json.dumps({"id": record.rid, "findings": rows}, ensure_ascii=False) + "\n"
                    )
                done += 1
                flagged += bool(findings)
            out.flush()
    except OSError as exc:
        sys.stderr.write(f"无法读写文件：{exc}\n")
        return EXIT_USAGE
    fixed = f"，替换无效字符 {repaired} 个" if repaired else ""
    sys.stderr.write(f"检测完成：处理 {done} 条，命中 {flagged} 条，错误行 {bad} 条{fixed}\n")
    log.debug("detect finished: %d done, %d flagged, %d bad", done, flagged, bad)
    return EXIT_REJECTED if bad else EXIT_OK
