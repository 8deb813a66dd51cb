"""A circuit breaker per database: after one outage, writers stop waiting on every batch.

The first write that fails for want of a server opens the breaker. While it is open,
``allow`` answers False at once (the caller spools), except every ``probe_seconds``, when
one caller probes the server (a ping, in its own thread) and closes the breaker if it
answered. One breaker per database address is shared by every writer of the process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

DEFAULT_PROBE_SECONDS = 5.0
FORCE_GAP = 1.0


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        probe_seconds: float = DEFAULT_PROBE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.probe_seconds = probe_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._probing = threading.Lock()
        self._opened_at: float | None = None
        self._next_probe = 0.0
        self._last_probe = float("-inf")
        self._closed_seconds = 0.0  # outage time of the outages already over
        self.outages = 0

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def outage_seconds(self) -> float:
        """Seconds the breaker has been open, over the life of the process."""
        with self._lock:
            current = 0.0 if self._opened_at is None else self._clock() - self._opened_at
            return self._closed_seconds + current

    def trip(self, reason: str) -> None:
        """A write failed because the database is away: open (if not open already)."""
        with self._lock:
            now = self._clock()
            self._next_probe = now + self.probe_seconds
            if self._opened_at is not None:
                return
            self._opened_at = now
            self.outages += 1
        log.warning(
            "数据库 %s 不可用（%s）：写入暂存区，每 %g 秒探测一次",
            self.name, reason[:200], self.probe_seconds,
        )  # fmt: skip

    def allow(self, probe: Callable[[], bool], *, force: bool = False) -> bool:
        """True when a write may go to the database; ``probe`` tells if the server answers.

        ``force`` (a stage's last batches) probes now rather than on the schedule, unless
        a probe failed within the last ``FORCE_GAP`` seconds.
        """
        with self._lock:
            if self._opened_at is None:
                return True
            now = self._clock()
            due = now >= self._next_probe or (force and now >= self._last_probe + FORCE_GAP)
            if not due:
                return False
        # Writers arriving while another probes: the last batches wait for its answer,
        # the others go to the spool at once.
        if not self._probing.acquire(blocking=force):
            return False
        try:
            with self._lock:
                if self._opened_at is None:
                    return True  # the probe we waited for found the server
                if self._clock() < self._last_probe + FORCE_GAP:
                    return False  # ... or did not
            answered = probe()
            with self._lock:
                self._last_probe = self._clock()
                self._next_probe = self._last_probe + self.probe_seconds
            if answered:
                self.reset()
            return answered
        finally:
            self._probing.release()

    def reset(self) -> None:
        with self._lock:
            if self._opened_at is None:
                return
            seconds = self._clock() - self._opened_at
            self._closed_seconds += seconds
            self._opened_at = None
        log.warning("数据库 %s 已恢复（中断约 %.1f 秒）", self.name, seconds)


_BREAKERS: dict[str, CircuitBreaker] = {}
_REGISTRY_LOCK = threading.Lock()


def breaker_for(name: str, probe_seconds: float = DEFAULT_PROBE_SECONDS) -> CircuitBreaker:
    """The process's breaker for the database ``name`` (its redacted address)."""
    with _REGISTRY_LOCK:
        breaker = _BREAKERS.get(name)
        if breaker is None:
            breaker = _BREAKERS[name] = CircuitBreaker(name, probe_seconds)
        return breaker
