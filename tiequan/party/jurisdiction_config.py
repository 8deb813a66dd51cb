"""config/jurisdictions.yaml: the league, its county bureaus and the out-of-league rule.

Loaded once per directory (and file version), validated against
config/schemas/jurisdictions.schema.json, then checked for what a schema cannot say:
unique keys and division codes, names and aliases that point to exactly one bureau.
Every error names the file, the field path and the value.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, ValidationError

from detectors.config import ConfigError
from detectors.normalize import fold
from tiequan.party.regions import PROVINCES, ROAD_CHARS
from tiequan.settings import REPO_CONFIG_DIR, environment

FILE_NAME = "jurisdictions.yaml"
SCHEMA_NAME = "jurisdictions.schema.json"
# Dropped before matching: whitespace and separators scraped text puts between characters.
_NOISE = re.compile(r"[\s·•\-_*/|,，、.。:：;；()（）\[\]【】\"'“”‘’<>《》]+")


class JurisdictionConfigError(ConfigError):
    """config/jurisdictions.yaml is missing, malformed or inconsistent."""


def fold_place(text: str) -> str:
    """The form addresses and place names are compared in."""
    return _NOISE.sub("", fold(text))


@dataclass(frozen=True)
class Bureau:
    """A market-regulation bureau; ``area`` is its county (or the league for the league's)."""

    key: str
    name: str
    area: str
    aliases: tuple[str, ...] = ()
    division_codes: tuple[str, ...] = ()
    towns: tuple[str, ...] = ()
    is_league: bool = False


@dataclass(frozen=True)
class PlaceName:
    """One matchable name: ``kind`` is "area", "alias" or "town"."""

    text: str  # folded
    bureau: Bureau
    kind: str
    original: str


@dataclass(frozen=True)
class Jurisdictions:
    source: Path
    province: str
    province_code: str
    league: Bureau
    bureaus: tuple[Bureau, ...]  # county-level, in file order
    division_prefix: str
    keep_with: Bureau
    outside_mark: str
    names: tuple[PlaceName, ...]  # counties' areas, aliases, towns (not the league's)
    league_names: tuple[PlaceName, ...]

    def bureau(self, key: str) -> Bureau:
        for bureau in (self.league, *self.bureaus):
            if bureau.key == key:
                return bureau
        raise KeyError(f"unknown bureau key {key!r}")

    def by_division_code(self, code: str) -> Bureau | None:
        for bureau in (*self.bureaus, self.league):
            if code in bureau.division_codes:
                return bureau
        return None

    def find(self, text: str, names: tuple[PlaceName, ...]) -> tuple[PlaceName, int] | None:
        """The earliest (then longest) name in a folded address, with its position.

        Addresses run from large to small, so the earliest match is the administrative
        one; an alias or the league's short name directly followed by a road word
        (东乌兰路) names a street, not the county.
        """
        best: tuple[PlaceName, int] | None = None
        for name in names:
            start = text.find(name.text)
            while start >= 0:
                end = start + len(name.text)
                if name.kind == "area" or end >= len(text) or text[end] not in ROAD_CHARS:
                    break
                start = text.find(name.text, start + 1)
            if start < 0:
                continue
            if best is None or (start, -len(name.text)) < (best[1], -len(best[0].text)):
                best = (name, start)
        return best


def load_jurisdictions(config_dir: Path | str | None = None) -> Jurisdictions:
    """Load ``<config_dir>/jurisdictions.yaml`` (default: TIEQUAN_CONFIG_DIR or the repo's).

    Cached per directory and file version; raises ``JurisdictionConfigError``.
    """
    if config_dir is None:
        config_dir = environment().config_dir
    # Plain strings and os.stat: this runs once per listing, pathlib would dominate.
    name = os.path.join(config_dir, FILE_NAME)
    try:
        stat = os.stat(name)
    except OSError as exc:
        raise JurisdictionConfigError(name, "(file)", name, f"cannot read: {exc}") from exc
    return _load(name, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load(name: str, _mtime_ns: int, _size: int) -> Jurisdictions:
    path = Path(name)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise JurisdictionConfigError(path, "(file)", str(path), f"cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise JurisdictionConfigError(path, "(yaml)", None, f"not valid YAML: {exc}") from exc
    _check_schema(path, raw)
    return _build(path, raw)


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (REPO_CONFIG_DIR / "schemas" / SCHEMA_NAME).read_text(encoding="utf-8")
    )
    return schema


def _field(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _order(error: ValidationError) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.path)


def _check_schema(path: Path, raw: Any) -> None:
    errors = sorted(Draft202012Validator(_schema()).iter_errors(raw), key=_order)
    if not errors:
        return
    err = errors[0]
    parts = list(err.absolute_path)
    value: Any = err.instance
    if err.validator == "required" and isinstance(err.instance, dict):
        missing = [k for k in err.validator_value if k not in err.instance]
        parts.append(missing[0] if missing else "?")
        value = None
    raise JurisdictionConfigError(path, _field(parts), value, err.message)


def _build(path: Path, raw: dict[str, Any]) -> Jurisdictions:
    def bad(field: str, value: Any, problem: str) -> JurisdictionConfigError:
        return JurisdictionConfigError(path, field, value, problem)

    province_code = next((c for c, (full, _) in PROVINCES.items() if full == raw["province"]), "")
    if not province_code:
        raise bad("province", raw["province"], "not a full province-level name (e.g. 内蒙古自治区)")
    lg = raw["league"]
    prefix = lg["division_prefix"]
    if not prefix.startswith(province_code):
        raise bad("league.division_prefix", prefix, f"must start with {province_code}")
    league = Bureau(
        key=lg["key"],
        name=lg["name"],
        area=lg["area"],
        aliases=tuple(lg.get("aliases", [])),
        division_codes=tuple(lg["division_codes"]),
        is_league=True,
    )
    entries: list[tuple[str, Bureau]] = [("league", league)]
    for i, item in enumerate(raw["bureaus"]):
        bureau = Bureau(
            key=item["key"],
            name=item["name"],
            area=item["county"],
            aliases=tuple(item.get("aliases", [])),
            division_codes=tuple(item["division_codes"]),
            towns=tuple(item.get("towns", [])),
        )
        entries.append((f"bureaus[{i}]", bureau))
    keys: dict[str, str] = {}
    codes: dict[str, str] = {}
    for where, bureau in entries:
        if bureau.key in keys:
            raise bad(f"{where}.key", bureau.key, f"duplicate key (also {keys[bureau.key]}.key)")
        keys[bureau.key] = where
        for j, code in enumerate(bureau.division_codes):
            field = f"{where}.division_codes[{j}]"
            if code in codes:
                raise bad(field, code, f"duplicate division code (also {codes[code]})")
            if not code.startswith(prefix):
                raise bad(field, code, f"not under the league's division prefix {prefix}")
            codes[code] = field
    names, league_names = _place_names(path, entries)
    keep_key = raw["outside"]["keep_with"]
    if keep_key not in keys:
        raise bad("outside.keep_with", keep_key, f"not a bureau key; known: {', '.join(keys)}")
    bureaus = tuple(b for _, b in entries[1:])
    keep = next(b for _, b in entries if b.key == keep_key)
    return Jurisdictions(
        source=path,
        province=raw["province"],
        province_code=province_code,
        league=league,
        bureaus=bureaus,
        division_prefix=prefix,
        keep_with=keep,
        outside_mark=raw["outside"]["mark"],
        names=names,
        league_names=league_names,
    )


def _place_names(
    path: Path, entries: list[tuple[str, Bureau]]
) -> tuple[tuple[PlaceName, ...], tuple[PlaceName, ...]]:
    """Every area/alias/town, folded, checked to name one bureau unambiguously."""
    seen: list[tuple[PlaceName, str]] = []
    for where, bureau in entries:
        fields = [(f"{where}.{'area' if bureau.is_league else 'county'}", bureau.area, "area")]
        fields += [(f"{where}.aliases[{j}]", a, "alias") for j, a in enumerate(bureau.aliases)]
        fields += [(f"{where}.towns[{j}]", t, "town") for j, t in enumerate(bureau.towns)]
        for field, original, kind in fields:
            text = fold_place(original)
            if len(text) < 2:
                raise JurisdictionConfigError(path, field, original, "too short to match safely")
            name = PlaceName(text, bureau, kind, original)
            for other, other_field in seen:
                if other.bureau.key == bureau.key:
                    continue
                if text in other.text or other.text in text:
                    raise JurisdictionConfigError(
                        path,
                        field,
                        original,
                        f"ambiguous: overlaps “{other.original}” ({other_field}, "
                        f"bureau {other.bureau.key})",
                    )
            seen.append((name, field))
    names = tuple(n for n, _ in seen if not n.bureau.is_league)
    league_names = tuple(n for n, _ in seen if n.bureau.is_league)
    return names, league_names
