"""A hostile mall listing: XSS and template-injection payloads in its title, text and shop name.

Crawled text ends up in the officers' browser. This one listing carries the usual payloads
(script tags, event handlers, javascript: and data: links, SVG, template probes, attribute
breakouts), each of which would set ``window.__xss`` or call ``alert`` if the workbench ever
rendered it as markup. It also makes a plain illegal health claim, so the sweep turns it into
a lead and the payloads reach the queue and the lead page.

The sandbox itself escapes every page it serves, so the crawler reads the payloads as text,
exactly as a seller would have typed them. The listing lives outside ``World.entries`` (the
other sites' counts and search results stay as they were) and, with its own shop, is listed
on the first page of the mall's clearance page (清仓特卖).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from tiequan.sandbox.creditcode import make_uscc
from tiequan.sandbox.parties import LEAGUE, Licence, Shop

if TYPE_CHECKING:
    from tiequan.sandbox.world import World

ITEM_ID = "10000666"  # drawn mall ids have 7 digits, price-watch ids start at 10000001
SHOP_ID = "s00666"  # drawn shop ids are s10000 to s99999
CATEGORY = "miracle_drug"
# Every payload sets the same global (or opens a dialog), so one check catches them all.
PAYLOADS: tuple[str, ...] = (
    "<script>window.__xss=1</script>",
    "<img src=x onerror=window.__xss=2>",
    "<svg onload=window.__xss=3>",
    '"><script>window.__xss=4</script>',
    "'><img src=x onerror=alert(5)>",
    '<a href="javascript:window.__xss=6">查看详情</a>',
    '<a href="data:text/html,<script>alert(7)</script>">说明书</a>',
    "<svg><script>window.__xss=8</script></svg>",
    '<iframe srcdoc="<script>parent.__xss=9</script>"></iframe>',
    "{{7*7}} ${7*7} {% raw %}#{7*7}",
)
TITLE = f"祖传艾草足贴 {PAYLOADS[0]} {PAYLOADS[1]} {PAYLOADS[9]}"
TEXT = "\n".join(
    (
        f"{PAYLOADS[2]} 贴一个疗程，{PAYLOADS[3]}根治风湿骨病，{PAYLOADS[4]}永不复发。",
        f"{PAYLOADS[5]} {PAYLOADS[6]} {PAYLOADS[7]} {PAYLOADS[8]}",
        f"{PAYLOADS[9]} 每盒十贴，独立包装。",
    )
)
SHOP_NAME = f'{PAYLOADS[3]}{PAYLOADS[1]}{PAYLOADS[9]}"养生小铺'
CLAIM = "根治风湿骨病"


def add_hostile(world: World, rng: random.Random) -> None:
    """Append the hostile listing and its shop to ``world`` (own generator: others unchanged)."""
    from tiequan.sandbox.world import SITES, Entry

    licence = Licence(
        credit_code=make_uscc(rng, "159921", "1"),  # 东乌兰旗: the lead routes to a county bureau
        company="东乌兰恒泰生物科技有限公司",
        address=f"{LEAGUE}东乌兰旗建设路66号",
        county="东乌兰旗",
        legal_rep="乌云",
        founded="2019年6月6日",
        scope="预包装食品销售；互联网销售（除销售需要许可的商品）",
    )
    world.shops["mall"][SHOP_ID] = Shop(shop_id=SHOP_ID, name=SHOP_NAME, licence=licence)
    name = f"{ITEM_ID}-1"
    world.images[("mall", name)] = ["祖传艾草足贴", "每盒十贴 独立包装"]
    world.hostile.append(
        Entry(
            site=SITES["mall"],
            prefix="mall",
            item_id=ITEM_ID,
            path=f"/mall/item/{ITEM_ID}",
            family="health",
            title=TITLE,
            text=TEXT,
            categories=(CATEGORY,),
            variant="plain",
            hard_negative=False,
            claim=CLAIM,
            shop_id=SHOP_ID,
            images=(name,),
            price=39.9,
            original_price=None,
            sales=66,
            template=0,
        )
    )
