"""Text built to break the normaliser and the detector: surrogates, huge numeral runs."""

from __future__ import annotations

import json

from detectors import Detector
from detectors.clean import repair_text
from detectors.normalize import normalize
from detectors.numerals import numeral_replacements


def test_numeral_runs_beyond_any_claim_are_left_alone() -> None:
    # Before: int() of a 5,000-digit string raised ValueError inside the detector.
    text = "一" * 5000 + "天"
    assert numeral_replacements(text) == (text, [])
    converted, _ = numeral_replacements("零" * 100_000 + "，三天瘦十斤")
    assert converted.endswith("，3天瘦10斤") and converted.startswith("零" * 100_000)


def test_detector_reads_text_with_lone_surrogates() -> None:
    detector = Detector.from_config()
    text = json.loads('"\\u4e09\\u5929\\ud800\\u7626\\u5341\\u65a4\\uff0c\\u6708\\u7626"')
    findings = detector.detect(text)
    assert [f.category for f in findings] == ["slimming_aphrodisiac"]
    assert normalize("\udfff瘦").text == "\ufffd瘦"
    assert detector.detect("\ud800" * 1000) == []


def test_repair_text_counts_what_it_replaced() -> None:
    assert repair_text("正常文本\n\t") == ("正常文本\n\t", 0)
    assert repair_text("a\ud800b\x00c\x7f") == ("a\ufffdb\ufffdc\ufffd", 3)
