"""The queue filter as the queue page's operations carry it: in forms, links and Chinese.

Bulk actions, claims, saved views and downloads all act on "the leads the current filter
selects"; the filter travels as hidden form fields or query parameters (``QueueFilter.params``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from tiequan.referral import Categories
from tiequan.web.views import QueueFilter

LABELS = (
    ("category", "类别"),
    ("unit", "牵头单位"),
    ("bureau", "属地局"),
    ("status", "状态"),
    ("min_score", "最低分值"),
    ("platform", "平台"),
    ("source", "来源"),
    ("severity", "建议处置"),
    ("claimed_by", "认领人"),
    ("date_from", "发现日期起"),
    ("date_to", "发现日期止"),
)


def form_filter(form: Mapping[str, Any]) -> QueueFilter:
    """The filter a posted form carries (its text fields; uploads are ignored)."""
    return QueueFilter.from_params({k: v for k, v in form.items() if isinstance(v, str)})


def filter_params(f: QueueFilter) -> dict[str, str]:
    """The filter and sort, without the page: what selects the whole set."""
    return f.params(page="")


def queue_link(f: QueueFilter) -> str:
    return "/leads?" + urlencode(filter_params(f))


def describe(f: QueueFilter, categories: Categories | None = None) -> str:
    """The filter in a line of Chinese, e.g. "类别 声称减肥、壮阳等食品非法添加；状态 待研判"."""
    params = filter_params(f)
    if categories is not None:
        if f.category in categories:
            params["category"] = categories.get(f.category).name
        if f.unit:
            params["unit"] = categories.unit_name(f.unit) or f.unit
    parts = [f"{label} {params[name]}" for name, label in LABELS if name in params]
    return "；".join(parts) or "全部线索"
