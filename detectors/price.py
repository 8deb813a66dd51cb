"""Price signals, as pure functions: goods priced below their market floor, fake 原价.

* ``below_floor_finding``: a listing that claims cashmere, pure wool or a luxury brand
  at a price far below what that costs (floors are data: config/rules/price_floors.yaml).
* ``price_fraud_finding``: a crossed-out "original" price far above the price and never
  seen as the price actually charged (价格欺诈), reported as its own finding type (its
  article and severity are data: config/rules/_price_fraud.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ahocorasick_rs
import yaml

from detectors.base import CATEGORY_IDS, Finding
from detectors.config import PRICE_FLOORS_FILE, SEVERITIES, ConfigError, load_yaml
from detectors.normalize import Normalized, normalize

PRICE_FRAUD_FILE = "_price_fraud.yaml"
MARKUP_RATIO = 1.5  # an original price at least this many times the price is "far above"
SEEN_TOLERANCE = 0.95  # a past price within 5% of the original price counts as charged


@dataclass(frozen=True)
class PriceFloor:
    kind: str
    name: str
    category: str
    keywords: tuple[str, ...]
    floor: float
    article: str
    context: tuple[str, ...] = ()
    basis: str = ""


@dataclass(frozen=True)
class PriceFraudRule:
    """What a price-fraud finding cites (rules/_price_fraud.yaml) and the category it carries
    when nothing tells the goods' own: the one its routing names (categories.yaml, read by
    tiequan.referral, which builds this rule)."""

    article: str
    severity: str
    category: str


def load_price_fraud_rule(config_dir: Path, *, category: str) -> PriceFraudRule:
    """The rule from rules/_price_fraud.yaml, carrying ``category``. Raises ConfigError."""
    path = config_dir / "rules" / PRICE_FRAUD_FILE
    try:
        data: Any = load_yaml(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, "(file)", None, f"cannot read it: {exc.strerror}") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "(yaml)", None, f"not valid UTF-8 YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(path, "(top level)", data, "expected a mapping")
    unknown = sorted(set(data) - {"description", "article", "severity"}, key=str)
    if unknown:
        raise ConfigError(path, str(unknown[0]), data[unknown[0]], "unknown field")
    article, severity = data.get("article"), data.get("severity")
    if not isinstance(article, str) or not article.strip():
        raise ConfigError(path, "article", article, "must be the article text")
    if severity not in SEVERITIES:
        raise ConfigError(path, "severity", severity, f"must be one of {', '.join(SEVERITIES)}")
    if category not in CATEGORY_IDS:
        raise ConfigError(path, "category", category, "the routing names no category id")
    return PriceFraudRule(article=article.strip(), severity=severity, category=category)


def load_price_floors(config_dir: Path) -> list[PriceFloor]:
    """Floors from rules/price_floors.yaml; [] when the file is absent. Raises ValueError."""
    path = config_dir / "rules" / PRICE_FLOORS_FILE
    if not path.is_file():
        return []
    data: Any = load_yaml(path.read_text(encoding="utf-8"))
    floors: list[PriceFloor] = []
    for i, entry in enumerate((data or {}).get("floors", [])):
        where = f"{path}: floors[{i}]"
        try:
            floor = PriceFloor(
                kind=str(entry["kind"]),
                name=str(entry["name"]),
                category=str(entry["category"]),
                keywords=tuple(normalize(k).text for k in entry["keywords"]),
                floor=float(entry["floor"]),
                article=str(entry["article"]),
                context=tuple(normalize(c).text for c in entry.get("context", ())),
                basis=str(entry.get("basis", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: bad entry ({exc!r})") from exc
        if floor.category not in CATEGORY_IDS or floor.floor <= 0 or not all(floor.keywords):
            raise ValueError(f"{where}: bad category, floor or keyword: {entry!r}")
        floors.append(floor)
    return floors


def _find_word(text: str, keyword: str) -> int:
    """First index of ``keyword``; a latin keyword (lv) must not sit inside a latin word."""
    at = text.find(keyword)
    while at >= 0:
        before = text[at - 1] if at else " "
        after = text[at + len(keyword)] if at + len(keyword) < len(text) else " "
        if not (keyword[0].isascii() and before.isascii() and before.isalnum()) and not (
            keyword[-1].isascii() and after.isascii() and after.isalpha()
        ):
            return at
        at = text.find(keyword, at + 1)
    return -1


def below_floor_finding(
    text: str,
    price: float | None,
    floors: Sequence[PriceFloor],
    norm: Normalized | None = None,
) -> Finding | None:
    """The strongest floor a claim in ``text`` breaks at ``price``, as a finding; else None.

    ``norm`` is ``normalize(text)`` when the caller has it already.
    """
    if price is None or price <= 0 or not floors or price >= max(f.floor for f in floors):
        return None
    if norm is None:
        norm = normalize(text)
    best: tuple[float, PriceFloor, int, str] | None = None
    for floor in floors:
        if price >= floor.floor:
            continue
        if floor.context and not any(c in norm.text for c in floor.context):
            continue
        for keyword in floor.keywords:
            if keyword not in norm.text:
                continue
            at = _find_word(norm.text, keyword)
            if at < 0:
                continue
            # Half the floor scores 0.75; a tenth of it 0.87.
            score = min(0.9, 0.6 + 0.3 * (1.0 - price / floor.floor))
            if best is None or score > best[0]:
                best = (score, floor, at, keyword)
            break
    if best is None:
        return None
    score, floor, at, keyword = best
    span = norm.original_span(at, at + len(keyword))
    return Finding(
        category=floor.category,
        score=score,
        article=floor.article,
        spans=[span],
        explanation=(
            f"标称“{text[span[0] : span[1]]}”的商品售价{price:g}元，远低于{floor.name}的"
            f"市场价格底线{floor.floor:g}元，涉嫌以假充真或销售假冒商品，违反{floor.article}"
        ),
        matched=[text[span[0] : span[1]]],
        severity="立案",
    )


class FloorCheck:
    """``below_floor_finding`` over fixed floors, with the cheap exits taken first.

    Most listings are priced above every floor or name none of the floors' keywords; one
    comparison and one automaton pass settle those without the per-floor loop.
    """

    def __init__(self, floors: Sequence[PriceFloor]) -> None:
        self.floors = tuple(floors)
        self.ceiling = max((f.floor for f in self.floors), default=0.0)
        keywords = sorted({k for f in self.floors for k in f.keywords})
        self._keywords = ahocorasick_rs.AhoCorasick(keywords) if keywords else None

    def finding(
        self, text: str, price: float | None, norm: Normalized | None = None
    ) -> Finding | None:
        if price is None or price >= self.ceiling or self._keywords is None:
            return None
        if norm is None:
            norm = normalize(text)
        if not self._keywords.find_matches_as_indexes(norm.text):
            return None
        return below_floor_finding(text, price, self.floors, norm)


def price_fraud_finding(
    price: float | None,
    original_price: float | None,
    observed_prices: Sequence[float] | None,
    *,
    rule: PriceFraudRule,
    category: str | None = None,
    evidence: Mapping[str, float] | None = None,
) -> Finding | None:
    """A 价格欺诈 finding when the crossed-out original price looks fictitious; else None.

    Flags an ``original_price`` at least ``MARKUP_RATIO`` times ``price`` that never
    appears (within 5%) among ``observed_prices``, the prices this listing was actually
    offered at in earlier captures. Without a history (None or empty) the claim cannot
    be checked, so the finding scores only 0.5 and says so. The category is the
    listing's product area when known, else the category with the most rule evidence,
    else the rule's (the one that handles prices).
    """
    if price is None or original_price is None or price <= 0:
        return None
    if original_price < price * MARKUP_RATIO:
        return None
    history = [p for p in observed_prices or () if p > 0]
    if any(p >= original_price * SEEN_TOLERANCE for p in history):
        return None  # the original price was really charged at some point
    if category is None and evidence:
        category = max(evidence, key=lambda c: (evidence[c], -CATEGORY_IDS.index(c)))
    ratio = original_price / price
    if history:
        score = min(0.95, 0.7 + 0.05 * ratio)
        basis = f"而历史采集的{len(history)}次实际售价最高仅{max(history):g}元，从未按原价销售"
    else:
        score = 0.5
        basis = "尚无历史售价记录可证明曾按该原价销售，需核查"
    return Finding(
        category=category or rule.category,
        score=score,
        article=rule.article,
        explanation=(
            f"标示划线原价{original_price:g}元，为现价{price:g}元的{ratio:.1f}倍，{basis}，"
            f"涉嫌虚构原价进行价格欺诈，违反{rule.article}"
        ),
        severity=rule.severity,
        kind="price_fraud",
    )
