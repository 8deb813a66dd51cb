"""Per online category: sentences the detector must flag, and sentences it must leave alone.

The sentences live in ``tests/data/sentences/<category>.yaml``, written in the style of
the reference set (``config/reference/``) from its training and development splits:
sellers' claims in their many wordings, and regulations, news, warnings, advice and
compliant listings that use the same words. A ``must_flag`` entry passes when the combined
detector reports its category (another category beside it is allowed); a
``must_not_flag`` entry passes only when the detector reports nothing at all. An entry
with ``known: <why>`` is a failure the detector is known to make: it is expected to fail
(strictly, so the mark must go once it passes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from detectors.base import NO_CONTEXT, ListingContext, join_title
from detectors.combine import ListingDetector
from tiequan.corpus.reference import ONLINE_CATEGORIES

SENTENCES = Path(__file__).parent / "data" / "sentences"
MIN_PER_SIDE = 10


def _entry(raw: Any) -> tuple[str, ListingContext, str]:
    if isinstance(raw, str):
        return raw, NO_CONTEXT, ""
    context = raw.get("context") or {}
    text, _ = join_title(raw.get("title", ""), raw["text"])
    listing = ListingContext(
        site_kind=context.get("site_kind", ""),
        category=context.get("category", ""),
        shop=context.get("shop", ""),
        hints=tuple(context.get("hints", ())),
    )
    return text, listing, str(raw.get("known", ""))


def _load(category: str) -> dict[str, list[tuple[str, ListingContext, str]]]:
    data = yaml.safe_load((SENTENCES / f"{category}.yaml").read_text(encoding="utf-8"))
    assert data["category"] == category
    return {side: [_entry(e) for e in data[side]] for side in ("must_flag", "must_not_flag")}


def _cases(side: str) -> list[Any]:
    return [
        pytest.param(
            category,
            text,
            context,
            id=f"{category}-{i}",
            marks=[pytest.mark.xfail(strict=True, reason=known)] if known else [],
        )
        for category in ONLINE_CATEGORIES
        for i, (text, context, known) in enumerate(_load(category)[side])
    ]


@pytest.fixture(scope="module")
def detector() -> ListingDetector:
    return ListingDetector.from_config()


@pytest.mark.parametrize("category", ONLINE_CATEGORIES)
def test_every_online_category_has_enough_sentences(category: str) -> None:
    sides = _load(category)
    for side in ("must_flag", "must_not_flag"):
        assert sum(1 for _t, _c, known in sides[side] if not known) >= MIN_PER_SIDE


@pytest.mark.parametrize(("category", "text", "context"), _cases("must_flag"))
def test_claims_are_flagged(
    detector: ListingDetector, category: str, text: str, context: ListingContext
) -> None:
    found = {f.category for f in detector.detect(text, context=context)}
    assert category in found, f"{text!r}: found {sorted(found)}"


@pytest.mark.parametrize(("category", "text", "context"), _cases("must_not_flag"))
def test_hard_negatives_stay_quiet(
    detector: ListingDetector, category: str, text: str, context: ListingContext
) -> None:
    found = [(f.category, round(f.score, 2)) for f in detector.detect(text, context=context)]
    assert not found, f"{text!r}: flagged {found}"
