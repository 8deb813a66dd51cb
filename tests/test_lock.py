"""requirements.lock against pyproject.toml: every declared dependency is locked at a version
that satisfies it, every pin carries hashes, and nothing points at this machine's own indexes."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Pin:
    requirement: Requirement
    hashes: int
    line: int


def read_lock(path: Path) -> list[Pin]:
    """The pins of a pip requirements file as `uv pip compile --generate-hashes` writes it.
    Hand-parsed because pip's own parser is not a public API; the format is one
    `name==version ; marker` per entry, continued with backslashes over its hashes."""
    pins: list[Pin] = []
    entry: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        if not entry:
            start = number
        entry.append(text.removesuffix("\\").strip())
        if not text.endswith("\\"):
            head, *rest = entry
            if head.startswith("-"):
                raise AssertionError(f"{path.name}:{start}: option line {head!r} in the lock")
            pins.append(Pin(Requirement(head), sum(bool(HASH.fullmatch(h)) for h in rest), start))
            entry = []
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    deps = list(project["project"]["dependencies"])
    deps += project["project"]["optional-dependencies"]["dev"]
    deps += project["dependency-groups"]["tools"]
    return [Requirement(d) for d in deps]


@pytest.fixture(scope="module")
def pins() -> list[Pin]:
    return read_lock(REPO / "requirements.lock")


def test_every_declared_dependency_is_locked_at_a_version_it_allows(pins: list[Pin]) -> None:
    locked: dict[str, list[str]] = {}
    for pin in pins:
        if pin.requirement.marker is None or pin.requirement.marker.evaluate():
            (spec,) = pin.requirement.specifier
            locked.setdefault(canonicalize_name(pin.requirement.name), []).append(spec.version)
    stale = []
    for req in declared():
        versions = locked.get(canonicalize_name(req.name), [])
        if len(versions) != 1 or not req.specifier.contains(versions[0], prereleases=True):
            stale.append(f"{req} (locked: {versions or 'missing'})")
    assert not stale, "requirements.lock is out of date, run `make lock`: " + "; ".join(stale)


def test_every_pin_is_exact_and_hashed(pins: list[Pin]) -> None:
    assert len(pins) > 50
    for pin in pins:
        (spec,) = pin.requirement.specifier
        assert spec.operator == "==", f"requirements.lock:{pin.line}: {pin.requirement} not pinned"
        assert pin.requirement.url is None, f"requirements.lock:{pin.line}: a direct URL"
        assert pin.hashes > 0, f"requirements.lock:{pin.line}: {pin.requirement} has no hash"


def test_lock_names_no_local_index_or_path() -> None:
    text = (REPO / "requirements.lock").read_text(encoding="utf-8")
    for needle in ("file:", "/opt/", "/tmp/", "/work/", "index-url", "find-links"):
        assert needle not in text, f"requirements.lock mentions {needle!r}"


def test_no_torch_is_pulled_in(pins: list[Pin]) -> None:
    names = {canonicalize_name(p.requirement.name) for p in pins}
    assert not names & {"torch", "torchvision", "torchaudio"}
    assert {"scrapy", "secantusdb", "onnxruntime"} <= names
