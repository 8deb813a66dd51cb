"""Takedowns in the sandbox: from night 1 on, some violating mall listings change or vanish.

After a lead is referred or the seller admonished, a later sweep re-checks the listing
(takedown follow-up). To test that, a fixed share of the mall's violating listings react
from night 1: about one in eight is taken down (its page answers 404 and it
leaves the search results), another one in eight is edited (title and text rewritten
without the claim; the product images stay, as a hasty seller's would). The choice is a
hash of the seed and the item id, so the server and the tests agree without sharing state.
"""

from __future__ import annotations

import dataclasses
import hashlib

from tiequan.sandbox.world import Entry

REMOVED = "removed"
CHANGED = "changed"
_CLEAN_TEXT = (
    "商品信息已按平台规范修改。本品为普通商品，不具有任何治疗、保健或功效作用，"
    "具体以产品标签和说明书为准，请理性选购。"
)


def takedown_state(seed: int, entry: Entry, night: int) -> str | None:
    """ "removed", "changed" or None: what the seller did to this listing by ``night``."""
    if night < 1 or entry.prefix != "mall" or not entry.categories or entry.nightly_prices:
        return None
    digest = hashlib.sha256(f"{seed}:{entry.item_id}:takedown".encode()).digest()
    bucket = digest[0] % 8
    return REMOVED if bucket == 0 else CHANGED if bucket == 1 else None


def as_shown(seed: int, entry: Entry, night: int) -> Entry | None:
    """The listing as the mall shows it on ``night``: None when taken down."""
    state = takedown_state(seed, entry, night)
    if state == REMOVED:
        return None
    if state == CHANGED:
        title = f"店铺商品 {entry.item_id[-4:]}（已按规范修改）"
        return dataclasses.replace(entry, title=title, text=_CLEAN_TEXT, claim="")
    return entry
