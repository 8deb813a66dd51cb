"""Figures that cost a read of many leads, served from a copy at most ``max_age`` old.

A copy older than ``max_age`` is still served while one thread computes a fresh one, so no
request waits but the first for its key. cachetools' TTL caches drop an expired entry,
which makes the next request wait for the whole read again; serving the stale copy while
one refresh runs is the point here, so this is written out (a lock, a dict, a thread).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from time import monotonic
from typing import Generic, TypeVar

V = TypeVar("V")
log = logging.getLogger(__name__)


@dataclass
class Entry(Generic[V]):
    value: V
    read_at: float
    refreshing: bool = False


class Refreshing(Generic[V]):
    """Values per key, each computed again in the background once older than ``max_age``;
    at most ``size`` keys, the least recently used dropped first."""

    def __init__(self, max_age: float, size: int = 32) -> None:
        self.max_age = max_age
        self.size = size
        self.entries: OrderedDict[Hashable, Entry[V]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self.lock:
            entry = self.entries.get(key)
            start = False
            if entry is not None:
                self.entries.move_to_end(key)
                start = monotonic() - entry.read_at > self.max_age and not entry.refreshing
                entry.refreshing = entry.refreshing or start
        if entry is None:
            return self.refresh(key, compute)
        if start:
            threading.Thread(target=self.background, args=(key, compute), daemon=True).start()
        return entry.value

    def background(self, key: Hashable, compute: Callable[[], V]) -> None:
        try:
            self.refresh(key, compute)
        except Exception as exc:  # the stale copy stays served; the database may be away
            log.warning("could not refresh %r: %s", key, exc)

    def refresh(self, key: Hashable, compute: Callable[[], V]) -> V:
        try:
            value = compute()
        except Exception:
            with self.lock:
                if key in self.entries:
                    self.entries[key].refreshing = False  # the next request tries again
            raise
        with self.lock:
            self.entries[key] = Entry(value, monotonic())
            self.entries.move_to_end(key)
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return value
