"""JavaScript-rendered pages: the JS mall shells and the infinite-scroll social feed.

The inline scripts are plain ES2017 with ``fetch`` and build the DOM with
``textContent`` only, so a real browser (Chromium via Playwright) renders them.
"""

from __future__ import annotations

from tiequan.sandbox.html_common import e, page
from tiequan.sandbox.world import Entry

JS_SITE = "悦购"
SOCIAL_SITE = "草原圈"

_JS_LIST = """
(function () {
  var app = document.getElementById('app');
  var page = parseInt(new URLSearchParams(location.search).get('page') || '1', 10);
  fetch('/jsmall/api/items?page=' + page).then(function (r) { return r.json(); })
    .then(function (data) {
      var ul = document.createElement('ul');
      ul.className = 'js-list';
      data.items.forEach(function (it) {
        var li = document.createElement('li');
        li.className = 'js-card';
        li.dataset.id = it.id;
        var a = document.createElement('a');
        a.href = '/jsmall/item/' + encodeURIComponent(it.id);
        a.textContent = it.title;
        var price = document.createElement('span');
        price.className = 'js-price';
        price.textContent = '¥' + it.price.toFixed(2);
        li.append(a, price);
        ul.appendChild(li);
      });
      app.replaceChildren(ul);
      if (data.page < data.last_page) {
        var next = document.createElement('a');
        next.className = 'js-next';
        next.href = '/jsmall/?page=' + (data.page + 1);
        next.textContent = '下一页';
        app.appendChild(next);
      }
    })
    .catch(function () { app.textContent = '加载失败，请刷新重试'; });
})();
"""

_JS_ITEM = """
(function () {
  var root = document.getElementById('app');
  var id = root.dataset.itemId;
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) { n.className = cls; }
    if (text !== undefined && text !== null) { n.textContent = text; }
    return n;
  }
  fetch('/jsmall/api/items/' + encodeURIComponent(id)).then(function (r) {
    if (!r.ok) { throw new Error('status ' + r.status); }
    return r.json();
  }).then(function (it) {
    var box = el('div', 'js-item');
    box.dataset.itemId = it.id;
    box.appendChild(el('h1', 'js-title', it.title));
    var price = el('div', 'js-price-box');
    price.appendChild(el('span', 'js-price', it.price.toFixed(2)));
    if (it.original_price) { price.appendChild(el('del', 'js-was', it.original_price.toFixed(2))); }
    box.appendChild(price);
    box.appendChild(el('span', 'js-sales', '月销 ' + it.sales + '+'));
    var shop = el('a', 'js-shop', it.shop.name);
    shop.href = '/jsmall/shop/' + it.shop.id;
    box.appendChild(shop);
    var desc = el('div', 'js-desc');
    it.description.split('\\n').forEach(function (line) { desc.appendChild(el('p', null, line)); });
    box.appendChild(desc);
    it.images.forEach(function (src) {
      var img = el('img', 'js-img');
      img.src = src;
      box.appendChild(img);
    });
    root.replaceChildren(box);
    return fetch('/jsmall/api/shops/' + encodeURIComponent(it.shop.id));
  }).then(function (r) { return r.json(); }).then(function (shop) {
    var lic = el('div', 'js-licence');
    lic.appendChild(el('span', 'js-lic-code', shop.licence.credit_code || '未公示'));
    lic.appendChild(el('span', 'js-lic-name', shop.licence.company_name));
    lic.appendChild(el('span', 'js-lic-addr', shop.licence.address));
    root.appendChild(lic);
  }).catch(function () { root.textContent = '商品不存在或加载失败'; });
})();
"""

_FEED = """
(function () {
  var feed = document.getElementById('feed');
  var status = document.getElementById('feed-status');
  var cursor = 0, loading = false, done = false;
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) { n.className = cls; }
    if (text !== undefined) { n.textContent = text; }
    return n;
  }
  function render(p) {
    var art = el('article', 'post');
    art.dataset.postId = p.id;
    var link = el('a', 'post-link');
    link.href = p.url;
    link.appendChild(el('h3', 'post-title', p.title));
    art.appendChild(link);
    art.appendChild(el('div', 'post-author', p.author));
    art.appendChild(el('div', 'post-body', p.text));
    if (p.image) { var img = el('img', 'post-img'); img.src = p.image; art.appendChild(img); }
    art.appendChild(el('span', 'post-likes', '赞 ' + p.likes));
    return art;
  }
  function nearBottom() {
    return window.innerHeight + window.scrollY >= document.body.offsetHeight - 300;
  }
  function more() {
    if (loading || done) { return; }
    loading = true;
    fetch('/social/api/feed?cursor=' + cursor).then(function (r) { return r.json(); })
      .then(function (d) {
        d.posts.forEach(function (p) { feed.appendChild(render(p)); });
        if (d.next_cursor === null) { done = true; status.textContent = '没有更多了'; }
        else { cursor = d.next_cursor; }
      })
      .catch(function () { status.textContent = '加载失败，下拉重试'; })
      .finally(function () {
        loading = false;
        if (!done && nearBottom()) { more(); }
      });
  }
  window.addEventListener('scroll', function () { if (nearBottom()) { more(); } });
  more();
})();
"""


def jsmall_list_shell() -> str:
    body = f"""<div class="js-header"><a href="/jsmall/">{JS_SITE}</a></div>
<div id="app"><p class="loading">加载中…</p></div>
<noscript>请开启JavaScript后浏览本站</noscript>
<script>{_JS_LIST}</script>"""
    return page("全部商品", body, site_name=JS_SITE)


def jsmall_item_shell(item_id: str) -> str:
    body = f"""<div class="js-header"><a href="/jsmall/">{JS_SITE}</a></div>
<div id="app" data-item-id="{e(item_id)}"><p class="loading">加载中…</p></div>
<script>{_JS_ITEM}</script>"""
    return page("商品详情", body, site_name=JS_SITE)


def social_feed_shell() -> str:
    body = f"""<div class="s-header"><b>{SOCIAL_SITE}</b> · 发现</div>
<div id="feed" class="feed"></div>
<div id="feed-status" class="feed-status">加载中…</div>
<script>{_FEED}</script>"""
    return page("发现", body, site_name=SOCIAL_SITE)


def social_post_page(post: Entry, image_url: str | None) -> str:
    """A post's permalink page (server-rendered, for evidence and sharing)."""
    img = f'<img class="post-img" src="{e(image_url)}">' if image_url else ""
    body = f"""<div class="s-header"><a href="/social/feed">{SOCIAL_SITE}</a></div>
<article class="post" data-post-id="{e(post.item_id)}">
<a class="post-link" href="{e(post.path)}"><h3 class="post-title">{e(post.title)}</h3></a>
<div class="post-author">{e(post.extra["author"])}</div>
<div class="post-body">{e(post.text)}</div>
{img}
<span class="post-likes">赞 {e(post.extra["likes"])}</span>
</article>"""
    return page(post.title, body, site_name=SOCIAL_SITE)
