"""Selector evaluation for site profiles: pure functions, no Scrapy engine needed.

A profile field is either a CSS string (first match, stripped) or an object choosing
css/xpath, ``many``, a value ``type`` and an optional ``regex``. Numbers are parsed
the way Chinese shop pages print them: "¥1,299.00", "月销 1.2万+", "已售3000+件".
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from parsel import Selector, SelectorList

VALUE_TYPES = ("text", "float", "int", "url", "urls")
_NUMBER_RE = re.compile(r"(\d[\d,，]*(?:\.\d+)?|\.\d+)\s*(万|千|亿|[wWkK])?")
_MULTIPLIERS = {
    "万": 10_000,
    "w": 10_000,
    "W": 10_000,
    "千": 1_000,
    "k": 1_000,
    "K": 1_000,
    "亿": 100_000_000,
}
_WS_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class SelectorSpec:
    """One normalised field selector from a profile."""

    css: str | None = None
    xpath: str | None = None
    many: bool = False
    type: str = "text"
    regex: str | None = None

    @classmethod
    def parse(cls, raw: str | Mapping[str, Any]) -> SelectorSpec:
        """Normalise the YAML form (already schema-validated) into a spec."""
        if isinstance(raw, str):
            return cls(css=raw)
        value_type = str(raw.get("type", "text"))
        return cls(
            css=raw.get("css"),
            xpath=raw.get("xpath"),
            # "urls" is a list by definition
            many=bool(raw.get("many", False)) or value_type == "urls",
            type=value_type,
            regex=raw.get("regex"),
        )


def collapse_ws(text: str) -> str:
    """Collapse runs of whitespace (including full-width spaces) to one space, strip."""
    return _WS_RE.sub(" ", text.replace("\u3000", " ")).strip()


def parse_number(text: str | None, regex: str | None = None) -> float | None:
    """The first number in ``text`` (after ``regex`` group 1, if given), or None.

    Thousands separators are dropped and 万/千/亿/w/k multiply: "月销 1.2万+" -> 12000.0.
    A number too large for a float gives None.
    """
    if text is None:
        return None
    if regex:
        match = re.search(regex, text)
        if match is None:
            return None
        text = match.group(1) if match.groups() else match.group(0)
    found = _NUMBER_RE.search(text)
    if found is None:
        return None
    number = float(found.group(1).replace(",", "").replace("，", ""))
    unit = found.group(2)
    if unit:
        number *= _MULTIPLIERS[unit]
    # A run of hundreds of digits reads as infinity: no price or count, and int() of it
    # would raise inside the spider.
    return number if math.isfinite(number) else None


def _node_text(sel: Selector) -> str:
    # ::text and ::attr() yield plain strings; an element means "all its text".
    if isinstance(sel.root, str):
        return sel.root
    if isinstance(sel.root, (int, float)):
        return str(sel.root)
    return str(sel.xpath("string()").get() or "")


def select(root: Selector | SelectorList[Selector], spec: SelectorSpec) -> list[str]:
    """Raw string values matched by ``spec`` under ``root``, in document order."""
    if spec.css is not None:
        matched = root.css(spec.css)
    elif spec.xpath is not None:
        matched = root.xpath(spec.xpath)
    else:
        raise ValueError("selector has neither css nor xpath")
    return [_node_text(s) for s in matched]


def _apply_regex(text: str, regex: str | None) -> str | None:
    if not regex:
        return text
    match = re.search(regex, text)
    if match is None:
        return None
    return match.group(1) if match.groups() else match.group(0)


def evaluate(
    root: Selector | SelectorList[Selector], spec: SelectorSpec, base_url: str = ""
) -> Any:
    """Evaluate one field: str, float, int, list or None when nothing matched."""
    values = select(root, spec)
    if not spec.many:
        values = values[:1]
    if spec.type in ("float", "int"):
        numbers = [parse_number(v, spec.regex) for v in values]
        parsed = [n for n in numbers if n is not None]
        if spec.type == "int":
            parsed = [round(n) for n in parsed]
        if spec.many:
            return parsed
        return parsed[0] if parsed else None
    cleaned = [c for c in (_apply_regex(collapse_ws(v), spec.regex) for v in values) if c]
    if spec.type in ("url", "urls"):
        urls = [urljoin(base_url, u) for u in cleaned]
        if spec.many:
            return urls
        return urls[0] if urls else None
    if spec.many:
        return "\n".join(cleaned) if cleaned else None
    return cleaned[0] if cleaned else None


def extract_fields(
    root: Selector | SelectorList[Selector], fields: Mapping[str, SelectorSpec], base_url: str
) -> dict[str, Any]:
    """Evaluate every field of a profile block; fields that matched nothing are None."""
    return {name: evaluate(root, spec, base_url) for name, spec in fields.items()}


def dotted_get(data: Any, path: str) -> Any:
    """Follow a dotted key path ("data.items", "shop.licence.code", "list.0.id") into JSON."""
    current = data
    for part in path.split("."):
        if isinstance(current, Mapping):
            if part not in current:
                return None
            current = current[part]
        elif isinstance(current, list) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(current) <= index < len(current):
                return None
            current = current[index]
        else:
            return None
    return current


def json_fields(data: Any, fields: Mapping[str, str]) -> dict[str, Any]:
    """Pick every ``name: dotted.path`` of an API profile out of a JSON object."""
    return {name: dotted_get(data, path) for name, path in fields.items()}


def absolute_urls(values: Iterable[Any], base_url: str) -> list[str]:
    return [urljoin(base_url, str(v)) for v in values if v not in (None, "")]
