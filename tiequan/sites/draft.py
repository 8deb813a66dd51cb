"""`tiequan sites draft`: a first profile for an unknown site, guessed from its pages.

From one listing page: the item links (the largest group of links whose paths differ only
in their last segment) and the next-page link. From each item page given (one per page
template; the first item link if none): the id (an attribute holding the id in the URL),
the title (the heading that matches the document title, else h1 or og:title), the price
(itemprop or data- attributes, else a "price" element or a currency amount), the
original price (struck-through amounts), the description (the block with the most
paragraph text) and the licence (the block holding a valid 统一社会信用代码, on the item
page or behind a licence link). Selectors found on several item pages are joined into
comma lists (CSS) or unions (XPath), one alternative per template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml
from parsel import Selector

from crawlers.browser import find_chromium
from crawlers.extract import collapse_ws, parse_number
from crawlers.profiles import ProfileError, load_profile
from tiequan.party.creditcode import validate
from tiequan.sites.fetch import Fetcher, FetchError, Page

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
MIN_ITEM_LINKS = 2
_STABLE_RE = re.compile(r"^[A-Za-z_][\w-]*$")
_CODE_RE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")
_CURRENCY_RE = re.compile(r"[¥￥]\s*\d|\d\s*元")
_NEXT_TEXTS = {"下一页", "下页", "下一頁", "后页", "next", "next page", "›", "»", ">", "next ›"}
_NEXT_CLASS_RE = re.compile(r"(^|[-_])next($|[-_])", re.I)
_WAS_RE = re.compile(r"orig|old|was|mkt|market|line|del|before|list", re.I)
_NOISE_RE = re.compile(
    r"header|footer|nav|menu|recommend|related|crumb|comment|banner|top-bar", re.I
)
_LICENCE_TEXTS = ("营业执照", "执照", "资质", "证照", "licence", "license")
LABELS: dict[str, tuple[str, ...]] = {
    "credit_code": ("统一社会信用代码", "信用代码"),
    "name": ("企业名称", "公司名称", "经营者名称", "名称"),
    "address": ("住所", "注册地址", "经营场所", "地址"),
}
SEPARATORS = re.compile(r"\s+[-_|–—]\s+|\s*[|_]\s*")


class DraftError(RuntimeError):
    """The pages do not allow a draft (not fetched, no item links, a bad name)."""


@dataclass
class Draft:
    data: dict[str, Any]
    yaml: str
    notes: list[str] = field(default_factory=list)


# ---- selectors for elements -------------------------------------------------------------


def _classes(el: Any) -> list[str]:
    return [
        c
        for c in (el.get("class") or "").split()
        if _STABLE_RE.match(c) and not re.search(r"\d{3,}", c)
    ]


def simple(el: Any) -> str:
    """A short CSS selector for ``el`` alone: #id, tag.class, tag[itemprop=...] or tag."""
    ident = el.get("id")
    if ident and _STABLE_RE.match(ident) and not re.search(r"\d{3,}", ident):
        return f"#{ident}"
    classes = _classes(el)
    if classes:
        return f"{el.tag}.{classes[0]}"
    if el.get("itemprop"):
        return f"{el.tag}[itemprop={el.get('itemprop')}]"
    return str(el.tag)


def css_for(el: Any, doc: Selector) -> str:
    """A CSS selector whose first match in document order is ``el``."""
    own = simple(el)
    path = [own]
    for ancestor in el.iterancestors():
        # a bare tag alone would match any template's element of that tag: scope it
        if _first(doc, " ".join(path)) is el and path[0] != el.tag:
            break
        if ancestor.tag in ("html", "body"):
            break
        step = simple(ancestor)
        if step != ancestor.tag:
            path.insert(0, step)
    return " ".join(path)


def _first(doc: Selector, css: str) -> Any:
    found = doc.css(css)
    return found[0].root if found else None


def _text(el: Any) -> str:
    return collapse_ws("".join(el.itertext()))


def _own_text(el: Any) -> str:
    return collapse_ws("".join(t for t in el.xpath("text()")))


def _noisy(el: Any) -> bool:
    """Inside page furniture: navigation, footers, the page header, recommendations."""
    for node in (el, *el.iterancestors()):
        if node.tag in ("footer", "nav", "script", "style"):
            return True
        parent = node.getparent()
        if node.tag == "header" and parent is not None and parent.tag == "body":
            return True
        if _NOISE_RE.search(f"{node.get('class') or ''} {node.get('id') or ''}"):
            return True
    return False


def _elements(doc: Selector) -> list[Any]:
    return [e for e in doc.root.iter() if isinstance(e.tag, str)]


# ---- listing pages -----------------------------------------------------------------------


@dataclass
class LinkGroup:
    prefix: str
    urls: list[str]
    anchors: list[Any]


def item_link_groups(doc: Selector, url: str) -> list[LinkGroup]:
    """Groups of same-site links whose paths differ only in the last segment, largest first."""
    host = urlsplit(url).netloc
    groups: dict[str, LinkGroup] = {}
    for anchor in doc.xpath("//a[@href]"):
        target = urljoin(url, anchor.attrib["href"])
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or parts.netloc != host:
            continue
        segments = [s for s in parts.path.split("/") if s]
        if len(segments) < 2:
            continue
        prefix = "/" + "/".join(segments[:-1]) + "/"
        group = groups.setdefault(prefix, LinkGroup(prefix, [], []))
        if target not in group.urls:
            group.urls.append(target)
            group.anchors.append(anchor.root)

    def score(group: LinkGroup) -> tuple[int, int]:
        ids = sum(1 for u in group.urls if re.search(r"\d", urlsplit(u).path.rsplit("/", 1)[-1]))
        return ids, len(group.urls)

    found = [g for g in groups.values() if len(g.urls) >= MIN_ITEM_LINKS]
    return sorted(found, key=score, reverse=True)


def _common_ancestor(elements: Sequence[Any]) -> Any:
    chains = [list(reversed([e, *e.iterancestors()])) for e in elements]
    common = None
    for nodes in zip(*chains, strict=False):
        if all(n is nodes[0] for n in nodes):
            common = nodes[0]
        else:
            break
    return common


def item_links_selector(group: LinkGroup) -> str:
    link = f'a[href*="{group.prefix}"]::attr(href)'
    container = _common_ancestor(group.anchors)
    if container is not None and container.tag not in ("html", "body"):
        step = simple(container)
        if step != container.tag:
            return f"{step} {link}"
    return link


def next_page_selector(doc: Selector) -> str | None:
    for anchor in doc.xpath("//a[@href]"):
        el = anchor.root
        tokens = (el.get("class") or "").split()
        nxt = [t for t in tokens if _NEXT_CLASS_RE.search(t)]
        if nxt:
            parent = el.getparent()
            scope = (
                simple(parent) + " " if parent is not None and simple(parent) != parent.tag else ""
            )
            return f"{scope}a.{nxt[0]}::attr(href)"
        if (el.get("rel") or "").lower() == "next":
            return 'a[rel="next"]::attr(href)'
    for anchor in doc.xpath("//a[@href]"):
        text = _text(anchor.root)
        if text.lower() in _NEXT_TEXTS:
            return f"//a[normalize-space()='{text}']/@href"
    return None


# ---- item pages --------------------------------------------------------------------------


def title_selector(doc: Selector) -> str | None:
    head = collapse_ws(doc.xpath("string(//title)").get() or "")
    head = SEPARATORS.split(head)[0] if head else ""
    best: tuple[int, Any] | None = None
    for el in _elements(doc):
        if el.tag not in ("h1", "h2", "h3", "h4") and not el.get("itemprop") == "name":
            if not re.search(r"title|name", el.get("class") or "", re.I) or el.tag == "a":
                continue
        text = _text(el)
        if not text or _noisy(el) or len(text) > 200:
            continue
        score = 0
        if head and text == head:
            score += 4
        elif head and (head.startswith(text) or text.startswith(head)):
            score += 2
        score += 2 if el.tag == "h1" else 1 if el.tag in ("h2", "h3") else 0
        if best is None or score > best[0]:
            best = (score, el)
    if best is not None and best[0] >= 2:
        return css_for(best[1], doc) + "::text"
    if doc.css('meta[property="og:title"]::attr(content)').get():
        return 'meta[property="og:title"]::attr(content)'
    return None


def _struck(el: Any) -> bool:
    return any(n.tag in ("del", "s", "strike") for n in (el, *el.iterancestors()))


def price_selector(doc: Selector) -> str | None:
    for el in _elements(doc):
        if el.get("itemprop") == "price" and parse_number(el.get("content")) is not None:
            return f"{css_for(el, doc)}::attr(content)"
    for el in _elements(doc):
        for attr, value in el.attrib.items():
            if "price" in attr and attr.startswith("data-") and parse_number(value) is not None:
                if not _WAS_RE.search(attr) and not _noisy(el):
                    return f"{css_for(el, doc)}::attr({attr})"
    priced = []
    for el in _elements(doc):
        classes = el.get("class") or ""
        if "price" not in classes.lower() or _WAS_RE.search(classes) or _struck(el):
            continue
        if _noisy(el) or parse_number(_text(el)) is None or len(_text(el)) > 40:
            continue
        if any(c.tag in ("del", "s", "strike") for c in el.iter()):
            continue  # it holds the old price too: its text would run both together
        priced.append(el)
    # the innermost "price" element: a box around it may hold an old price on other pages
    leaves = [
        e for e in priced if not any("price" in (c.get("class") or "") for c in e.iterdescendants())
    ]
    if leaves or priced:
        return css_for((leaves or priced)[0], doc)
    for el in _elements(doc):
        if _CURRENCY_RE.search(_own_text(el)) and not _struck(el) and not _noisy(el):
            return css_for(el, doc)
    return None


def original_price_selector(doc: Selector) -> str | None:
    for el in _elements(doc):
        if el.tag in ("del", "s", "strike") and not _noisy(el):
            if parse_number(_text(el)) is not None:
                return css_for(el, doc) + "::text"
    return None


def description_selector(doc: Selector, title: str | None) -> tuple[str, bool] | None:
    """(selector, many) of the block with the most paragraph text."""
    best: tuple[int, Any, bool] | None = None
    for el in _elements(doc):
        if el.tag in ("html", "body", "head", "script", "style", "title") or _noisy(el):
            continue
        paras = [c for c in el if isinstance(c.tag, str) and c.tag == "p"]
        para_text = sum(len(_text(p)) for p in paras)
        own = len(_own_text(el))
        for size, many in ((para_text, True), (own, False)):
            if size and (best is None or size > best[0]):
                best = (size, el, many)
    if best is None:
        return None
    _size, el, many = best
    css = css_for(el, doc)
    return (f"{css} p", True) if many else (css, False)


def id_selector(doc: Selector, item_id: str) -> str | None:
    """An attribute that holds exactly the id of the item's URL."""
    best: tuple[int, str] | None = None
    for el in _elements(doc):
        for attr, value in el.attrib.items():
            if value.strip() != item_id or attr in ("href", "src", "action"):
                continue
            score = 2 if re.search(r"id|sku", attr, re.I) else 1
            if el.tag == "input":
                score += 1
            candidate = f"{css_for(el, doc)}::attr({attr})"
            if best is None or score > best[0]:
                best = (score, candidate)
    return best[1] if best else None


def shop_selector(doc: Selector) -> str | None:
    for anchor in doc.xpath("//a[@href]"):
        el = anchor.root
        href = el.get("href") or ""
        if re.search(r"/(shop|store)s?/", href) and "licen" not in href and _text(el):
            if not _noisy(el) and not any(t in _text(el) for t in _LICENCE_TEXTS):
                return css_for(el, doc) + "::text"
    return None


def _xpath_literal(text: str) -> str:
    return f"'{text}'" if "'" not in text else f'"{text}"'


def licence_fields(doc: Selector) -> dict[str, tuple[str, set[str]]]:
    """Licence fields on this page: name -> (XPath, labels found), from a valid code's block."""
    holder = None
    for el in _elements(doc):
        if el.tag in ("script", "style"):
            continue
        for code in _CODE_RE.findall(_own_text(el)):
            if validate(code).valid:
                holder = el
                break
        if holder is not None:
            break
    if holder is None:
        return {}
    found: dict[str, tuple[str, set[str]]] = {}
    scope = holder
    for _ in range(4):  # the licence block: widen until it shows a name label too
        if scope.getparent() is None:
            break
        scope = scope.getparent()
        if any(label in _text(scope) for label in LABELS["name"]):
            break
    for name, labels in LABELS.items():
        for el in scope.iter():
            if not isinstance(el.tag, str):
                continue
            text = _text(el)
            for label in labels:
                if text == label:  # a label cell: the value is the next element
                    value = el.getnext()
                    if value is not None and _text(value):
                        xp = (
                            f"//{el.tag}[normalize-space()={_xpath_literal(label)}]"
                            f"/following-sibling::{value.tag}[1]"
                        )
                        found.setdefault(name, (xp, {label}))
                elif re.match(rf"^{label}\s*[：:]", text) and len(el) == 0:
                    xp = f"//{el.tag}[starts-with(normalize-space(), {_xpath_literal(label)})]"
                    found.setdefault(name, (xp, {label}))
            if name in found:
                break
    if "credit_code" not in found:
        css = css_for(holder, doc)
        found["credit_code"] = (_css_xpath(css), set())
    return found


def _css_xpath(css: str) -> str:
    from parsel.csstranslator import HTMLTranslator

    return str(HTMLTranslator().css_to_xpath(css, prefix="//"))


def licence_link_selector(doc: Selector) -> str | None:
    for anchor in doc.xpath("//a[@href]"):
        el = anchor.root
        text = _text(el)
        if any(t in text.lower() for t in _LICENCE_TEXTS) or "licen" in (el.get("href") or ""):
            if not _noisy(el):
                return css_for(el, doc) + "::attr(href)"
    return None


# ---- putting a profile together ----------------------------------------------------------


def _join_css(values: Iterable[str | None]) -> str | None:
    unique = list(dict.fromkeys(v for v in values if v))
    return ", ".join(unique) if unique else None


def _licence_regex(name: str, labels: set[str]) -> str:
    if name == "credit_code":
        return "([0-9A-Z]{18})"
    if not labels:
        return r"^\s*(.+?)\s*$"
    alternatives = "|".join(sorted(labels, key=len, reverse=True))
    return rf"^(?:(?:{alternatives})\s*[：:])?\s*(.+?)\s*$"


class Drafter:
    def __init__(self, fetcher: Fetcher, render: str = "auto") -> None:
        self.fetcher = fetcher
        self.render = render
        self.notes: list[str] = []

    def page(self, url: str, browser: bool, wait_for: str | None = None) -> Page:
        try:
            page = self.fetcher.render(url, wait_for) if browser else self.fetcher.get(url)
        except FetchError as exc:
            raise DraftError(str(exc)) from exc
        if page.status != 200:
            raise DraftError(f"{url}: HTTP status {page.status}")
        return page

    def listing(self, url: str) -> tuple[Selector, bool, list[LinkGroup]]:
        """The listing page (rendered when its HTML has no item links) and its link groups."""
        browser = self.render == "browser"
        page = self.page(url, browser)
        doc = Selector(text=page.text)
        groups = self._allowed(item_link_groups(doc, page.final_url))
        if not groups and self.render == "auto" and find_chromium() is not None:
            self.notes.append("the listing's HTML holds no item links: rendered in Chromium")
            browser = True
            page = self.page(url, True, "a[href]")
            doc = Selector(text=page.text)
            groups = self._allowed(item_link_groups(doc, page.final_url))
        if not groups:
            raise DraftError(f"{url}: no group of {MIN_ITEM_LINKS} or more item links found")
        return doc, browser, groups

    def _allowed(self, groups: list[LinkGroup]) -> list[LinkGroup]:
        return [g for g in groups if self.fetcher.allowed(g.urls[0])]

    def item(self, url: str, browser: bool) -> dict[str, Any]:
        page = self.page(url, browser, "h1, h2, h3" if browser else None)
        doc = Selector(text=page.text)
        item_id = urlsplit(page.final_url).path.rstrip("/").rsplit("/", 1)[-1]
        title = title_selector(doc)
        description = description_selector(doc, title)
        found: dict[str, Any] = {
            "id": id_selector(doc, item_id),
            "title": title,
            "price": price_selector(doc),
            "original_price": original_price_selector(doc),
            "text": description,
            "shop_name": shop_selector(doc),
            "licence": licence_fields(doc),
            "licence_link": None,
        }
        if not found["licence"]:
            link = licence_link_selector(doc)
            target = doc.css(link).get() if link else None
            if link and target:
                found["licence_link"] = link
                licence_page = self.page(urljoin(page.final_url, target), browser)
                found["linked_licence"] = licence_fields(Selector(text=licence_page.text))
        if found["id"] is None:
            self.notes.append(f"{url}: no attribute holds the id {item_id!r}; set item.fields.id")
        return found


def _item_fields(pages: list[dict[str, Any]]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    ident = _join_css(p["id"] for p in pages)
    fields["id"] = ident or "TODO-id-selector"
    fields["title"] = _join_css(p["title"] for p in pages) or "h1::text"
    descriptions = [p["text"] for p in pages if p["text"]]
    if descriptions:
        many = any(d[1] for d in descriptions)
        fields["text"] = {"css": _join_css(d[0] for d in descriptions), "many": many}
    price = _join_css(p["price"] for p in pages)
    if price:
        fields["price"] = {"css": price, "type": "float"}
    was = _join_css(p["original_price"] for p in pages)
    if was:
        fields["original_price"] = {"css": was, "type": "float"}
    shop = _join_css(p["shop_name"] for p in pages)
    if shop:
        fields["shop_name"] = shop
    return fields


def _licence_block(pages: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str | None]:
    on_page = [p["licence"] for p in pages if p["licence"]]
    linked = [p["linked_licence"] for p in pages if p.get("linked_licence")]
    link = _join_css(p["licence_link"] for p in pages)
    sources = on_page + linked
    if not sources:
        return None, link
    fields: dict[str, Any] = {}
    for name in LABELS:
        xpaths = list(dict.fromkeys(s[name][0] for s in sources if name in s))
        labels: set[str] = set()
        for s in sources:
            if name in s:
                labels |= s[name][1]
        if xpaths:
            fields[name] = {"xpath": " | ".join(xpaths), "regex": _licence_regex(name, labels)}
    read_from = (["page"] if on_page else []) + (["link"] if link and linked else [])
    return {"read_from": read_from, "fields": fields}, link if linked else None


def draft_profile(
    listing_url: str,
    name: str,
    *,
    items: Sequence[str] = (),
    platform: str | None = None,
    render: str = "auto",
    fetcher: Fetcher | None = None,
) -> Draft:
    """Draft a profile from a listing page and item pages (default: its first item link)."""
    if not NAME_RE.match(name):
        raise DraftError(f"--name {name!r}: use lower-case letters, digits and _, a letter first")
    parts = urlsplit(listing_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise DraftError(f"{listing_url!r} is not an http(s) URL")
    own = fetcher is None
    fetcher = fetcher or Fetcher(delay=1.0)
    try:
        drafter = Drafter(fetcher, render)
        doc, browser, groups = drafter.listing(listing_url)
        group = groups[0]
        targets = [urljoin(listing_url, u) for u in items] or group.urls[:1]
        pages = [drafter.item(u, browser) for u in targets]
        next_page = next_page_selector(doc)
    finally:
        if own:
            fetcher.close()
    listing: dict[str, Any] = {"item_links": item_links_selector(group), "max_pages": 50}
    if next_page:
        listing["next_page"] = next_page
    data: dict[str, Any] = {
        "name": name,
        "platform": platform or name,
        "kind": "product",
        "render": "browser" if browser else "static",
        "base_url": f"{parts.scheme}://{parts.netloc}",
        "start_paths": [parts.path + (f"?{parts.query}" if parts.query else "")],
    }
    if browser:
        wait = listing["item_links"].split("::")[0]
        data["browser"] = {"wait_for": wait, "scroll_times": 0 if next_page else 10}
    data["listing"] = listing
    item: dict[str, Any] = {"fields": _item_fields(pages)}
    licence, link = _licence_block(pages)
    if link:
        item["licence_link"] = link
    data["item"] = item
    if licence:
        data["licence"] = licence
    # Polite defaults for a platform nobody has measured yet; a draft is not scheduled.
    data["politeness"] = {
        "download_delay": 2.0,
        "concurrent_requests": 2,
        "autothrottle": True,
        "obey_robots": True,
    }
    data["schedule"] = {"enabled": False}
    notes = drafter.notes
    for key in ("price", "text"):
        if key not in data["item"]["fields"]:
            notes.append(f"no {key} found: add item.fields.{key}")
    if licence is None:
        notes.append(
            "no licence found (no valid 统一社会信用代码 on the item page or behind a link)"
        )
    text = _to_yaml(data, listing_url, targets)
    _validate(text, name)
    return Draft(data, text, notes)


def _to_yaml(data: dict[str, Any], listing_url: str, items: Sequence[str]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = [
        f"# Drafted by `tiequan sites draft` on {when} from",
        f"#   listing {listing_url}",
        *(f"#   item    {u}" for u in items),
        "# Check it with `tiequan sites check` on other pages and templates, then edit:",
        "# kind, platform, politeness and schedule are defaults, not measured.",
    ]
    body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)
    return "\n".join(header) + "\n" + body


def _validate(text: str, name: str) -> None:
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_profile(path)
        except ProfileError as exc:
            raise DraftError(f"the drafted profile does not load: {exc}") from exc


__all__ = ["Draft", "DraftError", "draft_profile"]
