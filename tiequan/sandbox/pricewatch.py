"""Price-watch listings: mall goods whose prices change from night to night.

The rest of the sandbox shows the same prices every night, so nothing in it can tell a
crossed-out "original" price that was really charged from one that never was. These few
listings can. On night 0 each is sold at its regular price with nothing crossed out; from
night 1 on it runs a promotion with a crossed-out price. For half of them that crossed-out
price is the regular price of night 0 (a genuine reduction); for the other half it is a
price the listing was never offered at (虚构原价, price fraud under 《明码标价和禁止价格
欺诈规定》第十六条、第十九条). Their texts claim nothing, so no other category fires.

They live outside ``World.entries`` (the item counts and search results of the other
items stay as they were) and are listed on the mall's clearance page (清仓特卖).
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tiequan.sandbox.world import Entry, World

# (title, description, image lines, family, regular price, promotion price, crossed-out
# price, genuine): genuine means the crossed-out price is the regular price of night 0.
_GOODS: tuple[tuple[str, str, tuple[str, ...], str, float, float, float, bool], ...] = (
    (
        "家用不锈钢保温杯 500毫升 双层真空",
        "杯身为304不锈钢，双层真空结构，注入开水后六小时仍然温热。\n杯盖可拆洗，适合通勤和办公室使用。",
        ("保温杯 500毫升", "双层真空 杯盖可拆洗"),
        "grain_oil",
        59.0,
        49.0,
        199.0,
        False,
    ),
    (
        "纯棉浴巾 两条装 七十乘一百四十厘米",
        "选用长绒棉织造，吸水快，多次洗涤后依然柔软。\n两条一组，颜色为浅灰和米白。",
        ("浴巾两条装", "长绒棉 吸水柔软"),
        "fashion",
        128.0,
        99.0,
        398.0,
        False,
    ),
    (
        "东北粳米 五千克 真空包装 当季新米",
        "产地为黑龙江，当季收割后低温储存，真空包装便于保存。\n煮饭前淘洗一至两遍即可。",
        ("东北粳米 五千克", "真空包装 当季新米"),
        "grain_oil",
        89.0,
        59.0,
        89.0,
        True,
    ),
    (
        "家用工具箱 二十件套 扳手螺丝刀组合",
        "包含活动扳手、螺丝刀、卷尺、电笔等二十件常用工具，收纳在一个塑料箱中。\n适合日常家居维修。",
        ("家用工具箱", "二十件常用工具"),
        "chem",
        260.0,
        168.0,
        260.0,
        True,
    ),
)


def add_price_watch(world: World, rng: random.Random) -> None:
    """Append the price-watch listings to ``world`` (own generator: other items unchanged)."""
    from tiequan.sandbox.world import SITES, Entry

    shop_ids = sorted(world.shops["mall"])
    for k, (title, text, lines, family, regular, promo, crossed, genuine) in enumerate(_GOODS):
        item_id = str(10_000_001 + k)  # drawn mall ids have 7 digits: no clash
        name = f"{item_id}-1"
        world.images[("mall", name)] = list(lines)
        world.price_watch.append(
            Entry(
                site=SITES["mall"],
                prefix="mall",
                item_id=item_id,
                path=f"/mall/item/{item_id}",
                family=family,
                title=title,
                text=text,
                categories=(),
                variant="none",
                hard_negative=False,
                claim="",
                shop_id=rng.choice(shop_ids),
                images=(name,),
                price=regular,
                original_price=None,
                sales=rng.randint(20, 900),
                template=k % 3,
                nightly_prices=((regular, None), (promo, crossed)),
                price_fraud=not genuine,
            )
        )


def priced(entry: Entry, night: int) -> Entry:
    """The entry as shown on ``night``: its prices of that night (the last plan repeats)."""
    if not entry.nightly_prices:
        return entry
    price, original = entry.nightly_prices[min(max(night, 0), len(entry.nightly_prices) - 1)]
    return replace(entry, price=price, original_price=original)
