"""Request routing for the sandbox: path + query -> response, no sockets involved."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from dataclasses import dataclass, field
from html import escape
from typing import Any

from tiequan.sandbox import html_apps, html_common, html_mall, html_property
from tiequan.sandbox.images import render_png
from tiequan.sandbox.pricewatch import priced
from tiequan.sandbox.takedown import as_shown
from tiequan.sandbox.world import (
    FEED_BATCH,
    MALL_PAGE_SIZE,
    PROPERTY_PAGE_SIZE,
    TRAP_REAL_PAGES,
    Entry,
    World,
)

HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"
_TRAP_PAGE_SIZE = 12
# The JS mall's app API (v2): offset/limit paging with a "next" link, prices in fen (分),
# descriptions as HTML, the shop's licence inline in every item.
V2_DEFAULT_LIMIT = 20
V2_MAX_LIMIT = 50
_CSS = b"body{font-family:sans-serif;margin:0 auto;max-width:1000px}.footer{color:#888}"


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = HTML
    headers: dict[str, str] = field(default_factory=dict)


def _html(text: str, status: int = 200) -> Response:
    return Response(status, text.encode("utf-8"))


def _json(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data, ensure_ascii=False).encode("utf-8"), JSON)


def _int(query: dict[str, list[str]], key: str, default: int) -> int:
    try:
        return max(0, int(query.get(key, [str(default)])[0]))
    except ValueError:
        return default


def _chunk(items: list[Entry], page_no: int, size: int) -> tuple[list[Entry], bool]:
    start = (page_no - 1) * size
    return items[start : start + size], start + size < len(items)


def _desc_html(text: str) -> str:
    """A description as the app API sends it: paragraphs, the first words in bold."""
    paras = []
    for k, line in enumerate(x for x in text.split("\n") if x):
        shown = escape(line, quote=False)
        if k == 0 and len(line) > 4:
            head, rest = escape(line[:4], quote=False), escape(line[4:], quote=False)
            shown = f"<strong>{head}</strong>{rest}"
        paras.append(f"<p>{shown}</p>")
    return '<div class="rich-desc">' + "\n".join(paras) + "</div>"


def _post_image(post: Entry) -> str | None:
    return f"/social/img/{post.images[0]}.png" if post.images else None


class SandboxApp:
    """Renders every sandbox page from one ``World``; images are drawn on first use."""

    def __init__(self, world: World, night: int = 0, layout: str = html_mall.STANDARD) -> None:
        self.world = world
        self.night = night  # which night's prices the price-watch listings show
        self.layout = layout  # html_mall.LAYOUTS: how the mall's item pages are laid out
        # Mall item texts a test rewrote (SandboxServer.edit_text), by item id.
        self.edited: dict[str, str] = {}
        self._images: dict[tuple[str, str], bytes] = {}
        self._image_lock = threading.Lock()
        self._routes: list[tuple[re.Pattern[str], Any]] = [
            (re.compile(r"/robots\.txt"), self._robots),
            (re.compile(r"/static/.*"), self._static),
            (re.compile(r"/favicon\.ico"), lambda q: Response(204, b"", "image/x-icon")),
            (re.compile(r"/(mall|jsmall|social)/img/([\w-]+)\.png"), self._image),
            (re.compile(r"/mall/?"), lambda q: _html(html_mall.home_page())),
            (re.compile(r"/mall/search"), self._mall_search),
            (re.compile(r"/mall/browse/clearance"), self._mall_trap),
            (re.compile(r"/mall/item/(\w+)"), self._mall_item),
            (re.compile(r"/mall/shop/(\w+)/?"), self._mall_shop),
            (re.compile(r"/mall/shop/(\w+)/licence"), self._mall_licence),
            (
                re.compile(r"/mall/admin(/.*)?"),
                lambda q, rest=None: _html(html_common.admin_page(rest or "/")),
            ),
            (
                re.compile(r"/private/.*"),
                lambda q: _html(html_common.page("内部", "<p>内部页面</p>")),
            ),
            (re.compile(r"/jsmall/?"), lambda q: _html(html_apps.jsmall_list_shell())),
            (re.compile(r"/jsmall/item/(\w+)"), self._jsmall_item),
            (re.compile(r"/jsmall/shop/(\w+)"), self._jsmall_shop_page),
            (re.compile(r"/jsmall/api/items"), self._jsmall_api_list),
            (re.compile(r"/jsmall/api/v2/items"), self._jsmall_api_v2_list),
            (re.compile(r"/jsmall/api/items/(\w+)"), self._jsmall_api_item),
            (re.compile(r"/jsmall/api/shops/(\w+)"), self._jsmall_api_shop),
            (
                re.compile(r"/social/?(feed)?"),
                lambda q, _f=None: _html(html_apps.social_feed_shell()),
            ),
            (re.compile(r"/social/api/feed"), self._social_api),
            (re.compile(r"/social/post/(\w+)"), self._social_post),
            (re.compile(r"/property/?"), lambda q: _html(html_property.home_page())),
            (re.compile(r"/property/list"), self._property_list),
            (re.compile(r"/property/listing/(\w+)"), self._property_item),
            (re.compile(r"/property/developer/(\w+)/licence"), self._property_licence),
        ]

    def handle(self, path: str, query: dict[str, list[str]]) -> Response:
        for pattern, handler in self._routes:
            m = pattern.fullmatch(path)
            if m:
                return handler(query, *m.groups())  # type: ignore[no-any-return]
        return _html(html_common.not_found_page(), 404)

    # --- shared -----------------------------------------------------------------
    def _robots(self, query: dict[str, list[str]]) -> Response:
        return Response(200, html_common.ROBOTS_TXT.encode(), "text/plain; charset=utf-8")

    def _static(self, query: dict[str, list[str]]) -> Response:
        return Response(200, _CSS, "text/css; charset=utf-8")

    def _image(self, query: dict[str, list[str]], prefix: str, name: str) -> Response:
        lines = self.world.images.get((prefix, name))
        if lines is None:
            return _html(html_common.not_found_page("图片"), 404)
        key = (prefix, name)
        with self._image_lock:
            png = self._images.get(key)
            if png is None:
                png = render_png(lines, f"{self.world.seed}:{prefix}:{name}")
                self._images[key] = png
        return Response(200, png, "image/png", {"Cache-Control": "max-age=86400"})

    # --- mall -------------------------------------------------------------------
    def _mall_search(self, query: dict[str, list[str]]) -> Response:
        family = query.get("q", [""])[0]
        page_no = max(1, _int(query, "page", 1))
        shown = (
            as_shown(self.world.seed, e, self.night)
            for e in self.world.family_items("mall", family)
        )
        items = [e for e in shown if e is not None]
        chunk, has_next = _chunk(items, page_no, MALL_PAGE_SIZE)
        label = html_mall.FAMILIES.get(family, family)
        title = f"共找到 {len(items)} 件“{label}”相关商品"
        base = f"/mall/search?q={family}&page="
        return _html(html_mall.listing_page(title, chunk, base, page_no, has_next))

    def _mall_trap(self, query: dict[str, list[str]]) -> Response:
        # Real for a few pages, then empty pages that still offer "next" forever.
        page_no = max(1, _int(query, "page", 1))
        chunk: list[Entry] = []
        if page_no <= TRAP_REAL_PAGES:
            ids = self.world.trap_ids[(page_no - 1) * _TRAP_PAGE_SIZE : page_no * _TRAP_PAGE_SIZE]
            chunk = [e for e in (self.world.find("mall", i) for i in ids) if e is not None]
        if page_no == 1:
            chunk += [priced(e, self.night) for e in self.world.price_watch]
            chunk += self.world.hostile
        base = "/mall/browse/clearance?page="
        return _html(html_mall.listing_page("清仓特卖", chunk, base, page_no, True))

    def _mall_item(self, query: dict[str, list[str]], item_id: str) -> Response:
        found = self.world.find("mall", item_id)
        item = None if found is None else as_shown(self.world.seed, found, self.night)
        if item is None:  # never existed, or taken down by the seller (tiequan.sandbox.takedown)
            return _html(html_common.not_found_page("商品"), 404)
        item = priced(item, self.night)
        if item_id in self.edited:
            item = dataclasses.replace(item, text=self.edited[item_id])
        shop = self.world.shops["mall"][item.shop_id]
        same = self.world.family_items("mall", item.family)
        at = same.index(item) if item in same else -1  # price-watch items are in no family
        others = [same[(at + k) % len(same)] for k in (1, 2, 3, 4) if len(same) > k]
        return _html(html_mall.item_page(item, shop, others, self.layout))

    def _mall_shop(self, query: dict[str, list[str]], shop_id: str) -> Response:
        shop = self.world.shops["mall"].get(shop_id)
        if shop is None:
            return _html(html_common.not_found_page("店铺"), 404)
        items = [e for e in self.world.entries["mall"] if e.shop_id == shop_id]
        return _html(html_mall.shop_page(shop, items))

    def _mall_licence(self, query: dict[str, list[str]], shop_id: str) -> Response:
        shop = self.world.shops["mall"].get(shop_id)
        if shop is None:
            return _html(html_common.not_found_page("店铺"), 404)
        page = html_common.licence_page(shop, f"/mall/shop/{shop_id}/", html_mall.SITE)
        return _html(page)

    # --- JS mall ----------------------------------------------------------------
    def _jsmall_item(self, query: dict[str, list[str]], item_id: str) -> Response:
        if self.world.find("jsmall", item_id) is None:
            return _html(html_common.not_found_page("商品"), 404)
        return _html(html_apps.jsmall_item_shell(item_id))

    def _jsmall_shop_page(self, query: dict[str, list[str]], shop_id: str) -> Response:
        shop = self.world.shops["jsmall"].get(shop_id)
        if shop is None:
            return _html(html_common.not_found_page("店铺"), 404)
        return _html(html_common.licence_page(shop, "/jsmall/", html_apps.JS_SITE))

    def _jsmall_api_list(self, query: dict[str, list[str]]) -> Response:
        items = self.world.entries["jsmall"]
        page_no = max(1, _int(query, "page", 1))
        chunk, _ = _chunk(items, page_no, MALL_PAGE_SIZE)
        last = max(1, -(-len(items) // MALL_PAGE_SIZE))
        rows = [
            {
                "id": e.item_id,
                "title": e.title,
                "price": e.price,
                "thumb": f"/jsmall/img/{e.images[0]}.png" if e.images else None,
            }
            for e in chunk
        ]
        return _json({"items": rows, "page": page_no, "last_page": last, "total": len(items)})

    def _jsmall_api_item(self, query: dict[str, list[str]], item_id: str) -> Response:
        e = self.world.find("jsmall", item_id)
        if e is None:
            return _json({"error": "not_found", "message": "商品不存在"}, 404)
        shop = self.world.shops["jsmall"][e.shop_id]
        return _json(
            {
                "id": e.item_id,
                "title": e.title,
                "price": e.price,
                "original_price": e.original_price,
                "sales": e.sales,
                "description": e.text,
                "images": [f"/jsmall/img/{n}.png" for n in e.images],
                "shop": {"id": shop.shop_id, "name": shop.name},
                "category": html_mall.FAMILIES.get(e.family, ""),
                "url": e.path,
            }
        )

    def _jsmall_api_v2_list(self, query: dict[str, list[str]]) -> Response:
        items = self.world.entries["jsmall"]
        offset = _int(query, "offset", 0)
        limit = min(V2_MAX_LIMIT, max(1, _int(query, "limit", V2_DEFAULT_LIMIT)))
        chunk = items[offset : offset + limit]
        following = offset + limit
        nxt = (
            f"/jsmall/api/v2/items?offset={following}&limit={limit}"
            if following < len(items)
            else None
        )
        return _json(
            {
                "code": 0,
                "data": [self._jsmall_v2_item(e) for e in chunk],
                "paging": {"offset": offset, "limit": limit, "total": len(items)},
                "next": nxt,
            }
        )

    def _jsmall_v2_item(self, e: Entry) -> dict[str, Any]:
        shop = self.world.shops["jsmall"][e.shop_id]
        lic = shop.licence
        licence = (
            {"credit_code": lic.credit_code, "company_name": lic.company, "address": lic.address}
            if lic.credit_code
            else None
        )
        return {
            "id": e.item_id,
            "title": e.title,
            "price_fen": None if e.price is None else round(e.price * 100),
            "original_price_fen": None
            if e.original_price is None
            else round(e.original_price * 100),
            "sales": e.sales,
            "desc_html": _desc_html(e.text),
            "images": [f"/jsmall/img/{n}.png" for n in e.images],
            "shop": {"id": shop.shop_id, "name": shop.name, "licence": licence},
            "category": html_mall.FAMILIES.get(e.family, ""),
            "url": e.path,
        }

    def _jsmall_api_shop(self, query: dict[str, list[str]], shop_id: str) -> Response:
        shop = self.world.shops["jsmall"].get(shop_id)
        if shop is None:
            return _json({"error": "not_found", "message": "店铺不存在"}, 404)
        lic = shop.licence
        return _json(
            {
                "id": shop.shop_id,
                "name": shop.name,
                "licence": {
                    "credit_code": lic.credit_code or None,
                    "company_name": lic.company,
                    "address": lic.address,
                    "legal_rep": lic.legal_rep,
                },
            }
        )

    # --- social -----------------------------------------------------------------
    def _social_api(self, query: dict[str, list[str]]) -> Response:
        posts = self.world.entries["social"]
        cursor = _int(query, "cursor", 0)
        batch = posts[cursor : cursor + FEED_BATCH]
        nxt = cursor + FEED_BATCH if cursor + FEED_BATCH < len(posts) else None
        rows = [
            {
                "id": p.item_id,
                "url": p.path,
                "author": p.extra["author"],
                "title": p.title,
                "text": p.text,
                "image": _post_image(p),
                "likes": int(p.extra["likes"]),
            }
            for p in batch
        ]
        return _json({"posts": rows, "next_cursor": nxt})

    def _social_post(self, query: dict[str, list[str]], post_id: str) -> Response:
        post = self.world.find("social", post_id)
        if post is None:
            return _html(html_common.not_found_page("笔记"), 404)
        return _html(html_apps.social_post_page(post, _post_image(post)))

    # --- property ---------------------------------------------------------------
    def _property_list(self, query: dict[str, list[str]]) -> Response:
        page_no = max(1, _int(query, "page", 1))
        chunk, has_next = _chunk(self.world.entries["property"], page_no, PROPERTY_PAGE_SIZE)
        return _html(html_property.list_page(chunk, page_no, has_next))

    def _property_item(self, query: dict[str, list[str]], item_id: str) -> Response:
        item = self.world.find("property", item_id)
        if item is None:
            return _html(html_common.not_found_page("房源"), 404)
        items = self.world.entries["property"]
        at = items.index(item)
        near = [items[(at + k) % len(items)] for k in (1, 2, 3)]
        return _html(html_property.listing_page(item, near))

    def _property_licence(self, query: dict[str, list[str]], dev_id: str) -> Response:
        dev = self.world.shops["property"].get(dev_id)
        if dev is None:
            return _html(html_common.not_found_page("企业"), 404)
        return _html(html_common.licence_page(dev, "/property/", html_property.SITE))
