"""The claim classifier alone, cross-validated on real wording, for choosing its settings.

Usage: .venv/bin/python bench/classifier_cv.py [--folds 4] [--C 0.5 1.0] [--no-synthetic]

Grouped K-fold over the reference set's train and dev splits: every fold holds whole
sources (``detectors.combine.source_fold``), so no page is both fitted and scored. Each
fold's classifier is fitted on the synthetic training split plus the other folds. Scores
at probability 0.5, the rules left out: this measures the part of the detector the rules
do not tune, without touching the sealed test split. Prints micro-F1 (core and all online
categories), recall, precision, false alarms on non-violations and the categories below
0.75 recall, per setting, in one run (so the settings share a machine state).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectors import CORE_CATEGORIES, Detector  # noqa: E402
from detectors.classifier import ClaimClassifier  # noqa: E402
from detectors.combine import model_text, source_fold  # noqa: E402
from detectors.config import default_config_dir  # noqa: E402
from detectors.dataset import Example  # noqa: E402
from detectors.model_store import read_all, training_files  # noqa: E402
from detectors.tokenize import lexicon_terms  # noqa: E402
from tiequan.corpus.reference import ONLINE_CATEGORIES  # noqa: E402


def cross_validate(
    synthetic: Sequence[Example], real: Sequence[Example], folds: int, **params: object
) -> str:
    words = lexicon_terms(Detector.from_config(default_config_dir(), min_score=0.0).lexicons)
    counts = {c: [0, 0, 0] for c in ONLINE_CATEGORIES}  # tp, fp, fn
    negatives = alarms = 0
    started = time.perf_counter()
    for fold in range(folds):
        held = [e for e in real if source_fold(e, folds) == fold]
        train = [*synthetic, *(e for e in real if source_fold(e, folds) != fold)]
        model = ClaimClassifier(user_words=words, **params).fit(  # type: ignore[arg-type]
            [model_text(e.text, e.context) for e in train], [list(e.labels) for e in train]
        )
        proba = model.predict_proba([model_text(e.text, e.context) for e in held])
        classes = [str(c) for c in model.classes_]
        for example, row in zip(held, proba, strict=True):
            found = {c for c, p in zip(classes, row, strict=True) if p >= 0.5}
            found &= set(ONLINE_CATEGORIES)
            gold = set(example.labels)
            if not gold:
                negatives += 1
                alarms += bool(found)
            for c in found | gold:
                counts[c][0 if c in found and c in gold else 1 if c in found else 2] += 1

    def f1(categories: Sequence[str]) -> tuple[float, float, float]:
        tp, fp, fn = (sum(counts[c][i] for c in categories) for i in range(3))
        p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        return (2 * p * r / (p + r) if p + r else 0.0), p, r

    core, _, _ = f1(CORE_CATEGORIES)
    every, p, r = f1(ONLINE_CATEGORIES)
    low = [c for c in ONLINE_CATEGORIES if sum(counts[c][::2]) and f1([c])[2] < 0.75]
    return (
        f"core F1 {core:.3f} | all F1 {every:.3f} (P {p:.2f} R {r:.2f}) | "
        f"false alarms {alarms / max(negatives, 1):.1%} | recall < 0.75: {len(low)} | "
        f"{time.perf_counter() - started:.0f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--C", type=float, nargs="+", default=[0.5, 1.0])
    parser.add_argument("--no-synthetic", action="store_true", help="real wording only")
    args = parser.parse_args(argv)
    synthetic_files, real_files = training_files(default_config_dir())
    synthetic = [] if args.no_synthetic else read_all(synthetic_files)
    real = read_all(real_files)
    print(f"{len(real)} real entries in {args.folds} folds by source, {len(synthetic)} synthetic")
    for c in args.C:
        print(f"C={c:g}: {cross_validate(synthetic, real, args.folds, C=c)}")  # CLI output
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
