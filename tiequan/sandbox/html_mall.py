"""Server-rendered mall pages: four item templates, search, trap, shop pages."""

from __future__ import annotations

from urllib.parse import quote

from tiequan.sandbox.html_common import e, page
from tiequan.sandbox.parties import Shop
from tiequan.sandbox.textbase import FAMILIES
from tiequan.sandbox.world import Entry

SITE = "塔拉优选"
# Page layouts the mall can serve. "price_moved" is a redesign of the first item template
# that prints the price in a new element, where the shipped profile's selectors find none
# (a layout change the crawl-health field-coverage alert must catch).
STANDARD = "standard"
PRICE_MOVED = "price_moved"
LAYOUTS = (STANDARD, PRICE_MOVED)


def _header(query: str = "") -> str:
    return f"""<div id="top-bar"><span>欢迎来到{SITE}！</span>
<a href="/mall/login">请登录</a> <a href="/mall/admin/">商家后台</a>
<a href="/mall/help">客服</a></div>
<!-- header -->
<div class="header"><a class="logo" href="/mall/">{SITE}</a>
<form action="/mall/search" method="get"><input name="q" value="{e(query)}">
<input type="hidden" name="page" value="1"><button>搜索</button></form></div>"""


def _img(prefix: str, name: str) -> str:
    return f"/{prefix}/img/{quote(name)}.png"


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _paras(text: str) -> str:
    return "\n".join(f"<p>{e(line)}</p>" for line in text.split("\n") if line)


def _recommend(others: list[Entry]) -> str:
    lis = "".join(
        f'<li><a href="{e(o.path)}">{e(o.title)}</a><i>¥{_money(o.price)}</i></li>' for o in others
    )
    return f'<div class="recommend"><h3>猜你喜欢</h3><ul>{lis}</ul></div>'


def _template_a(item: Entry, shop: Shop, price_moved: bool = False) -> str:
    imgs = "".join(f'<img src="{_img("mall", n)}" alt="详情图">' for n in item.images)
    orig = (
        f' <del class="price-origin">¥{_money(item.original_price)}</del>'
        if item.original_price
        else ""
    )
    price = f'<span class="price-now">¥<em>{_money(item.price)}</em></span>'
    if price_moved:
        price = f'<span class="price-current" data-yuan="{_money(item.price)}">到手价</span>'
    return f"""<div class="item-detail clearfix" data-item-id="{e(item.item_id)}">
  <div class="gallery"><img class="main-pic" src="{_img("mall", item.images[0])}" alt=""></div>
  <div class="info">
    <h1 class="item-title">{e(item.title)}</h1>
    <div class="price-box">{price}{orig}</div>
    <div class="meta"><span class="sold">月销 {item.sales}+</span>
      <span class="rate">好评率98%</span></div>
    <div class="shop-card">
      <a class="shop-name" href="/mall/shop/{e(shop.shop_id)}/">{e(shop.name)}</a>
      <a class="licence-link" href="/mall/shop/{e(shop.shop_id)}/licence">营业执照</a></div>
  </div>
</div>
<div class="tabs"><ul><li class="on">商品详情</li><li>累计评价</li><li>售后保障</li></ul></div>
<div class="desc">
{_paras(item.text)}
</div>
<div class="detail-imgs">{imgs}</div>"""


def _template_b(item: Entry, shop: Shop) -> str:
    imgs = "".join(
        f'<p><img class="lazy" src="/static/loading.gif" data-src="{_img("mall", n)}"></p>'
        for n in item.images
    )
    orig = (
        f'市场价：<s class="g-mkt">{_money(item.original_price)}</s>' if item.original_price else ""
    )
    return f"""<input type="hidden" id="goodsId" name="goods_id" value="{e(item.item_id)}">
<table class="goods-info" width="100%" cellpadding="4">
<tr><td class="g-pic" rowspan="4"><img src="{_img("mall", item.images[0])}" width="300"></td>
<td><h2 class="g-name">{e(item.title)}</h2></td></tr>
<tr><td>促销价：<b class="g-price">{_money(item.price)}</b> 元 &nbsp; {orig}</td></tr>
<tr><td>累计销量：<span class="g-sales">{item.sales}</span> 件</td></tr>
<tr><td>店铺：<a class="g-shop" href="/mall/shop/{e(shop.shop_id)}/">{e(shop.name)}</a>
 [<a class="g-licence" href="/mall/shop/{e(shop.shop_id)}/licence">查看营业执照</a>]</td></tr>
</table>
<!--[if lt IE 9]><p>您的浏览器版本过低</p><![endif]-->
<div id="goods-desc">
{_paras(item.text)}
{imgs}
</div>"""


def _template_c(item: Entry, shop: Shop) -> str:
    imgs = "".join(
        f'<figure class="pdp__media"><img src="{_img("mall", n)}" loading="lazy"></figure>'
        for n in item.images
    )
    was = (
        f'<span class="pdp__price--was"><del>¥{_money(item.original_price)}</del></span>'
        if item.original_price
        else ""
    )
    return f"""<main id="app"><section class="pdp" itemscope itemtype="https://schema.org/Product">
<meta itemprop="sku" content="{e(item.item_id)}">
<header class="pdp__head"><h2 class="pdp__title" itemprop="name">{e(item.title)}</h2></header>
<div class="pdp__price"><span class="pdp__price--now" itemprop="price"
 content="{_money(item.price)}">¥{_money(item.price)}</span>{was}</div>
<ul class="pdp__stats"><li class="pdp__sales">已售 {item.sales}</li><li>包邮</li></ul>
<aside class="pdp__seller">
<span class="pdp__shop"><a href="/mall/shop/{e(shop.shop_id)}/">{e(shop.name)}</a></span>
<a class="pdp__licence" href="/mall/shop/{e(shop.shop_id)}/licence">店铺资质</a></aside>
<article class="pdp__desc" itemprop="description">
{_paras(item.text)}
</article>
{imgs}
</section></main>"""


def _licence_panel(shop: Shop) -> str:
    """The seller's licence printed on the item page itself (电子商务法 §15)."""
    lic = shop.licence
    if not lic.credit_code:
        return '<section class="shop-licence"><p>该店铺暂未公示营业执照信息。</p></section>'
    rows = (
        ("企业名称", lic.company),
        ("统一社会信用代码", lic.credit_code),
        ("住所", lic.address),
        ("法定代表人", lic.legal_rep),
        ("经营范围", lic.scope),
    )
    lis = "".join(f"<li>{e(k)}：{e(v)}</li>" for k, v in rows)
    return f"""<section class="shop-licence"><h4>经营者营业执照信息</h4><ul>{lis}</ul>
<p class="lic-note">以上信息由经营者自行提供，平台已进行核验。</p></section>"""


def _template_d(item: Entry, shop: Shop) -> str:
    """A newer layout: the licence is on the item page, there is no licence link."""
    imgs = "".join(f'<img src="{_img("mall", n)}" alt="">' for n in item.images)
    was = (
        f'<span class="goods-was">划线价 <s>¥{_money(item.original_price)}</s></span>'
        if item.original_price
        else ""
    )
    return f"""<div class="goods" data-goods-id="{e(item.item_id)}">
<div class="goods-hd">
  <h1 class="goods-title">{e(item.title)}</h1>
  <div class="goods-price" data-price="{_money(item.price)}">券后
    <strong>¥{_money(item.price)}</strong> {was}</div>
  <div class="goods-sold">已拼{item.sales}件</div>
  <div class="goods-shop">店铺：<a class="shop-link"
    href="/mall/shop/{e(shop.shop_id)}/">{e(shop.name)}</a></div>
</div>
<div class="goods-intro">
{_paras(item.text)}
</div>
<div class="goods-pics">{imgs}</div>
{_licence_panel(shop)}
</div>"""


# Template index 3 (LICENCE_ON_PAGE_TEMPLATE in world.py) prints the licence on the page.
_TEMPLATES = (_template_a, _template_b, _template_c, _template_d)


def item_page(item: Entry, shop: Shop, others: list[Entry], layout: str = STANDARD) -> str:
    if layout == PRICE_MOVED and item.template == 0:
        main = _template_a(item, shop, price_moved=True)
    else:
        main = _TEMPLATES[item.template](item, shop)
    label = FAMILIES.get(item.family, "")
    body = f"""{_header()}
<div class="crumbs"><a href="/mall/">首页</a> &gt;
<a href="/mall/search?q={e(item.family)}&amp;page=1">{e(label)}</a> &gt; <span>商品详情</span></div>
{main}
{_recommend(others)}
<div class="admin-tools"><a href="/mall/admin/item/{e(item.item_id)}/edit">编辑商品</a></div>
<script>var PAGE_CONFIG = {{"itemId": "{e(item.item_id)}", "tpl": {item.template}}};</script>"""
    head = f'<link rel="canonical" href="/mall/item/{e(item.item_id)}">'
    return page(item.title, body, head_extra=head, site_name=SITE)


def result_list(items: list[Entry]) -> str:
    lis = []
    for it in items:
        lis.append(
            f"""<li class="result" data-id="{e(it.item_id)}">
 <a class="result-link" href="{e(it.path)}"><img src="{_img("mall", it.images[0])}" width="160">
 <span class="r-title">{e(it.title)}</span></a><span class="r-price">¥{_money(it.price)}</span>
 <a class="result-link merchant-only" href="/mall/admin/preview/{e(it.item_id)}">预览</a></li>"""
        )
    return '<ul class="result-list">\n' + "\n".join(lis) + "\n</ul>"


def listing_page(title: str, items: list[Entry], base: str, page_no: int, has_next: bool) -> str:
    """A search or browse page; ``base`` is the URL without the page number."""
    pager = []
    if page_no > 1:
        pager.append(f'<a class="prev" href="{e(base)}{page_no - 1}">上一页</a>')
    pager.append(f'<span class="cur">{page_no}</span>')
    if has_next:
        pager.append(f'<a class="next" href="{e(base)}{page_no + 1}">下一页</a>')
    empty = "" if items else '<p class="empty">暂无更多商品，去看看别的吧～</p>'
    body = f"""{_header()}
<div class="ad-banner"><a href="/mall/promo/spring">春季焕新 满199减30</a></div>
<div class="search-summary">{e(title)}</div>
{result_list(items)}
{empty}
<div class="pager">{" ".join(pager)}</div>"""
    return page(title, body, site_name=SITE)


def home_page() -> str:
    links = "".join(
        f'<li><a href="/mall/search?q={k}&amp;page=1">{e(v)}</a></li>'
        for k, v in FAMILIES.items()
        if k != "property"
    )
    body = f"""{_header()}<ul class="cats">{links}</ul>
<p><a href="/mall/browse/clearance?page=1">清仓特卖</a></p>"""
    return page("首页", body, site_name=SITE)


def shop_page(shop: Shop, items: list[Entry]) -> str:
    body = f"""{_header()}<h2 class="shop-title">{e(shop.name)}</h2>
<p><a href="/mall/shop/{e(shop.shop_id)}/licence">营业执照</a></p>
{result_list(items)}"""
    return page(shop.name, body, site_name=SITE)
