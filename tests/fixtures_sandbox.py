"""Sandbox fixtures: one sandbox server per test session, on a free port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tiequan.sandbox.server import SandboxServer

SANDBOX_SEED = 20220101
SANDBOX_SCALE = 0.2


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    """A started SandboxServer (seed 20220101, scale 0.2), stopped after the session.

    Shared by the whole session: faulty paths fail only on their first request and
    ``hits`` accumulates across tests, so tests that need a clean slate should
    call ``sandbox.reset_counters()`` or start their own server.
    """
    server = SandboxServer(host="127.0.0.1", port=0, seed=SANDBOX_SEED, scale=SANDBOX_SCALE)
    server.start()
    yield server
    server.stop()
