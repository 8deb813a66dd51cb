from __future__ import annotations

import os

from hypothesis import settings

# Shared fixtures live in plugin modules owned by their concern.
pytest_plugins = ["tests.fixtures_sandbox", "tests.fixtures_mongo"]

# CI explores the same examples on every run, so a red build is always reproducible;
# developers' runs keep exploring new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
