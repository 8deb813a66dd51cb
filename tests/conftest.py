from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

# Shared fixtures live in plugin modules owned by their concern.
pytest_plugins = ["tests.fixtures_sandbox", "tests.fixtures_mongo", "tests.fixtures_web"]

# By default every run explores the same examples, so a red build is always reproducible
# (and no example database is written); HYPOTHESIS_PROFILE=dev explores new ones. No
# deadline: the first example pays for loading the detector, and machines are shared.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def shared_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One trained-model cache for the session: tests and their sweep subprocesses use
    their own TIEQUAN_HOME, and training the classifier once is enough."""
    with pytest.MonkeyPatch.context() as mp:
        if not os.environ.get("TIEQUAN_MODEL_DIR"):
            mp.setenv("TIEQUAN_MODEL_DIR", str(tmp_path_factory.mktemp("models")))
        yield
