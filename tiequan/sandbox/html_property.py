"""Server-rendered property portal: list pages and two listing templates."""

from __future__ import annotations

from tiequan.sandbox.html_common import e, page
from tiequan.sandbox.world import Entry

SITE = "塔拉房产网"


def _nav() -> str:
    return f"""<div class="p-nav"><a href="/property/">{SITE}</a>
<a href="/property/list?page=1">新房</a>
<a href="/property/rent">租房</a> <a href="/property/news">楼市资讯</a></div>"""


def _paras(text: str) -> str:
    return "\n".join(f"<p>{e(x)}</p>" for x in text.split("\n") if x)


def _permit(item: Entry) -> str:
    return item.extra.get("permit") or "暂无"


def _template_0(item: Entry) -> str:
    x = item.extra
    iid = e(item.item_id)
    return f"""<div class="listing" id="listing-{iid}" data-listing-id="{iid}">
<h1 class="project-name">{e(item.title)}</h1>
<dl class="facts">
  <dt>参考单价</dt><dd class="unit-price">{item.price:.0f} 元/㎡</dd>
  <dt>面积</dt><dd class="area">{e(x["area"])}</dd>
  <dt>户型</dt><dd class="layout">{e(x["layout"])}</dd>
  <dt>项目地址</dt><dd class="location">{e(x["location"])}</dd>
  <dt>开发商</dt><dd class="developer"><a class="dev-link"
    href="/property/developer/{e(item.shop_id)}/licence">{e(x["developer"])}</a></dd>
  <dt>预售许可证</dt><dd class="permit">{e(_permit(item))}</dd>
</dl>
<div class="ad-copy">
{_paras(item.text)}
</div>
</div>"""


def _template_1(item: Entry) -> str:
    x = item.extra
    return f"""<input type="hidden" id="listingId" value="{e(item.item_id)}">
<div class="proj-head"><h2 class="proj-title">{e(item.title)}</h2>
<span class="tag">在售</span><span class="tag">{e(x["layout"])}</span></div>
<table class="proj-table">
<tr><td class="k">均价</td><td class="v-price"><strong>{item.price:.0f}</strong>元/平方米</td></tr>
<tr><td class="k">面积</td><td class="v-area">{e(x["area"])}</td></tr>
<tr><td class="k">地址</td><td class="v-loc">{e(x["location"])}</td></tr>
<tr><td class="k">开发企业</td><td class="v-dev"><a class="dev-link"
 href="/property/developer/{e(item.shop_id)}/licence">{e(x["developer"])}</a></td></tr>
<tr><td class="k">预售证号</td><td class="v-permit">{e(_permit(item))}</td></tr>
</table>
<div class="proj-intro"><h3>项目介绍</h3>
{_paras(item.text)}
</div>"""


def listing_page(item: Entry, neighbours: list[Entry]) -> str:
    main = (_template_0, _template_1)[item.template](item)
    near = "".join(
        f'<li><a href="{e(n.path)}">{e(n.extra["project"])}</a></li>' for n in neighbours
    )
    body = f"""{_nav()}
{main}
<div class="nearby"><h4>附近楼盘</h4><ul>{near}</ul></div>
<div class="disclaimer">本站房源信息由开发企业或经纪机构提供，仅供参考。</div>"""
    return page(item.extra["project"], body, site_name=SITE)


def list_page(items: list[Entry], page_no: int, has_next: bool) -> str:
    cards = "\n".join(
        f"""<div class="house-item"><a class="house-link" href="{e(it.path)}">
<h4>{e(it.extra["project"])}</h4></a><p>{e(it.extra["layout"])} · {e(it.extra["area"])}</p>
<p class="unit-price">{it.price:.0f}元/㎡</p><p class="addr">{e(it.extra["location"])}</p></div>"""
        for it in items
    )
    nxt = (
        f'<a class="page-next" href="/property/list?page={page_no + 1}">下一页 &gt;</a>'
        if has_next
        else '<span class="page-end">已经是最后一页</span>'
    )
    body = f"""{_nav()}<div class="house-list">
{cards}
</div>
<div class="pages"><span>第{page_no}页</span> {nxt}</div>"""
    return page(f"新房 第{page_no}页", body, site_name=SITE)


def home_page() -> str:
    body = f"""{_nav()}<p><a href="/property/list?page=1">查看全部新房</a></p>"""
    return page("首页", body, site_name=SITE)
