"""Categories and routing: which unit leads each priority and which units assist."""

from __future__ import annotations

from tiequan.referral.categories import (
    Categories,
    CategoriesError,
    Category,
    load_categories,
)

__all__ = ["Categories", "CategoriesError", "Category", "load_categories"]
