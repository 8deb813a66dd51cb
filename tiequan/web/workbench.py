"""The workbench's own settings (``config/workbench.yaml``): the dismiss reasons it offers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tiequan.configfile import load_checked_yaml
from tiequan.settings import REPO_CONFIG_DIR, environment

SCHEMA_PATH = REPO_CONFIG_DIR / "schemas" / "workbench.schema.json"


class WorkbenchConfigError(ValueError):
    """config/workbench.yaml is missing or malformed."""


@dataclass(frozen=True)
class WorkbenchConfig:
    dismiss_reasons: tuple[str, ...]

    def reason(self, preset: str, text: str) -> str:
        """A picked preset and a written reason as one; ValueError for an unknown preset."""
        if preset and preset not in self.dismiss_reasons:
            raise ValueError(f"未知的排除理由：{preset[:40]}；请从列表中选择，或直接填写理由")
        return "；".join(p for p in (preset, text) if p)


def default_path() -> Path:
    return environment().config_dir / "workbench.yaml"


def load_workbench(path: Path | None = None) -> WorkbenchConfig:
    """Load and validate config/workbench.yaml; errors name the file, field and value."""
    return _load(Path(path) if path is not None else default_path())


@lru_cache(maxsize=8)
def _load(path: Path) -> WorkbenchConfig:
    raw = load_checked_yaml(path, SCHEMA_PATH, WorkbenchConfigError)
    return WorkbenchConfig(dismiss_reasons=tuple(r.strip() for r in raw["dismiss_reasons"]))
