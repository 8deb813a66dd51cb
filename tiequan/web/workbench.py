"""The workbench's own settings (``config/workbench.yaml``): the dismiss reasons it offers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

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
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WorkbenchConfigError(f"{path}: cannot read file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise WorkbenchConfigError(f"{path}: invalid YAML: {exc}") from exc
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = sorted(
        Draft202012Validator(schema).iter_errors(raw), key=lambda e: list(e.absolute_path)
    )
    if errors:
        err = errors[0]
        where = ".".join(str(p) for p in err.absolute_path) or "<root>"
        raise WorkbenchConfigError(
            f"{path}: field {where}: bad value {err.instance!r}: {err.message}"
        )
    return WorkbenchConfig(dismiss_reasons=tuple(r.strip() for r in raw["dismiss_reasons"]))
