"""Detection quality on the corpus's held-out test split, three systems side by side.

Usage: .venv/bin/python bench/quality.py [--no-write]
Systems: the combined ListingDetector (rules + trained classifier), the rule engine alone
and a plain-keyword baseline (a finding whenever a lexicon term occurs verbatim). Writes
section "quality" of BENCHMARKS.md. Targets: micro-F1 >= 0.93 over the five core
categories, hard-negative false-positive rate <= 5%.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_section  # noqa: E402
from detectors import CORE_CATEGORIES, Detector, load_config  # noqa: E402
from detectors.base import CATEGORY_IDS  # noqa: E402
from detectors.combine import ListingDetector  # noqa: E402
from detectors.config import default_config_dir  # noqa: E402
from detectors.model_store import corpus_dir  # noqa: E402
from tiequan.corpus.build import read_split  # noqa: E402

Predict = Callable[[str], set[str]]


def keyword_baseline() -> Predict:
    """A finding for a category whenever one of its lexicon terms occurs verbatim."""
    lexicons, _, _ = load_config(default_config_dir())
    terms = [(t.term, lx.category) for lx in lexicons for t in lx.terms]
    return lambda text: {category for term, category in terms if term in text}


def evaluate(predict: Predict, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    counts = {c: [0, 0, 0] for c in CATEGORY_IDS}  # tp, fp, fn
    hard = flagged = 0
    variant_hits: dict[str, list[int]] = {}
    for record in records:
        predicted, gold = predict(record["text"]), set(record["labels"])
        for category in CATEGORY_IDS:
            if category in predicted and category in gold:
                counts[category][0] += 1
            elif category in predicted:
                counts[category][1] += 1
            elif category in gold:
                counts[category][2] += 1
        if record["group"] == "hard_negative":
            hard += 1
            flagged += bool(predicted)
        if record["group"] == "violation":
            found = variant_hits.setdefault(record["variant"], [0, 0])
            found[0] += len(gold & predicted)
            found[1] += len(gold)
    core = [sum(counts[c][i] for c in CORE_CATEGORIES) for i in range(3)]
    return {
        "per_category": {c: _prf(*v) for c, v in counts.items() if v != [0, 0, 0]},
        "core_micro": _prf(*core),
        "hard_fpr": flagged / hard if hard else 0.0,
        "hard": hard,
        "variant_recall": {k: v[0] / v[1] for k, v in sorted(variant_hits.items()) if v[1]},
    }


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def render(results: dict[str, dict[str, Any]], n: int, load_s: float) -> str:
    names = list(results)
    lines = [
        "Command: `.venv/bin/python bench/quality.py`",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; "
        f"test split: {n} examples, never used for fitting or tuning "
        f"(`config/corpus/DATASHEET.md`). ListingDetector load: {load_s:.1f} s.",
        "",
        "| system | micro-F1, 5 core categories | hard-negative FPR |",
        "|---|---:|---:|",
    ]
    for name in names:
        res = results[name]
        lines.append(f"| {name} | {res['core_micro'][2]:.3f} | {res['hard_fpr']:.1%} |")
    combined = results[names[0]]
    meets = combined["core_micro"][2] >= 0.93 and combined["hard_fpr"] <= 0.05
    lines += [
        "",
        f"Targets (micro-F1 ≥ 0.93, FPR ≤ 5%) for {names[0]}: "
        f"**{'met' if meets else 'missed'}**. Ratio of micro-F1, {names[0]} / {names[2]}: "
        f"{combined['core_micro'][2] / max(results[names[2]]['core_micro'][2], 1e-9):.2f}.",
        "",
        "Per category, precision / recall / F1:",
        "",
        "| category | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    categories = [c for c in CATEGORY_IDS if any(c in r["per_category"] for r in results.values())]
    for category in categories:
        cells = []
        for name in names:
            p, r, f = results[name]["per_category"].get(category, (0.0, 0.0, 0.0))
            cells.append(f"{p:.2f} / {r:.2f} / {f:.2f}")
        lines.append(f"| {category} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Recall on violations by disguise:",
        "",
        "| variant | " + " | ".join(names) + " |",
    ]
    lines.append("|---|" + "---:|" * len(names))
    for variant in combined["variant_recall"]:
        cells = [f"{results[nm]['variant_recall'].get(variant, 0.0):.2f}" for nm in names]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "The corpus is composed from hand-written fragments, so test texts are new "
        "combinations and disguises of known claims; see the datasheet's known biases.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    records = read_split(corpus_dir(default_config_dir()) / "test.jsonl")
    start = time.perf_counter()
    combined = ListingDetector.from_config()
    load_s = time.perf_counter() - start
    rules = Detector.from_config()
    systems: dict[str, Predict] = {
        "combined (rules + classifier)": lambda t: {f.category for f in combined.detect(t)},
        "rule engine alone": lambda t: {f.category for f in rules.detect(t)},
        "plain-keyword baseline": keyword_baseline(),
    }
    results = {name: evaluate(fn, records) for name, fn in systems.items()}
    body = render(results, len(records), load_s)
    print(body)  # CLI output
    if not args.no_write:
        write_section(
            ROOT / "BENCHMARKS.md", "quality", "Detection quality (held-out test split)", body
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
