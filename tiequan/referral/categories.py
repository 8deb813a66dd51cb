"""The 18 priorities and who handles them: loads and checks config/categories.yaml.

Besides the priorities, the file routes finding types that go to one unit whatever the goods
(price fraud, under ``finding_types``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from detectors.base import CATEGORY_IDS, CORE_CATEGORIES
from detectors.price import PriceFraudRule, load_price_fraud_rule
from tiequan.configfile import check_schema
from tiequan.settings import REPO_CONFIG_DIR, environment

SCHEMA_PATH = REPO_CONFIG_DIR / "schemas" / "categories.schema.json"
PRICE_FRAUD = "price_fraud"
# The finding types that finding_types routes; every other finding goes by its category.
ROUTED_FINDING_TYPES: tuple[str, ...] = (PRICE_FRAUD,)


class CategoriesError(ValueError):
    """config/categories.yaml is missing, malformed or inconsistent with the code."""


@dataclass(frozen=True)
class Category:
    id: str
    seq: int
    name: str
    lead_unit: str
    co_units: list[str]
    online: bool
    core: bool = False
    lead_unit_key: str = ""
    co_unit_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FindingRoute:
    """A finding type whose leads carry ``category`` (and go to its lead unit) whatever the
    goods; officers see ``name`` in place of the category's name."""

    type: str
    name: str
    category: str
    lead_unit: str
    lead_unit_key: str


class Categories:
    """The categories in seed order, with the unit directory they route to."""

    def __init__(
        self,
        categories: list[Category],
        units: dict[str, str],
        source: Path,
        finding_routes: list[FindingRoute] | None = None,
    ) -> None:
        self._by_id = {c.id: c for c in categories}
        self._order = [c.id for c in categories]
        self.units = dict(units)
        self.source = source
        self._routes = {r.type: r for r in finding_routes or ()}

    def __iter__(self) -> Iterator[Category]:
        return (self._by_id[i] for i in self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, category_id: object) -> bool:
        return category_id in self._by_id

    def get(self, category_id: str) -> Category:
        try:
            return self._by_id[category_id]
        except KeyError:
            raise KeyError(f"unknown category id {category_id!r}") from None

    def route(self, category_id: str) -> tuple[str, list[str]]:
        """The Chinese names of the lead unit and the co-units for a category."""
        cat = self.get(category_id)
        return cat.lead_unit, list(cat.co_units)

    def finding_route(self, finding_type: str) -> FindingRoute:
        """Where leads of ``finding_type`` (e.g. "price_fraud") go; KeyError if not routed."""
        try:
            return self._routes[finding_type]
        except KeyError:
            raise KeyError(f"{self.source}: no finding_types entry for {finding_type!r}") from None

    def unit_name(self, key_or_name: str) -> str | None:
        """Resolve a unit key ("network_ad") or its Chinese name to the Chinese name."""
        if key_or_name in self.units:
            return self.units[key_or_name]
        return key_or_name if key_or_name in self.units.values() else None


def default_path() -> Path:
    return environment().config_dir / "categories.yaml"


def load_categories(path: Path | None = None) -> Categories:
    """Load, schema-validate and cross-check the categories file."""
    path = Path(path) if path is not None else default_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CategoriesError(f"{path}: cannot read file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise CategoriesError(f"{path}: invalid YAML: {exc}") from exc
    _validate_schema(path, raw)
    return _build(path, raw)


def price_fraud_rule(config_dir: Path | None = None) -> PriceFraudRule:
    """The price-fraud rule of ``config_dir`` (default: TIEQUAN_CONFIG_DIR or the repo's):
    article and severity from rules/_price_fraud.yaml, the category from the price_fraud
    routing entry. Raises CategoriesError or detectors.config.ConfigError."""
    path = config_dir / "categories.yaml" if config_dir is not None else default_path()
    route = load_categories(path).finding_route(PRICE_FRAUD)
    directory = config_dir if config_dir is not None else environment().config_dir
    return load_price_fraud_rule(directory, category=route.category)


def _validate_schema(path: Path, raw: Any) -> None:
    check_schema(path, raw, SCHEMA_PATH, CategoriesError)


def _build(path: Path, raw: dict[str, Any]) -> Categories:
    units: dict[str, str] = raw["units"]

    def bad(field_name: str, value: Any, why: str) -> CategoriesError:
        return CategoriesError(f"{path}: field {field_name}: bad value {value!r}: {why}")

    ids = [c["id"] for c in raw["categories"]]
    cats: list[Category] = []
    for i, item in enumerate(raw["categories"]):
        where = f"categories[{i}]"
        if item["id"] != CATEGORY_IDS[i]:
            why = (
                f"expected {CATEGORY_IDS[i]!r} at this position (seed order)"
                if item["id"] in CATEGORY_IDS and ids.count(item["id"]) == 1
                else f"not one of the 18 category ids, expected {CATEGORY_IDS[i]!r}"
            )
            raise bad(f"{where}.id", item["id"], why)
        if item["seq"] != i + 1:
            raise bad(f"{where}.seq", item["seq"], f"expected {i + 1}")
        if item["lead_unit"] not in units:
            raise bad(f"{where}.lead_unit", item["lead_unit"], "not a key under units")
        for j, key in enumerate(item["co_units"]):
            if key not in units:
                raise bad(f"{where}.co_units[{j}]", key, "not a key under units")
            if key == item["lead_unit"]:
                raise bad(f"{where}.co_units[{j}]", key, "the lead unit cannot also be a co-unit")
        core = bool(item.get("core", False))
        if core != (item["id"] in CORE_CATEGORIES):
            raise bad(f"{where}.core", item.get("core"), "disagrees with detectors.base")
        cats.append(
            Category(
                id=item["id"],
                seq=item["seq"],
                name=item["name"],
                lead_unit=units[item["lead_unit"]],
                co_units=[units[k] for k in item["co_units"]],
                online=item["online"],
                core=core,
                lead_unit_key=item["lead_unit"],
                co_unit_keys=list(item["co_units"]),
            )
        )
    routes: list[FindingRoute] = []
    lead_keys = {c.id: c.lead_unit_key for c in cats}
    for i, item in enumerate(raw["finding_types"]):
        where = f"finding_types[{i}]"
        if item["type"] not in ROUTED_FINDING_TYPES:
            why = f"not a finding type routed apart, expected one of {list(ROUTED_FINDING_TYPES)}"
            raise bad(f"{where}.type", item["type"], why)
        if item["type"] in {r.type for r in routes}:
            raise bad(f"{where}.type", item["type"], "routed twice")
        if item["category"] not in lead_keys:
            raise bad(f"{where}.category", item["category"], "not one of the 18 category ids")
        if item["lead_unit"] != lead_keys[item["category"]]:
            why = f"the lead unit of {item['category']} is {lead_keys[item['category']]!r}"
            raise bad(f"{where}.lead_unit", item["lead_unit"], why)
        routes.append(
            FindingRoute(
                type=item["type"],
                name=item["name"],
                category=item["category"],
                lead_unit=units[item["lead_unit"]],
                lead_unit_key=item["lead_unit"],
            )
        )
    missing = [t for t in ROUTED_FINDING_TYPES if t not in {r.type for r in routes}]
    if missing:
        raise bad("finding_types", [r.type for r in routes], f"no entry for {missing[0]!r}")
    return Categories(cats, units, path, routes)
