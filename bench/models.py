"""The model registry: training time, model size, loading, and promote-to-use latency.

Run: ``.venv/bin/python bench/models.py [--trials 3] [--recheck 5]``. In one run, on an
embedded MongoDB and a model directory of its own:

1. trains the detector on the corpora as `tiequan train` assembles them (no decisions),
   and scores it on the two test splits (what registering costs);
2. loads it back from the registry, file hashes verified (what a sweep pays at start),
   beside the training it replaces as the same-run baseline (the old crawl path trained
   when it found no cached model);
3. runs the sweep's detection stage (``pipelines.detect.DetectPipeline``, as a crawl opens
   it, with TIEQUAN_MODEL_RECHECK_SECONDS=--recheck) on a stream of listings in a thread,
   promotes another model (and rolls back, alternately) and times how long until a
   listing's findings carry the new version.

Writes section "models" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pymongo import MongoClient  # noqa: E402
from scrapy.utils.test import get_crawler  # noqa: E402

from bench.report import write_section  # noqa: E402
from crawlers.items import Listing  # noqa: E402
from detectors.config import default_config_dir  # noqa: E402
from detectors.dataset import read_examples  # noqa: E402
from tiequan.models.dataset import SourceFiles, assemble  # noqa: E402
from tiequan.models.gate import load_models_config  # noqa: E402
from tiequan.models.promotion import promote, rollback  # noqa: E402
from tiequan.models.registry import LIVE, Registry  # noqa: E402
from tiequan.models.training import SPLIT_NAMES, evaluate, fit, record_for  # noqa: E402
from tiequan.storage.embedded import EmbeddedServer  # noqa: E402

CLAIM = "纤体咖啡 三天瘦十斤，不反弹，减肥效果看得见"


def sample(path: Path, out: Path, per_label: int) -> Path:
    """The first ``per_label`` examples of each label set of ``path`` (a weaker model)."""
    taken: dict[str, int] = {}
    lines = []
    for line, example in zip(
        path.read_text(encoding="utf-8").splitlines(), read_examples(path), strict=True
    ):
        key = ",".join(example.labels)
        if taken.get(key, 0) < per_label:
            taken[key] = taken.get(key, 0) + 1
            lines.append(line)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def promote_latency(registry: Registry, versions: tuple[str, str], trials: int,
                    recheck: float, uri: str) -> list[float]:  # fmt: skip
    """Seconds from each promotion (or rollback) until the running detect stage uses it."""
    crawler = get_crawler(settings_dict={"TIEQUAN_MONGO_URI": uri,
                                         "TIEQUAN_MODEL_RECHECK_SECONDS": recheck})  # fmt: skip
    from pipelines.detect import DetectPipeline

    stage = DetectPipeline.from_crawler(crawler)
    stage.open_spider()
    seen: dict[str, float] = {}
    stop = threading.Event()

    def stream() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            item = Listing("bench", "product", f"http://x/{n}", str(n), CLAIM)
            stage.detect_item(item)
            for finding in item.findings:
                seen.setdefault(str(finding["model_version"]), time.monotonic())

    worker = threading.Thread(target=stream, daemon=True)
    worker.start()
    latencies = []
    config = load_models_config()
    for trial in range(trials):
        time.sleep(recheck * 0.37 + 1.0)  # promotions land at different points of a cycle
        target = versions[(trial + 1) % 2]
        seen.pop(target, None)
        started = time.monotonic()
        if trial % 2 == 0:
            promote(registry, target, by="bench", config=config, force=True, reason="bench")
        else:
            rollback(registry, by="bench", reason="bench")
        while target not in seen:
            time.sleep(0.01)
        latencies.append(seen[target] - started)
    stop.set()
    worker.join()
    stage.close_spider()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--recheck", type=float, default=5.0)
    args = parser.parse_args()
    config = default_config_dir()
    with tempfile.TemporaryDirectory(prefix="tiequan-bench-models-") as tmp:
        work = Path(tmp)
        os.environ["TIEQUAN_MODEL_DIR"] = str(work / "models")
        os.environ["TIEQUAN_DB"] = "bench_models"
        server = EmbeddedServer(work / "db")
        uri = server.start()
        try:
            client: MongoClient[dict[str, object]] = MongoClient(uri, tz_aware=True)
            registry = Registry(client["bench_models"], work / "models")  # type: ignore[arg-type]
            files = SourceFiles.for_config(config)
            data = assemble(files)
            detector, train_s = fit(config, data)
            tests = {SPLIT_NAMES[n]: ex for n, ex in files.test_sets().items()}
            started = time.perf_counter()
            metrics = evaluate(detector, tests)
            eval_s = time.perf_counter() - started
            record, blobs = record_for(detector, data, metrics, trained_by="bench",
                                       train_seconds=train_s)  # fmt: skip
            registry.register(record, blobs)
            registry.set_alias(LIVE, record.version, by="bench", reason="bench")
            loads, verify = [], []
            for _ in range(3):
                started = time.perf_counter()
                registry.files.read(record)
                verify.append(time.perf_counter() - started)
                started = time.perf_counter()
                registry.load(record.version, config)
                loads.append(time.perf_counter() - started)
            weak_files = SourceFiles(
                synthetic=(("corpus:train", sample(files.synthetic[0][1], work / "s.jsonl", 10)),),
                real=(("reference:train", sample(files.real[0][1], work / "r.jsonl", 10)),),
                tests=files.tests,
            )
            weak_data = assemble(weak_files)
            weak, weak_s = fit(config, weak_data)
            weak_metrics = evaluate(weak, tests)
            weak_record, weak_blobs = record_for(
                weak, weak_data, weak_metrics, trained_by="bench", train_seconds=weak_s
            )
            registry.register(weak_record, weak_blobs)
            latencies = promote_latency(registry, (record.version, weak_record.version),
                                        args.trials, args.recheck, uri)  # fmt: skip
            client.close()
        finally:
            server.stop()
    sizes = ", ".join(f"{name} {len(b) / 1e6:.2f} MB" for name, b in sorted(blobs.items()))
    texts = sum(len(x) for x in tests.values())
    rows = [
        (f"training on the corpora ({len(data.manifest):,} examples after de-duplication; "
         "`tiequan train` without decisions)", f"{train_s:.1f}"),
        (f"scoring it on both test splits ({texts:,} texts: its metrics)", f"{eval_s:.1f}"),
        ("loading it from the registry, hashes verified (best of 3; baseline: the training "
         "above, which the old crawl path ran when it found no cached model)", f"{min(loads):.2f}"),
        ("of which reading and hashing the files", f"{min(verify):.3f}"),
        (f"promote → the running detect stage uses the new model (median of {len(latencies)}, "
         f"max {max(latencies):.1f})", f"{statistics.median(latencies):.1f}"),
    ]  # fmt: skip
    lines = [
        f"Command: `.venv/bin/python bench/models.py --trials {args.trials} "
        f"--recheck {args.recheck:g}`",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; "
        f"load average {os.getloadavg()[0]:.1f} (a shared 2-core machine); wall-clock seconds.",
        "",
        "| step | seconds |",
        "|---|---:|",
        *(f"| {step} | {value} |" for step, value in rows),
        "",
        f"Model size: {record.size_bytes / 1e6:.1f} MB ({sizes}). Loading instead of training "
        f"takes {train_s / min(loads):.0f}× less time at a sweep's start, and nothing is trained "
        "on the crawl path. The promote latency is the wait for the stage's next look at the "
        f"`live` alias (at most TIEQUAN_MODEL_RECHECK_SECONDS: {args.recheck:g} s here, 30 s by "
        "default) plus loading the new version in the detection worker; promotions and "
        "rollbacks alternate between the full model and one trained on a sample.",
    ]
    body = "\n".join(lines) + "\n"
    title = "Model registry: training, loading, promotion"
    write_section(ROOT / "BENCHMARKS.md", "models", title, body)
    print(body)


if __name__ == "__main__":
    main()
