from __future__ import annotations

# Shared fixtures live in plugin modules owned by their concern.
pytest_plugins = ["tests.fixtures_sandbox", "tests.fixtures_mongo"]
