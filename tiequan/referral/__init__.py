"""Categories and routing: which unit leads each priority and which units assist."""

from __future__ import annotations

from tiequan.referral.categories import (
    Categories,
    CategoriesError,
    Category,
    FindingRoute,
    load_categories,
    price_fraud_rule,
)

__all__ = [
    "Categories",
    "CategoriesError",
    "Category",
    "FindingRoute",
    "load_categories",
    "price_fraud_rule",
]
