"""Part (c) of the detector bench: OCR images/second on sandbox product images.

Usage: .venv/bin/python bench/detect.py --parts ocr [--images 48] [--threads 2] [--no-write]
(``bench/detect.py`` runs all three parts of the detector bench in one run.)
Same run, same images: cold (every image OCR'd, engines already loaded) with one engine
per worker thread and with one engine behind a lock; warm from the in-memory cache; warm
from the on-disk cache in a fresh reader (a later sweep). Writes the "detect_ocr" section
of BENCHMARKS.md.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detectors import Detector  # noqa: E402
from detectors.ocr import ImageTextReader  # noqa: E402
from tiequan.sandbox.images import render_png  # noqa: E402
from tiequan.sandbox.world import get_world  # noqa: E402

SEED = 20220101


def sandbox_images(n: int) -> list[tuple[list[str], bytes]]:
    """``n`` sandbox images spread evenly over all sites: (drawn lines, PNG bytes)."""
    world = get_world(SEED, 1.0)
    keys = sorted(world.images)
    step = max(1, len(keys) // n)
    chosen = keys[::step][:n]
    return [(world.images[k], render_png(world.images[k], f"{SEED}:{k[0]}:{k[1]}")) for k in chosen]


def timed(fn: Callable[[bytes], object], images: list[bytes], threads: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(fn, images))
    return time.perf_counter() - started


def warm_engines(reader: ImageTextReader, threads: int, sample: bytes) -> None:
    """Load an engine in every worker thread outside the timing (a sweep loads them once)."""
    barrier = threading.Barrier(threads)

    def load(_: int) -> None:
        barrier.wait()
        reader._engine()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(load, range(threads)))
    reader.read(sample)


def measure(images: int, threads: int) -> str:
    """The "detect_ocr" section body for ``images`` sandbox images on ``threads`` workers."""
    drawn = sandbox_images(images + 1)
    sample, data = drawn[0][1], [png for _lines, png in drawn[1:]]
    n, t = len(data), threads
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="tiequan-ocr-bench-") as tmp:
        cache = Path(tmp) / "cache"
        per_thread = ImageTextReader(cache_dir=cache)
        warm_engines(per_thread, t, sample)
        cold = timed(per_thread.read, data, t)
        rows.append((f"cold, one engine per thread ({t} threads, 1 ORT thread each)", cold))
        shared = ImageTextReader(shared_engine=True, engine_threads=t)
        warm_engines(shared, 1, sample)
        locked = timed(shared.read, data, t)
        rows.append((f"cold, one engine behind a lock ({t} threads, {t} ORT threads)", locked))
        warm = timed(per_thread.read, data, t)
        rows.append(("warm, in-memory cache (same reader)", warm))
        fresh = ImageTextReader(cache_dir=cache)
        disk = timed(fresh.read, data, t)
        rows.append(("warm, on-disk cache (fresh reader, next sweep)", disk))
        assert fresh.ocr_calls_ == 0, "the disk cache should have answered every image"

    detector = Detector.from_config()
    texts = [per_thread.read(png).text for png in data]
    flagged = sum(bool(detector.detect(text)) for text in texts)
    exact = sum(
        per_thread.read(png).text.replace("\n", "") == "".join(lines).replace(" ", "")
        for lines, png in drawn[1:]
    )
    table = ["| variant | seconds | images/s | ms/image |", "|---|---|---|---|"]
    for name, secs in rows:
        table.append(f"| {name} | {secs:.2f} | {n / secs:.1f} | {1000 * secs / n:.1f} |")
    return "\n".join(
        [
            f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; machine: {platform.machine()},"
            f" {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f} at the end,"
            f" shared with other jobs), Python {platform.python_version()};"
            f" rapidocr-onnxruntime (PP-OCRv4 det+rec, no angle classifier);"
            f" {n} sandbox product images (640 px wide PNGs, 2-4 lines of Chinese each),"
            " engines loaded before timing.",
            "",
            *table,
            "",
            f"Ratio warm (memory) / cold: **{cold / warm:.0f}x**;"
            f" warm (disk) / cold: **{cold / disk:.0f}x**;"
            f" per-thread engines / locked engine: **{locked / cold:.2f}x**.",
            f"Text read exactly as drawn: {exact}/{n} images; detector findings on"
            f" {flagged}/{n} image texts.",
        ]
    )
