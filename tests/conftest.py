from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

# Shared fixtures live in plugin modules owned by their concern.
pytest_plugins = ["tests.fixtures_sandbox", "tests.fixtures_mongo"]

# CI explores the same examples on every run, so a red build is always reproducible;
# developers' runs keep exploring new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def shared_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One trained-model cache for the session: tests and their sweep subprocesses use
    their own TIEQUAN_HOME, and training the classifier once is enough."""
    with pytest.MonkeyPatch.context() as mp:
        if not os.environ.get("TIEQUAN_MODEL_DIR"):
            mp.setenv("TIEQUAN_MODEL_DIR", str(tmp_path_factory.mktemp("models")))
        yield
