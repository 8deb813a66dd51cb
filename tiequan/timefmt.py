"""Stored times (UTC) as officers read them: Asia/Shanghai wall-clock time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tiequan.text import NONE_MARK, clean

MINUTES = "%Y-%m-%d %H:%M"


def shanghai() -> tzinfo:
    try:
        return ZoneInfo("Asia/Shanghai")
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=8), "CST")  # China has no DST


def as_utc(value: datetime) -> datetime:
    # Clients without tz_aware=True hand back naive datetimes that are UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def local_time(value: Any, fmt: str = MINUTES) -> str:
    """A stored time in Asia/Shanghai; anything else as inert text, or "—" when empty."""
    if not isinstance(value, datetime):
        return clean(value) if value else NONE_MARK
    return as_utc(value).astimezone(shanghai()).strftime(fmt)


def local_naive(value: Any) -> datetime | None:
    """Asia/Shanghai wall-clock time without tzinfo, as Excel stores dates."""
    if not isinstance(value, datetime):
        return None
    return as_utc(value).astimezone(shanghai()).replace(tzinfo=None, microsecond=0)
