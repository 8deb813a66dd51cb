"""Shared page furniture: escaping, page shells, licence pages, error pages."""

from __future__ import annotations

from html import escape

from tiequan.sandbox.parties import Shop

ROBOTS_TXT = """# Sandbox platform robots rules
User-agent: *
Disallow: /mall/admin/
Disallow: /private/
Disallow: /jsmall/cart

User-agent: BadBot
Disallow: /
"""


def e(value: object) -> str:
    """HTML-escape anything (None becomes empty)."""
    return "" if value is None else escape(str(value), quote=True)


def page(title: str, body: str, head_extra: str = "", site_name: str = "塔拉优选") -> str:
    """A full HTML document with the usual tracking-script and footer noise."""
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} - {e(site_name)}</title>
<link rel="stylesheet" href="/static/site.css?v=20220301">
{head_extra}
<script>
  // page-view counter stub; the sandbox has no analytics backend
  window._hmt = window._hmt || [];
</script>
</head>
<body>
{body}
<div class="footer">
  <p>{e(site_name)} 版权所有 &copy; 2016-2022 <a href="/about">关于我们</a> |
  <a href="/help">帮助中心</a> | <a href="/private/ops">运营后台</a></p>
  <p>互联网药品信息服务资格证书编号：（蒙）-非经营性-2020-0000（示例）</p>
</div>
</body>
</html>
"""


def licence_page(shop: Shop, back_href: str, site_name: str) -> str:
    """The 营业执照 page shown under 电子商务法 §15 (or its absence)."""
    lic = shop.licence
    if not lic.credit_code:
        body = f"""<div class="wrap"><h2>{e(shop.name)} 证照信息</h2>
<p class="lic-missing">该店铺暂未公示营业执照信息。</p>
<a href="{e(back_href)}">返回店铺</a></div>"""
        return page(f"{shop.name} 证照信息", body, site_name=site_name)
    rows = (
        ("统一社会信用代码", lic.credit_code, "lic-code"),
        ("名称", lic.company, "lic-name"),
        ("类型", "个体工商户" if lic.credit_code[1] == "2" else "有限责任公司", "lic-type"),
        ("住所", lic.address, "lic-addr"),
        ("法定代表人", lic.legal_rep, "lic-rep"),
        ("成立日期", lic.founded, "lic-date"),
        ("经营范围", lic.scope, "lic-scope"),
    )
    table = "\n".join(f'<tr><th>{e(k)}</th><td class="{c}">{e(v)}</td></tr>' for k, v, c in rows)
    body = f"""<div class="wrap">
<!-- licence info is rendered from the platform's merchant registry -->
<h2>{e(shop.name)} 营业执照信息</h2>
<table class="licence" border="1" cellspacing="0">
{table}
</table>
<p class="lic-note">以上信息由经营者自行提供，平台已进行核验。</p>
<a href="{e(back_href)}">返回店铺</a>
</div>"""
    return page(f"{shop.name} 营业执照", body, site_name=site_name)


def not_found_page(what: str = "页面") -> str:
    body = f'<div class="wrap"><h2>404</h2><p>抱歉，您访问的{e(what)}不存在或已下架。</p></div>'
    return page("页面不存在", body)


def admin_page(path: str) -> str:
    body = f"""<div class="wrap"><h2>商家后台登录</h2>
<form method="post" action="/mall/admin/login"><input name="user"><input name="pwd" type="password">
<button>登录</button></form><p class="hint">{e(path)}</p></div>"""
    return page("商家后台", body)
