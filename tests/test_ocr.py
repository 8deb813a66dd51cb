"""OCR of product images (detectors.ocr): real rapidocr on Pillow-rendered Chinese text."""

from __future__ import annotations

import io
import json
import pickle
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from detectors import Detector
from detectors.ocr import ImageError, ImageText, ImageTextReader, sha256_of

FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


def render(lines: list[str], size: tuple[int, int] = (640, 260), top: int = 40) -> bytes:
    image = Image.new("RGB", size, (255, 250, 240))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 34)
    for k, line in enumerate(lines):
        draw.text((40, top + 56 * k), line, fill=(150, 20, 20), font=font)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


class Spy:
    """Counts the reader's engine calls while letting the real OCR run."""

    def __init__(self, reader: ImageTextReader) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        real: Callable[..., Any] = reader._ocr

        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls += 1
            return real(*args, **kwargs)

        reader._ocr = counted  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector.from_config().compile()


@pytest.fixture(scope="module")
def claim_png() -> bytes:
    return render(["纤体咖啡", "三天瘦十斤，不反弹"])


def test_reads_a_chinese_claim_and_the_detector_flags_it(
    claim_png: bytes, detector: Detector
) -> None:
    result = ImageTextReader().read(claim_png)
    assert isinstance(result, ImageText)
    assert result.sha256 == sha256_of(claim_png)
    assert "纤体咖啡" in result.text
    assert "瘦十斤" in result.text.replace(" ", "")
    assert [line.text for line in result.lines] == result.text.split("\n")
    assert all(0.5 <= line.confidence <= 1.0 and len(line.box) == 4 for line in result.lines)
    assert result.lines[0].box[0][1] < result.lines[1].box[0][1]  # top to bottom
    categories = {f.category for f in detector.detect(result.text)}
    assert "slimming_aphrodisiac" in categories


def test_cache_avoids_a_second_ocr_in_memory_and_on_disk(claim_png: bytes, tmp_path: Path) -> None:
    reader = ImageTextReader(cache_dir=tmp_path)
    spy = Spy(reader)
    first = reader.read(claim_png)
    second = reader.read(claim_png)
    assert spy.calls == 1
    assert (first.source, second.source) == ("ocr", "memory")
    assert second == first
    assert (reader.cache_misses_, reader.cache_hits_) == (1, 1)
    files = list(tmp_path.rglob("*.json"))
    assert [f.name for f in files] == [f"{first.sha256}.json"]
    assert json.loads(files[0].read_text(encoding="utf-8"))["text"] == first.text
    assert not list(tmp_path.rglob(".tmp-*")), "atomic write left a temporary file"

    later = ImageTextReader(cache_dir=tmp_path)  # the next sweep
    later_spy = Spy(later)
    again = later.read(claim_png)
    assert later_spy.calls == 0
    assert again.source == "disk" and again == first


def test_memory_cache_is_bounded(tmp_path: Path) -> None:
    reader = ImageTextReader(memory_items=1, min_side=10_000)  # min_side: skip the OCR
    a, b = render(["甲"]), render(["乙"])
    reader.read(a)
    reader.read(b)
    assert reader.cached(sha256_of(b)) is not None
    assert reader.cached(sha256_of(a)) is None


def test_tiny_images_are_not_read() -> None:
    reader = ImageTextReader()
    spy = Spy(reader)
    result = reader.read(render(["小"], size=(30, 30), top=0))
    assert result.text == "" and result.lines == []
    assert spy.calls == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html>not an image</html>", "not an image"),
        (b"", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image"),
    ],
)
def test_non_images_give_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        ImageTextReader().read(data)


def test_truncated_image_gives_a_clear_error(claim_png: bytes) -> None:
    with pytest.raises(ImageError, match="corrupt"):
        ImageTextReader().read(claim_png[: len(claim_png) // 2])


def test_oversize_images_are_refused(claim_png: bytes) -> None:
    with pytest.raises(ImageError, match="640x260 pixels, over the 500 pixel limit"):
        ImageTextReader(max_side=500).read(claim_png)
    with pytest.raises(ImageError, match="over the 100 limit"):
        ImageTextReader(max_bytes=100).read(claim_png)


@pytest.mark.parametrize("limit", [50_000, 100_000])  # Pillow's error and its warning
def test_pixel_bombs_are_refused(
    claim_png: bytes, limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(ImageError, match="too many pixels"):
        ImageTextReader().read(claim_png)


def test_reader_pickles_without_its_engines(claim_png: bytes) -> None:
    reader = ImageTextReader(min_confidence=0.7)
    reader.read(claim_png)
    copy = pickle.loads(pickle.dumps(reader))
    assert copy.min_confidence == 0.7
    assert copy.cache_misses_ == 0  # fresh caches and counters


def test_tall_images_are_read_in_bands_without_loss_or_repeats() -> None:
    # Lines at the top, across the first band boundary (1600 px) and at the bottom.
    image = Image.new("RGB", (640, 3400), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 34)
    for y, text in ((60, "祖传秘方"), (1590, "根治糖尿病"), (3300, "无效退款")):
        draw.text((40, y), text, fill=(0, 0, 0), font=font)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    result = ImageTextReader().read(buf.getvalue())
    assert result.text.split("\n") == ["祖传秘方", "根治糖尿病", "无效退款"]
    assert result.lines[1].box[0][1] == pytest.approx(1590, abs=20)


def test_concurrent_reads_match_sequential_reads() -> None:
    images = [render([f"第{k}号商品", "祖传秘方根治糖尿病"]) for k in range(4)]
    sequential = [ImageTextReader().read(png).text for png in images]
    reader = ImageTextReader()
    spy = Spy(reader)
    with ThreadPoolExecutor(max_workers=2) as pool:
        parallel = [r.text for r in pool.map(reader.read, images)]
    assert parallel == sequential
    assert spy.calls == 4
    assert reader.cache_misses_ == 4
