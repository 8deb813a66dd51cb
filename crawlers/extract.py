"""Selector evaluation for site profiles: pure functions, no Scrapy engine needed.

A profile field is either a CSS string (first match, stripped) or an object choosing
css/xpath, ``many``, a value ``type`` and the transforms ``strip_html``, ``regex``,
``scale`` and ``join``. Numbers are parsed the way Chinese shop pages print them:
"¥1,299.00", "月销 1.2万+", "已售3000+件". API profiles name JSON values by dotted path
(``JsonFieldSpec``), with the same types and transforms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin

import cssselect
from parsel import Selector, SelectorList
from w3lib.html import remove_tags, remove_tags_with_content, replace_entities, replace_tags

VALUE_TYPES = ("text", "float", "int", "url", "urls")
NUMBER_TYPES = ("float", "int")
DEFAULT_JOIN = "\n"
# Tags that end a line when HTML is turned into text; every other tag is inline.
_BLOCK_TAGS = (
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
)  # fmt: skip
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
    strip_html: bool = False  # the matched value is HTML markup: keep its text only
    scale: float | None = None  # numbers are multiplied by it (0.01: fen -> yuan)
    join: str = DEFAULT_JOIN  # separator of the values of a ``many`` text field

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
            strip_html=bool(raw.get("strip_html", False)),
            scale=_scale(raw.get("scale")),
            join=str(raw.get("join", DEFAULT_JOIN)),
        )

    def alternatives(self) -> list[str]:
        """The comma-separated CSS alternatives (one per page template), or the XPath."""
        if self.css is None:
            return [self.xpath or ""]
        try:
            return [part.canonical() for part in cssselect.parse(self.css)]
        except cssselect.SelectorError:
            return [self.css]

    def describe(self) -> str:
        return f"css {self.css}" if self.css is not None else f"xpath {self.xpath}"


@dataclass(frozen=True)
class JsonFieldSpec:
    """One field of an API profile: a dotted path into the JSON, optionally typed.

    A bare path (``type`` None and no transform) passes the JSON value through unchanged.
    """

    path: str
    type: str | None = None
    regex: str | None = None
    strip_html: bool = False
    scale: float | None = None
    join: str | None = None  # None: a newline

    @classmethod
    def parse(cls, raw: str | Mapping[str, Any]) -> JsonFieldSpec:
        if isinstance(raw, str):
            return cls(path=raw)
        return cls(
            path=str(raw["path"]),
            type=raw.get("type"),
            regex=raw.get("regex"),
            strip_html=bool(raw.get("strip_html", False)),
            scale=_scale(raw.get("scale")),
            join=None if raw.get("join") is None else str(raw["join"]),
        )

    @property
    def plain(self) -> bool:
        transforms = (self.regex, self.strip_html, self.scale is not None, self.join is not None)
        return self.type is None and not any(transforms)


def _scale(value: Any) -> float | None:
    return None if value is None else float(value)


def html_to_text(markup: str) -> str:
    """The text of an HTML fragment, one line per block element, entities decoded.

    w3lib does the tag work: scripts and styles go with their content, inline tags go
    and keep their text, block tags become line breaks.
    """
    markup = remove_tags_with_content(markup, which_ones=("script", "style", "template"))
    markup = remove_tags(markup, keep=_BLOCK_TAGS)
    text = replace_entities(replace_tags(markup, "\n"))
    lines = (collapse_ws(line) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def scaled(number: float, scale: float | None) -> float:
    """``number * scale`` in decimal, so 19900 fen at 0.01 is exactly 199.0 yuan."""
    if scale is None:
        return number
    return float(Decimal(repr(number)) * Decimal(repr(scale)))


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


def finish(
    values: list[Any],
    *,
    value_type: str,
    many: bool,
    regex: str | None = None,
    strip_html: bool = False,
    scale: float | None = None,
    join: str = DEFAULT_JOIN,
    base_url: str = "",
) -> Any:
    """Turn raw matched values into the field's value; the transforms run in this order:
    strip_html, regex, then the type (numbers are scaled, ``many`` text is joined).

    HTML selectors pass strings; API fields may pass JSON numbers, which are kept as is.
    """
    if not many:
        values = values[:1]
    if value_type in NUMBER_TYPES:
        numbers: list[float] = []
        for value in values:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                number: float | None = float(value)
            else:
                text = html_to_text(str(value)) if strip_html else str(value)
                number = parse_number(text, regex)
            if number is not None:
                numbers.append(scaled(number, scale))
        parsed: list[Any] = [round(n) for n in numbers] if value_type == "int" else numbers
        if many:
            return parsed
        return parsed[0] if parsed else None
    texts = [html_to_text(str(v)) if strip_html else collapse_ws(str(v)) for v in values]
    cleaned = [c for c in (_apply_regex(t, regex) for t in texts) if c]
    if value_type in ("url", "urls"):
        urls = [urljoin(base_url, u) for u in cleaned]
        if many:
            return urls
        return urls[0] if urls else None
    if many:
        return join.join(cleaned) if cleaned else None
    return cleaned[0] if cleaned else None


def evaluate(
    root: Selector | SelectorList[Selector], spec: SelectorSpec, base_url: str = ""
) -> Any:
    """Evaluate one field: str, float, int, list or None when nothing matched."""
    return finish(
        list(select(root, spec)),
        value_type=spec.type,
        many=spec.many,
        regex=spec.regex,
        strip_html=spec.strip_html,
        scale=spec.scale,
        join=spec.join,
        base_url=base_url,
    )


def matched_alternatives(
    root: Selector | SelectorList[Selector], spec: SelectorSpec
) -> list[tuple[str, int]]:
    """Each CSS alternative (or the XPath) that matched under ``root``, with its match count."""
    if spec.css is None:
        count = len(root.xpath(spec.xpath or ""))
        return [(f"xpath {spec.xpath}", count)] if count else []
    found = []
    for alternative in spec.alternatives():
        count = len(root.css(alternative))
        if count:
            found.append((f"css {alternative}", count))
    return found


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


def json_value(data: Any, spec: JsonFieldSpec, base_url: str = "") -> Any:
    """One API field: the value at its path, typed and transformed as the profile says."""
    value = dotted_get(data, spec.path)
    if spec.plain or value is None:
        return value
    many = isinstance(value, list)
    values = [v for v in value if v is not None] if many else [value]
    value_type = spec.type or "text"
    # a JSON list is many values: numbers stay a list, text is joined
    return finish(
        values,
        value_type=value_type,
        many=many or value_type == "urls",
        regex=spec.regex,
        strip_html=spec.strip_html,
        scale=spec.scale,
        join=DEFAULT_JOIN if spec.join is None else spec.join,
        base_url=base_url,
    )


def json_fields(
    data: Any, fields: Mapping[str, JsonFieldSpec | str], base_url: str = ""
) -> dict[str, Any]:
    """Pick every field of an API profile out of a JSON object."""
    specs = {n: s if isinstance(s, JsonFieldSpec) else JsonFieldSpec(s) for n, s in fields.items()}
    return {name: json_value(data, spec, base_url) for name, spec in specs.items()}


def absolute_urls(values: Iterable[Any], base_url: str) -> list[str]:
    return [urljoin(base_url, str(v)) for v in values if v not in (None, "")]
