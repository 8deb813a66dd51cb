"""Evaluation time: `tiequan evaluate` without the database, stage by stage.

Usage: .venv/bin/python bench/evaluate.py [--passes 5] [--no-write]
On the reference set's test split and the synthetic corpus's test split, with the live
model (``ListingDetector.from_config``, loaded from its cache first): the baseline is bare
scoring (``metrics.score`` on ``detect``'s findings, as bench/quality.py does), then
``evaluate`` (the same counts plus per-category scores, curves, threshold tables and
confusion matrices, no plots), then the report (matplotlib plots and HTML), then two models
side by side. CPU time of the process, best of the passes, the stages taking turns. Writes
section "evaluation" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from detectors.combine import ListingDetector  # noqa: E402
from detectors.config import default_config_dir  # noqa: E402
from tiequan.cli.detect_cmd import category_names  # noqa: E402
from tiequan.models.evaluate import (  # noqa: E402
    default_training,
    evaluate,
    from_detector,
    reference_set,
    synthetic_set,
)
from tiequan.models.metrics import score  # noqa: E402
from tiequan.models.report import write_report  # noqa: E402


def timed(stages: Sequence[tuple[str, Callable[[], Any]]], passes: int) -> list[list[float]]:
    """Per stage, (best CPU seconds, wall seconds of that pass); the stages take turns in
    each pass, so a busy moment of the machine does not land on one stage only."""
    best = [[float("inf"), 0.0] for _ in stages]
    for _ in range(passes):
        for row, (_label, run) in zip(best, stages, strict=True):
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            run()
            spent = time.process_time() - start_cpu
            if spent < row[0]:
                row[:] = [spent, time.perf_counter() - start_wall]
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    config = default_config_dir()
    start = time.perf_counter()
    detector = ListingDetector.from_config()
    load_s = time.perf_counter() - start
    model = from_detector(detector, training=default_training(config))
    sets = [reference_set(config), synthetic_set(config)]
    examples = [e for s in sets for e in s.examples]
    names = category_names()

    def bare() -> list[Any]:
        def predict(e: Any) -> set[str]:
            return {f.category for f in detector.detect(e.text, context=e.context)}

        return [score(predict, s.examples) for s in sets]

    evaluation = evaluate({"live": model}, sets)
    with tempfile.TemporaryDirectory(prefix="bench-evaluate-") as tmp:
        out = Path(tmp)

        def side_by_side() -> Path:
            both = evaluate({"candidate": model, "live": model}, sets)
            return write_report(both, out / "two", names)

        stages: list[tuple[str, Callable[[], Any]]] = [
            ("bare scoring (`metrics.score` on `detect`; baseline)", bare),
            ("`evaluate`: counts, curves, threshold tables, confusion (no plots)",
             lambda: evaluate({"live": model}, sets)),
            ("report: plots and HTML of one evaluation",
             lambda: write_report(evaluation, out / "one", names)),
            ("two models side by side: `evaluate` and report", side_by_side),
        ]  # fmt: skip
        rows = list(zip([label for label, _ in stages], timed(stages, args.passes), strict=True))
        html_kb = (out / "one" / "evaluation.html").stat().st_size / 1024
    base = rows[0][1][0]
    lines = [
        "Command: `.venv/bin/python bench/evaluate.py`",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.1f}; {len(examples)} texts (reference test split "
        f"{len(sets[0].examples)}, synthetic test split {len(sets[1].examples)}); CPU time of "
        f"the process, best of {args.passes} passes (stages in turn); model loaded from its "
        f"cache in {load_s:.1f} s.",
        "",
        "| stage | CPU s | wall s | × bare scoring |",
        "|---|---:|---:|---:|",
    ]
    for label, (cpu, wall) in rows:
        lines.append(f"| {label} | {cpu:.2f} | {wall:.2f} | {cpu / base:.2f} |")
    lines += [
        "",
        f"The report of one model is {html_kb:,.0f} KB (plots embedded as PNG data: URIs). "
        "`tiequan evaluate` also opens the database for the held-out decisions and starts the "
        "embedded server when no `TIEQUAN_MONGO_URI` is set.",
    ]
    body = "\n".join(lines)
    print(body)  # CLI output
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "evaluation", "Evaluation time", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
