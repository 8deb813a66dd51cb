"""tiequan.web.cache: a stale copy is served while one refresh runs."""

from __future__ import annotations

import threading

import pytest

from tiequan.web.cache import Refreshing


def test_a_fresh_copy_is_served_without_computing_again() -> None:
    calls: list[str] = []

    def compute(key: str, value: int) -> int:
        calls.append(key)
        return value

    cache: Refreshing[int] = Refreshing(max_age=3600)
    assert cache.get("a", lambda: compute("a", 1)) == 1
    assert cache.get("a", lambda: compute("a", 2)) == 1
    assert cache.get("b", lambda: compute("b", 3)) == 3
    assert calls == ["a", "b"]


def test_a_stale_copy_is_served_while_one_thread_refreshes() -> None:
    cache: Refreshing[int] = Refreshing(max_age=0.0)
    cache.get("k", lambda: 1)
    release, started = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow() -> int:
        calls.append(2)
        started.set()
        release.wait(10)
        return 2

    assert cache.get("k", slow) == 1  # stale: served at once, refresh started
    assert started.wait(10)
    assert cache.get("k", slow) == 1  # still refreshing: no second refresh
    release.set()
    for _ in range(200):
        if cache.entries["k"].value == 2:
            break
        threading.Event().wait(0.01)
    assert cache.entries["k"].value == 2 and calls == [2]


def test_a_failed_first_read_raises_and_a_failed_refresh_keeps_the_copy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache: Refreshing[int] = Refreshing(max_age=0.0, size=2)

    def broken() -> int:
        raise RuntimeError("database away")

    with pytest.raises(RuntimeError):
        cache.get("k", broken)
    cache.get("k", lambda: 1)
    cache.background("k", broken)
    assert cache.entries["k"].value == 1 and not cache.entries["k"].refreshing
    assert "database away" in caplog.text
    cache.get("x", lambda: 5)
    cache.get("y", lambda: 6)
    assert list(cache.entries) == ["x", "y"]  # the least recently used key dropped
