"""Site profiles (config/sites/*.yaml): loading, schema and semantic validation.

Every error names the file, the dotted field path and the bad value, so an analyst
editing a profile can fix it without reading code.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from cssselect import SelectorError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from parsel import Selector

from crawlers.extract import NUMBER_TYPES, JsonFieldSpec, SelectorSpec
from crawlers.profile_model import (
    DEFAULT_MAX_PAGES,
    MISSING,
    ApiSpec,
    BrowserSpec,
    Fields,
    Health,
    InlineItems,
    ItemSpec,
    JsonFields,
    LicenceSpec,
    ListingSpec,
    Paging,
    Politeness,
    ProfileError,
    Schedule,
    SiteProfile,
)
from tiequan.settings import REPO_CONFIG_DIR, environment

__all__ = [
    "ApiSpec",
    "BrowserSpec",
    "Health",
    "InlineItems",
    "ItemSpec",
    "LicenceSpec",
    "ListingSpec",
    "Paging",
    "Politeness",
    "ProfileError",
    "Schedule",
    "SiteProfile",
    "default_sites_dir",
    "load_profile",
    "load_profiles",
]

log = logging.getLogger(__name__)

SCHEMA_PATH = REPO_CONFIG_DIR / "schemas" / "site_profile.schema.json"
SITES_ENV = "TIEQUAN_SITES_DIR"
_PLACEHOLDER_RE = re.compile(r"\{([a-z][a-z0-9_]*)\}")
# The placeholder each paging mode fills in api.list_path (next: only the first request).
_PAGING_PLACEHOLDER = {"page": "page", "offset": "offset", "cursor": "cursor", "next": None}


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def default_sites_dir() -> Path:
    """The first directory of ``$TIEQUAN_SITES_DIR`` if set, else <repo>/config/sites."""
    return environment().sites_dirs[0]


def _schema_error(path: Path, error: ValidationError) -> ProfileError:
    parts = [str(p) for p in error.absolute_path]
    value: Any = error.instance
    expected: Any = error.validator_value
    schema: Any = error.schema
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [p for p in expected if p not in error.instance]
        parts.append(missing[0] if missing else "?")
        value = MISSING
        problem = "required field is missing"
    elif error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        parts.append(extra[0] if extra else "?")
        value = error.instance.get(parts[-1])
        problem = f"unknown field; allowed: {', '.join(sorted(allowed))}"
    elif error.validator == "enum":
        problem = f"expected one of {expected}"
    elif error.validator == "type":
        problem = f"expected type {expected}"
    elif error.validator == "pattern":
        problem = f"does not match pattern {expected!r}"
    else:
        problem = error.message
    return ProfileError(path, ".".join(parts), value, problem)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ProfileError(
            path,
            "",
            MISSING,
            f"the file is not UTF-8 (byte {exc.start + 1} is 0x{exc.object[exc.start]:02x})",
        ) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}" if mark is not None else "unknown line"
        raise ProfileError(path, f"({line})", MISSING, f"YAML syntax error: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ProfileError(path, "", MISSING, f"YAML error: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(path, "", type(data).__name__, "a profile must be a YAML mapping")
    return data


def _fields(raw: Mapping[str, Any], path: Path, where: str) -> Fields:
    out: Fields = {}
    for name, sel in raw.items():
        spec = _selector(sel, path, f"{where}.{name}")
        _check_transforms(spec, sel, path, f"{where}.{name}")
        out[name] = spec
    return out


def _check_transforms(spec: SelectorSpec | JsonFieldSpec, raw: Any, path: Path, where: str) -> None:
    if spec.regex is not None:
        try:
            re.compile(spec.regex)
        except re.error as exc:
            raise ProfileError(path, f"{where}.regex", spec.regex, str(exc)) from exc
    if not isinstance(raw, Mapping):
        return
    if spec.scale is not None and spec.type not in NUMBER_TYPES:
        raise ProfileError(
            path, f"{where}.scale", raw["scale"], "scale applies to numbers: add type: float or int"
        )
    many = spec.many if isinstance(spec, SelectorSpec) else True  # a JSON list is many
    if "join" in raw and (not many or spec.type not in (None, "text")):
        _warn_ignored(path, f"{where}.join", raw["join"], "join applies to many text values")


def _json_fields(raw: Mapping[str, Any], path: Path, where: str) -> JsonFields:
    out: JsonFields = {}
    for name, value in raw.items():
        spec = JsonFieldSpec.parse(value)
        _check_transforms(spec, value, path, f"{where}.{name}")
        out[name] = spec
    return out


def _selector(raw: str | Mapping[str, Any], path: Path, where: str) -> SelectorSpec:
    """Parse a selector and compile its CSS and XPath now: a bad one would otherwise
    fail on every page of the sweep and yield no item."""
    spec = SelectorSpec.parse(raw)
    bare = isinstance(raw, str)
    probe = Selector(text="<html></html>")
    for kind, expression in (("css", spec.css), ("xpath", spec.xpath)):
        if expression is None:
            continue
        try:
            if kind == "css":
                probe.css(expression)
            else:
                probe.xpath(expression)
        except (SelectorError, ValueError) as exc:
            field = where if bare else f"{where}.{kind}"
            problem = f"invalid {kind.upper()} selector: {exc}".splitlines()[0]
            raise ProfileError(path, field, expression, problem) from exc
    return spec


def _require_id_title(names: Iterable[str], path: Path, where: str) -> None:
    for required in ("id", "title"):
        if required not in names:
            raise ProfileError(path, f"{where}.{required}", MISSING, "every item needs it")


def _warn_ignored(path: Path, field_path: str, value: Any, why: str) -> None:
    log.warning("%s: field %s = %r is ignored: %s", path, field_path, value, why)


def _build(data: dict[str, Any], path: Path) -> SiteProfile:
    name, render = data["name"], data["render"]
    if name != path.stem:
        raise ProfileError(path, "name", name, f"must equal the file name stem {path.stem!r}")
    listing: ListingSpec | None = None
    item: ItemSpec | None = None
    licence: LicenceSpec | None = None
    api: ApiSpec | None = None
    raw_listing, raw_item = data.get("listing"), data.get("item")
    raw_licence = data.get("licence")
    if render == "api":
        if "api" not in data:
            raise ProfileError(path, "api", MISSING, "render: api requires an api block")
        for key in ("listing", "item", "licence", "browser"):
            if key in data:
                _warn_ignored(path, key, data[key], "render is api")
        api = _api(data["api"], path)
    else:
        if "api" in data:
            _warn_ignored(path, "api", data["api"], f"render is {render}")
        if not raw_listing or not ("item_links" in raw_listing or "inline_items" in raw_listing):
            raise ProfileError(
                path, "listing", raw_listing, f"render: {render} needs item_links or inline_items"
            )
        listing = _listing(raw_listing, path)
        if raw_item is not None:
            item = ItemSpec(
                fields=_fields(raw_item["fields"], path, "item.fields"),
                licence_link=_selector(raw_item["licence_link"], path, "item.licence_link")
                if "licence_link" in raw_item
                else None,
            )
        if listing.item_links is not None:
            if item is None:
                raise ProfileError(path, "item", MISSING, "listing.item_links needs item.fields")
            _require_id_title(item.fields, path, "item.fields")
        elif item is not None:
            _warn_ignored(path, "item", raw_item, "listing has no item_links")
        licence = _licence(raw_licence, item, listing, path)
        if render != "browser" and "browser" in data:
            _warn_ignored(path, "browser", data["browser"], f"render is {render}")
    politeness = Politeness(**data.get("politeness", {}))
    hints = tuple(data.get("category_hints", ()))  # the schema holds the category ids
    return SiteProfile(
        name=name,
        platform=data["platform"],
        kind=data["kind"],
        render=render,
        base_url=data["base_url"],
        start_paths=tuple(data["start_paths"]),
        listing=listing,
        item=item,
        licence=licence,
        browser=BrowserSpec(**data.get("browser", {})),
        api=api,
        politeness=politeness,
        schedule=Schedule(**data.get("schedule", {})),
        source=path,
        category_hints=hints,
        health=Health(field_coverage=dict(data.get("health", {}).get("field_coverage", {}))),
    )


def _listing(raw: Mapping[str, Any], path: Path) -> ListingSpec:
    inline = raw.get("inline_items")
    inline_items = None
    if inline is not None:
        inline_fields = _fields(inline["fields"], path, "listing.inline_items.fields")
        _require_id_title(inline_fields, path, "listing.inline_items.fields")
        _selector(inline["container"], path, "listing.inline_items.container")
        inline_items = InlineItems(container=inline["container"], fields=inline_fields)
    return ListingSpec(
        item_links=_selector(raw["item_links"], path, "listing.item_links")
        if "item_links" in raw
        else None,
        next_page=_selector(raw["next_page"], path, "listing.next_page")
        if "next_page" in raw
        else None,
        max_pages=raw.get("max_pages", DEFAULT_MAX_PAGES),
        inline_items=inline_items,
    )


def _licence(
    raw: Mapping[str, Any] | None, item: ItemSpec | None, listing: ListingSpec, path: Path
) -> LicenceSpec | None:
    has_link = item is not None and item.licence_link is not None
    if raw is None:
        if has_link:
            raise ProfileError(path, "licence", MISSING, "item.licence_link needs licence.fields")
        return None
    read_from = tuple(raw.get("read_from", ("link",) if has_link else ("page",)))
    if "link" in read_from and not has_link:
        raise ProfileError(
            path, "licence.read_from", list(read_from), "link needs item.licence_link"
        )
    if item is not None and item.licence_link is not None and "link" not in read_from:
        link = item.licence_link.describe()
        _warn_ignored(path, "item.licence_link", link, "licence.read_from has no link")
    if item is None and listing.inline_items is None:
        _warn_ignored(path, "licence", raw, "no item pages and no inline items to read it on")
    for name in raw["fields"]:
        if name not in ("credit_code", "name", "address"):
            _warn_ignored(
                path, f"licence.fields.{name}", raw["fields"][name], "not a licence field"
            )
    return LicenceSpec(fields=_fields(raw["fields"], path, "licence.fields"), read_from=read_from)


def _api(raw: Mapping[str, Any], path: Path) -> ApiSpec:
    _require_id_title(raw["fields"], path, "api.fields")
    licence_path = raw.get("licence_path")
    licence_fields = raw.get("licence_fields", {})
    if licence_path is not None:
        if not licence_fields:
            raise ProfileError(path, "api.licence_fields", MISSING, "licence_path needs them")
        for placeholder in _PLACEHOLDER_RE.findall(licence_path):
            if placeholder not in raw["fields"]:
                raise ProfileError(
                    path,
                    "api.licence_path",
                    licence_path,
                    f"{{{placeholder}}} is not in api.fields",
                )
    paging = _paging(raw, path)
    return ApiSpec(
        **{
            **raw,
            "fields": _json_fields(raw["fields"], path, "api.fields"),
            "licence_fields": _json_fields(licence_fields, path, "api.licence_fields"),
            "paging": paging,
        }
    )


def _paging(raw: Mapping[str, Any], path: Path) -> Paging:
    """Check api.paging against api.list_path: every placeholder known and filled."""
    paging = Paging(**raw.get("paging", {}))
    list_path = raw["list_path"]
    where = "api.paging"
    if paging.by in ("page", "offset") and not isinstance(paging.first, int):
        raise ProfileError(path, f"{where}.start", paging.start, f"by: {paging.by} needs a number")
    if paging.by in ("next", "cursor") and paging.next_key is None:
        raise ProfileError(path, f"{where}.next_key", MISSING, f"by: {paging.by} needs it")
    if paging.by in ("page", "offset") and paging.next_key is not None:
        _warn_ignored(path, f"{where}.next_key", paging.next_key, f"by is {paging.by}")
    needed = _PAGING_PLACEHOLDER[paging.by]
    found = _PLACEHOLDER_RE.findall(list_path)
    if needed is not None and needed not in found:
        raise ProfileError(
            path, "api.list_path", list_path, f"paging by {paging.by} needs {{{needed}}} in it"
        )
    allowed = {"limit", needed} if paging.by != "next" else {"page", "offset", "limit"}
    for placeholder in found:
        if placeholder not in allowed:
            known = ", ".join(f"{{{p}}}" for p in sorted(p for p in allowed if p))
            raise ProfileError(
                path,
                "api.list_path",
                list_path,
                f"{{{placeholder}}} is not filled when paging by {paging.by} (known: {known})",
            )
    if "limit" in found and paging.limit is None:
        raise ProfileError(path, f"{where}.limit", MISSING, "api.list_path has {limit}")
    return paging


def load_profile(path: Path) -> SiteProfile:
    """Load and validate one profile file; raise ProfileError on any problem."""
    path = Path(path)
    data = _read_yaml(path)
    error = best_match(_validator().iter_errors(data))
    if error is not None:
        raise _schema_error(path, error)
    return _build(data, path)


def load_profiles(directory: Path | Iterable[Path]) -> dict[str, SiteProfile]:
    """All ``*.yaml`` profiles of one or more directories, sorted by name.

    A name defined in two files raises, naming both.
    """
    dirs = [Path(directory)] if isinstance(directory, (str, Path)) else list(directory)
    profiles: dict[str, SiteProfile] = {}
    for folder in dirs:
        for path in sorted(Path(folder).glob("*.yaml")):
            profile = load_profile(path)
            if profile.name in profiles:
                first = profiles[profile.name].source
                raise ProfileError(path, "name", profile.name, f"already defined in {first}")
            profiles[profile.name] = profile
    return dict(sorted(profiles.items()))
