"""Per-profile health rules and the monitors' thresholds, read once from Scrapy settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scrapy.settings import BaseSettings

from crawlers.profile_model import COVERAGE_FIELDS, SiteProfile
from tiequan.settings import float_setting, int_setting

# Spidermon names coverage stats after the item class (crawlers.items.Listing).
ITEM_TYPE = "Listing"
# The licence is a nested dataclass, which Spidermon does not descend into: the health
# extension counts the credit code under this key itself.
LICENCE_KEY = "licence/credit_code"
# Default minimum coverage of a field the profile extracts. A layout change usually empties
# a field on every page of one template, so a share well under the usual level is a signal;
# fields that many genuine listings lack (a strike-through price, a licence) get low floors.
DEFAULT_COVERAGE = {
    "title": 0.95,
    "text": 0.5,
    "price": 0.9,
    "shop_name": 0.5,
    "licence": 0.2,
}
# Profile field names that fill another Listing field.
_PROFILE_FIELD = {"licence": "credit_code"}


def extracted_fields(profile: SiteProfile) -> set[str]:
    """The Listing fields the profile's selectors (or JSON paths) fill."""
    names: set[str] = set()
    if profile.item is not None:
        names |= set(profile.item.fields)
    if profile.listing is not None and profile.listing.inline_items is not None:
        names |= set(profile.listing.inline_items.fields)
    if profile.api is not None:
        names |= set(profile.api.fields) | set(profile.api.licence_fields)
    if profile.licence is not None:
        names |= set(profile.licence.fields)
    return {f for f in COVERAGE_FIELDS if _PROFILE_FIELD.get(f, f) in names}


def coverage_rules(profile: SiteProfile) -> dict[str, float]:
    """Minimum coverage per Listing field: the defaults for what the profile extracts,
    then the profile's own health.field_coverage (0 drops a rule)."""
    found = extracted_fields(profile)
    rules = {f: v for f, v in DEFAULT_COVERAGE.items() if f in found}
    rules.update(profile.health.field_coverage)
    return {f: v for f, v in rules.items() if v > 0}


def coverage_key(field: str) -> str:
    """The key of a field in SPIDERMON_FIELD_COVERAGE_RULES (and in the coverage stats)."""
    return f"{ITEM_TYPE}/{LICENCE_KEY if field == 'licence' else field}"


def health_settings(profile: SiteProfile) -> dict[str, Any]:
    """The spider-level Spidermon settings of one profile."""
    rules = {coverage_key(f): v for f, v in sorted(coverage_rules(profile).items())}
    return {"SPIDERMON_FIELD_COVERAGE_RULES": rules}


@dataclass(frozen=True)
class HealthThresholds:
    runs_compared: int
    min_items_ratio: float
    max_error_rate: float
    max_retry_rate: float
    max_429_rate: float
    max_robots_share: float
    db_timeout_ms: int  # reading the site's earlier runs waits no longer than a write

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> HealthThresholds:
        return cls(
            runs_compared=int_setting(settings, "TIEQUAN_HEALTH_RUNS_COMPARED", 1, 100),
            min_items_ratio=float_setting(settings, "TIEQUAN_HEALTH_MIN_ITEMS_RATIO", 0, 1),
            max_error_rate=float_setting(settings, "TIEQUAN_HEALTH_MAX_ERROR_RATE", 0, 1),
            max_retry_rate=float_setting(settings, "TIEQUAN_HEALTH_MAX_RETRY_RATE", 0, 100),
            max_429_rate=float_setting(settings, "TIEQUAN_HEALTH_MAX_429_RATE", 0, 1),
            max_robots_share=float_setting(settings, "TIEQUAN_HEALTH_MAX_ROBOTS_SHARE", 0, 1),
            db_timeout_ms=round(1000 * float_setting(settings, "TIEQUAN_DB_TIMEOUT", 0.001, 600)),
        )
