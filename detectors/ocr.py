"""Read the text in product images (OCR), cached by the SHA-256 of the image bytes.

Sellers move claims into images to dodge text filters; the text read here goes through
the same ``Detector`` as the listing text. The OCR engine (rapidocr-onnxruntime, whose
wheel ships its Chinese detection and recognition models: nothing is downloaded) is
heavy, so it is created lazily, once per worker thread, and every result is cached in
memory and optionally on disk so a later sweep never reads the same image twice.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)

# Bumped when the cached record or the engine configuration changes meaning.
CACHE_VERSION = 1
# Tall detail images are read in bands so the engine never shrinks their text away.
_BAND = 1600
_OVERLAP = 120


class ImageError(ValueError):
    """The bytes are not an image we will read (not an image, corrupt, too large)."""


@dataclass(frozen=True)
class Line:
    """One line of text as read; ``box`` holds the four corners in image pixels."""

    text: str
    confidence: float
    box: tuple[tuple[float, float], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "box": [[round(x, 1), round(y, 1)] for x, y in self.box],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Line:
        box = tuple((float(x), float(y)) for x, y in data.get("box", []))
        return cls(str(data["text"]), float(data["confidence"]), box)


@dataclass(frozen=True)
class ImageText:
    """What one image says: ``text`` is the confident lines, top to bottom, one per line."""

    sha256: str
    text: str
    lines: list[Line] = field(default_factory=list)
    # Where the answer came from: "ocr", "memory" or "disk" (not part of the cache record).
    source: str = field(default="ocr", compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "v": CACHE_VERSION,
            "sha256": self.sha256,
            "text": self.text,
            "lines": [line.to_json() for line in self.lines],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "disk") -> ImageText:
        lines = [Line.from_json(d) for d in data.get("lines", [])]
        return cls(str(data["sha256"]), str(data["text"]), lines, source)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _text_of(lines: list[Line]) -> str:
    return "\n".join(line.text for line in lines)


class ImageTextReader:
    """Reads text from image bytes; thread-safe (one OCR engine per calling thread).

    ``min_confidence`` drops lines the engine is unsure of; images with a side longer
    than ``max_side`` or more than ``max_bytes`` bytes are refused with ``ImageError``;
    images with a side shorter than ``min_side`` (icons, spacers) are not worth reading
    and yield empty text. ``memory_items`` bounds the in-memory LRU cache; ``cache_dir``
    adds one small JSON file per image hash. ``shared_engine`` uses one engine behind a
    lock instead of one per thread (see bench/ocr.py for which is faster).
    """

    def __init__(
        self,
        cache_dir: Path | None = None,
        min_confidence: float = 0.5,
        max_side: int = 12_000,
        *,
        max_bytes: int = 12_000_000,
        min_side: int = 40,
        memory_items: int = 4096,
        shared_engine: bool = False,
        engine_threads: int = 1,
    ) -> None:
        self.cache_dir = cache_dir
        self.min_confidence = min_confidence
        self.max_side = max_side
        self.max_bytes = max_bytes
        self.min_side = min_side
        self.memory_items = memory_items
        self.shared_engine = shared_engine
        self.engine_threads = engine_threads

    def __getstate__(self) -> dict[str, Any]:
        # Parameters only: caches, locks and engines are rebuilt on first use.
        return {k: v for k, v in self.__dict__.items() if k != "state_"}

    # --- state, created on first use ------------------------------------------------
    def _state(self) -> _State:
        state: _State | None = getattr(self, "state_", None)
        if state is None:
            with _INIT_LOCK:
                state = getattr(self, "state_", None)
                if state is None:
                    state = self.state_ = _State()
        return state

    @property
    def ocr_calls_(self) -> int:
        return self._state().ocr_calls

    @property
    def cache_hits_(self) -> int:
        return self._state().hits

    @property
    def cache_misses_(self) -> int:
        return self._state().misses

    # --- public ---------------------------------------------------------------------
    def cached(self, sha256: str) -> ImageText | None:
        """The in-memory answer for ``sha256``, if any (cheap: no disk, no OCR)."""
        state = self._state()
        with state.lock:
            found = state.memory.get(sha256)
            if found is None:
                return None
            state.memory.move_to_end(sha256)
            state.hits += 1
        return ImageText(found.sha256, found.text, found.lines, "memory")

    def cached_bytes(self, image_bytes: bytes) -> ImageText | None:
        """``cached`` by the bytes' hash: lets a caller skip a thread hop on a hit."""
        return self.cached(sha256_of(bytes(image_bytes)))

    def read(self, image_bytes: bytes) -> ImageText:
        """The text in ``image_bytes``; raises ``ImageError`` for anything not readable."""
        if not isinstance(image_bytes, bytes | bytearray):
            raise ImageError(f"expected image bytes, got {type(image_bytes).__name__}")
        if len(image_bytes) > self.max_bytes:
            raise ImageError(f"image is {len(image_bytes)} bytes, over the {self.max_bytes} limit")
        digest = sha256_of(bytes(image_bytes))
        hit = self.cached(digest)
        if hit is not None:
            return hit
        from_disk = self._load_disk(digest)
        if from_disk is not None:
            self._remember(from_disk, hit=True)
            return from_disk
        image = self._decode(bytes(image_bytes))
        lines = self._read_image(image) if min(image.size) >= self.min_side else []
        result = ImageText(digest, _text_of(lines), lines, "ocr")
        self._remember(result, hit=False)
        self._store_disk(result)
        return result

    # --- decoding and OCR -------------------------------------------------------------
    def _decode(self, data: bytes) -> Image.Image:
        try:
            with warnings.catch_warnings():
                # Pillow only warns below twice its pixel limit; refuse those too.
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(data))
            width, height = image.size
            if max(width, height) > self.max_side:
                raise ImageError(
                    f"image is {width}x{height} pixels, over the {self.max_side} pixel limit"
                )
            image.load()
        except UnidentifiedImageError as exc:
            raise ImageError("not an image (Pillow cannot identify the format)") from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(f"image has too many pixels: {exc}") from exc
        except (OSError, SyntaxError) as exc:
            raise ImageError(f"corrupt or unreadable image: {exc}") from exc
        return image.convert("RGB")

    def _read_image(self, image: Image.Image) -> list[Line]:
        width, height = image.size
        if height <= _BAND + _OVERLAP:
            return self._ocr(image)
        lines: list[Line] = []
        top = 0
        while top < height:
            bottom = min(height, top + _BAND + _OVERLAP)
            # A line whose centre falls in the overlap belongs to the band where it is whole.
            keep_from = top + (_OVERLAP // 2 if top else 0)
            keep_to = bottom - (_OVERLAP // 2 if bottom < height else 0)
            for line in self._ocr(image.crop((0, top, width, bottom))):
                box = tuple((x, y + top) for x, y in line.box)
                centre = sum(y for _x, y in box) / len(box) if box else top
                if keep_from <= centre < keep_to:
                    lines.append(Line(line.text, line.confidence, box))
            top += _BAND
        return lines

    def _ocr(self, image: Image.Image) -> list[Line]:
        """The engine call: the only place that runs OCR (tests spy on it)."""
        state = self._state()
        with state.lock:
            state.ocr_calls += 1
        engine = self._engine()
        started = time.perf_counter()
        if self.shared_engine:
            with state.engine_lock:
                result, _elapsed = engine(image, use_cls=False)
        else:
            result, _elapsed = engine(image, use_cls=False)
        logger.debug("OCR of %sx%s took %.3fs", *image.size, time.perf_counter() - started)
        lines = []
        for box, text, score in result or []:
            if float(score) >= self.min_confidence and str(text).strip():
                # Rounded as the cache stores them, so a cached answer equals a fresh one.
                corners = tuple((round(float(x), 1), round(float(y), 1)) for x, y in box)
                lines.append(Line(str(text).strip(), round(float(score), 4), corners))
        return lines

    def _engine(self) -> Any:
        state = self._state()
        if self.shared_engine:
            with state.engine_lock:
                if state.shared is None:
                    state.shared = _make_engine(self.engine_threads)
                return state.shared
        engine = getattr(state.local, "engine", None)
        if engine is None:
            engine = state.local.engine = _make_engine(self.engine_threads)
        return engine

    # --- caches -------------------------------------------------------------------------
    def _remember(self, result: ImageText, *, hit: bool) -> None:
        state = self._state()
        with state.lock:
            if hit:
                state.hits += 1
            else:
                state.misses += 1
            state.memory[result.sha256] = result
            state.memory.move_to_end(result.sha256)
            while len(state.memory) > self.memory_items:
                state.memory.popitem(last=False)

    def _path(self, digest: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / digest[:2] / f"{digest}.json"

    def _load_disk(self, digest: str) -> ImageText | None:
        path = self._path(digest)
        if path is None or not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("v") != CACHE_VERSION or data.get("sha256") != digest:
                return None
            return ImageText.from_json(data, "disk")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring unreadable OCR cache file %s: %s", path, exc)
            return None

    def _store_disk(self, result: ImageText) -> None:
        path = self._path(result.sha256)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(result.to_json(), fh, ensure_ascii=False)
            os.replace(tmp, path)
        except OSError as exc:
            logger.warning("cannot write OCR cache file %s: %s", path, exc)


_INIT_LOCK = threading.Lock()


class _State:
    """A reader's mutable state: caches, counters and engines (never pickled)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.engine_lock = threading.Lock()
        self.memory: OrderedDict[str, ImageText] = OrderedDict()
        self.local = threading.local()
        self.shared: Any = None
        self.hits = 0
        self.misses = 0
        self.ocr_calls = 0


def _make_engine(threads: int) -> Any:
    from rapidocr_onnxruntime import RapidOCR  # heavy: onnxruntime and the models

    started = time.perf_counter()
    # det_limit_side_len 320 (default 736 upscales small images) costs no accuracy on
    # product images and halves the time; the engine's own score filter is left low so
    # min_confidence decides.
    engine = RapidOCR(
        det_limit_side_len=320,
        text_score=0.3,
        intra_op_num_threads=threads,
        inter_op_num_threads=1,
    )
    logger.info("OCR engine ready in %.1fs", time.perf_counter() - started)
    return engine
