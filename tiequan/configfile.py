"""Reading a YAML file of config/ against its JSON schema, with one-line errors.

Every error names the file, the field and the bad value, and is raised as the caller's
own error class, so each config keeps its own exception type.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator


def field_path(parts: Any) -> str:
    """A schema error's location as ``a.b[2].c`` (``<root>`` for the document itself)."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def check_schema(path: Path, raw: Any, schema_path: Path, error: type[Exception]) -> None:
    """Raise ``error`` for the first way ``raw`` (read from ``path``) breaks its schema."""
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    errors = sorted(
        Draft202012Validator(schema).iter_errors(raw), key=lambda e: list(e.absolute_path)
    )
    if errors:
        err = errors[0]
        raise error(
            f"{path}: field {field_path(err.absolute_path)}: bad value {err.instance!r}: "
            f"{err.message}"
        )


def load_checked_yaml(path: Path, schema_path: Path, error: type[Exception]) -> Any:
    """The YAML document at ``path``, valid against ``schema_path``; else ``error``."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot read file: {exc}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}: invalid YAML: {exc}") from exc
    check_schema(path, raw, schema_path, error)
    return raw
