"""Price history: the prices each listing was really offered at in earlier captures.

A crossed-out "original" price (划线价, 被比较价格) must be a real price: under
《明码标价和禁止价格欺诈规定》(2022) 第十六条 it may not exceed the lowest price the
seller charged in the seven days before the price comparison began (or, without sales in
those days, the last price before it). Every capture records the price and crossed-out
price of its sighting, so the history of a listing shows whether the crossed-out price
was ever charged.

The detect stage reads one platform's history once per crawl, in a worker thread, into a
compact in-memory index (distinct prices with their counts and the distinct crossed-out
prices seen, per listing) with a cap on the number of listings. A listing left out by
the cap simply has no history, which can only cost a finding, never invent one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo.collection import Collection

from tiequan.storage.connect import open_database
from tiequan.storage.store import CAPTURES

log = logging.getLogger(__name__)

CENT = 0.005  # prices within half a cent are the same price
_FETCH_BATCH = 5000


@dataclass(frozen=True, slots=True)
class ListingPrices:
    """One listing's sightings: (price, times seen) ascending, and the crossed-out prices
    shown (None for sightings without one)."""

    prices: tuple[tuple[float, int], ...]
    originals: tuple[float | None, ...]

    def observed(self) -> list[float]:
        """Every sighting's price (a price seen three times appears three times)."""
        return [price for price, n in self.prices for _ in range(n)]


@dataclass
class PriceHistory:
    """The price history of one platform's listings, captured in ``[since, until)``."""

    platform: str
    since: datetime
    until: datetime
    listings: dict[str, ListingPrices] = field(default_factory=dict)
    captures: int = 0
    skipped_captures: int = 0  # captures of listings left out by the listing cap

    def observed_prices(self, key: str, original_price: float) -> list[float] | None:
        """The prices listing ``key`` was offered at, if they can settle its comparison.

        None when the listing has no earlier capture, or when every earlier capture
        already showed this crossed-out price: the comparison began before anything was
        observed, so the prices that decide (those before it began) are unknown.
        """
        record = self.listings.get(key)
        if record is None:
            return None
        if all(o is not None and abs(o - original_price) < CENT for o in record.originals):
            return None
        return record.observed()


def _price(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return round(float(value), 2)


def build_price_history(
    captures: Collection[dict[str, Any]],
    platform: str,
    *,
    until: datetime,
    days: float,
    max_listings: int,
) -> PriceHistory:
    """Read ``platform``'s captures of the ``days`` before ``until`` into a PriceHistory.

    At most ``max_listings`` listings are kept; later listings are skipped whole, so a
    listing's history is either complete for the window or absent.
    """
    since = until - timedelta(days=days)
    history = PriceHistory(platform=platform, since=since, until=until)
    counts: dict[str, dict[float, int]] = {}
    originals: dict[str, set[float | None]] = {}
    cursor = captures.find(
        {"platform": platform, "recorded_at": {"$gte": since, "$lt": until}, "price": {"$gt": 0}},
        {"_id": 0, "listing_id": 1, "price": 1, "original_price": 1},
        batch_size=_FETCH_BATCH,
    )
    for doc in cursor:
        price = _price(doc.get("price"))
        key = doc.get("listing_id")
        if price is None or not isinstance(key, str):
            continue
        seen = counts.get(key)
        if seen is None:
            if len(counts) >= max_listings:
                history.skipped_captures += 1
                continue
            seen = counts[key] = {}
            originals[key] = set()
        seen[price] = seen.get(price, 0) + 1
        originals[key].add(_price(doc.get("original_price")))
        history.captures += 1
    history.listings = {
        key: ListingPrices(tuple(sorted(seen.items())), tuple(originals[key]))
        for key, seen in counts.items()
    }
    if history.skipped_captures:
        log.warning(
            "price history of %s capped at %d listings; %d captures left out",
            platform, max_listings, history.skipped_captures,
        )  # fmt: skip
    return history


def load_price_history(
    uri: str | None,
    home: Path | None,
    platform: str,
    *,
    until: datetime,
    days: float,
    max_listings: int,
) -> PriceHistory:
    """Open the database (as the store stage does), read the history, close it again."""
    with open_database(uri, home) as db:
        return build_price_history(
            db[CAPTURES], platform, until=until, days=days, max_listings=max_listings
        )
