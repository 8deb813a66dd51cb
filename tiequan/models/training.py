"""Fit a detector on a training set, measure it on the test splits, register it.

The metrics of a record are computed here, at training time, with the one scorer
(tiequan.models.metrics.score) the gate and the evaluation report read: the reference
set's test split (real-world wording) and the synthetic corpus's test split.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from pymongo.database import Database

from detectors.combine import ListingDetector
from detectors.dataset import Example
from detectors.model_store import MODEL_VERSION, build, model_files
from tiequan.leads.labels import LabelStore
from tiequan.models.dataset import SourceFiles, TrainingSet, assemble, corpus_set
from tiequan.models.gate import load_models_config
from tiequan.models.metrics import Scores, score
from tiequan.models.registry import (
    CANDIDATE,
    CORPUS_TEST,
    REFERENCE_TEST,
    ModelRecord,
    Registry,
    version_of,
)
from tiequan.settings import environment
from tiequan.storage.store import utcnow

log = logging.getLogger(__name__)

# Test split names of SourceFiles, as the record's metrics name them.
SPLIT_NAMES = {"reference:test": REFERENCE_TEST, "corpus:test": CORPUS_TEST}


def package_version() -> str:
    try:
        return metadata.version("tiequan")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def evaluate(detector: ListingDetector, sets: Mapping[str, Sequence[Example]]) -> dict[str, Scores]:
    """The detector's scores on each named set of examples."""

    def predict(example: Example) -> set[str]:
        return {f.category for f in detector.detect(example.text, context=example.context)}

    return {name: score(predict, examples) for name, examples in sets.items()}


def fit(config_dir: Path, data: TrainingSet) -> tuple[ListingDetector, float]:
    """A detector fitted on ``data`` with its seed, and the seconds fitting took."""
    started = time.perf_counter()
    detector = build(ListingDetector, config_dir, seed=data.seed)
    detector.fit(data.synthetic, data.real)
    return detector, time.perf_counter() - started


def record_for(
    detector: ListingDetector,
    data: TrainingSet,
    metrics: Mapping[str, Scores],
    *,
    trained_by: str,
    train_seconds: float,
    trained_at: datetime | None = None,
) -> tuple[ModelRecord, dict[str, bytes]]:
    """The registry record of a fitted detector, and its files."""
    files = model_files(detector)
    hashes = {name: hashlib.sha256(blob).hexdigest() for name, blob in files.items()}
    version = version_of(hashes)
    detector.model_version_ = version
    record = ModelRecord(
        version=version,
        files=hashes,
        size_bytes=sum(len(b) for b in files.values()),
        data_hash=data.data_hash,
        manifest=tuple(data.manifest),
        seed=data.seed,
        code_version=f"model {MODEL_VERSION}, tiequan {package_version()}",
        libraries={"scikit-learn": sklearn.__version__, "numpy": np.__version__},
        metrics={name: s.to_json() for name, s in metrics.items()},
        trained_by=trained_by,
        trained_at=trained_at or utcnow(),
        train_seconds=round(train_seconds, 3),
        sources=dict(data.counts),
    )
    return record, files


def record_corpus_model(
    config_dir: Path, *, trained_by: str
) -> tuple[ModelRecord, dict[str, bytes]]:
    """The library's cached corpus model (``ListingDetector.from_config``, fitted on first
    use), scored on the test splits, as a record and its files: the model that tests and
    benchmarks make live without a training run of their own."""
    detector = ListingDetector.from_config(config_dir)
    tests = SourceFiles.for_config(config_dir).test_sets()
    metrics = evaluate(detector, {SPLIT_NAMES[n]: ex for n, ex in tests.items()})
    return record_for(
        detector, corpus_set(config_dir), metrics, trained_by=trained_by, train_seconds=0.0
    )


def train_and_register(
    registry: Registry,
    config_dir: Path,
    data: TrainingSet,
    *,
    trained_by: str,
    files: SourceFiles | None = None,
) -> ModelRecord:
    """Fit on ``data``, score on the test splits, register, and point ``candidate`` at it."""
    detector, seconds = fit(config_dir, data)
    tests = (files or SourceFiles.for_config(config_dir)).test_sets()
    metrics = evaluate(detector, {SPLIT_NAMES.get(n, n): ex for n, ex in tests.items()})
    record, blobs = record_for(
        detector, data, metrics, trained_by=trained_by, train_seconds=seconds
    )
    registry.register(record, blobs)
    registry.set_alias(CANDIDATE, record.version, by=trained_by, reason="tiequan train")
    log.info("trained %s in %.1f s on %d examples", record.version, seconds, len(data.manifest))
    return record


def train_from_database(
    db: Database[dict[str, Any]],
    *,
    trained_by: str,
    since: datetime | None = None,
    seed: int = 0,
) -> ModelRecord:
    """`tiequan train`: the corpora and the decisions in ``db`` (from ``since``), fitted,
    measured and registered as the candidate."""
    env = environment()
    config = load_models_config()
    files = SourceFiles.for_config(env.config_dir)
    labels = list(LabelStore(db).iter(since=since))
    data = assemble(files, labels, seed=seed, negative_reason=config.negative_dismissal)
    registry = Registry(db, env.model_dir)
    return train_and_register(registry, env.config_dir, data, trained_by=trained_by, files=files)
