"""The party (主体) behind a listing, built from its licence and shop fields.

``key`` groups a party's listings into one case: the credit code when it is valid (the
same company on any platform is one party), else the shop on its platform, else the
listing itself — a lead without an identifiable party is kept and marked, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tiequan.party.creditcode import CreditCodeCheck, is_placeholder, validate
from tiequan.party.jurisdiction import Jurisdiction, Jurisdictions, resolve


@dataclass(frozen=True)
class Party:
    key: str  # "uscc:<code>" | "shop:<platform>:<shop path or name>" | "listing:<platform>:<id>"
    identified: bool  # True only with a valid credit code
    credit_code: str | None  # normalised, as shown (even when invalid)
    credit_code_check: CreditCodeCheck | None  # None when no code was shown
    name: str | None  # the licence's company name
    address: str | None  # the licence's registered address (住所)
    licence_url: str | None
    shop_name: str | None
    shop_url: str | None
    platform: str
    item_id: str
    jurisdiction: Jurisdiction
    label: str  # Chinese, for officers

    def to_doc(self) -> dict[str, Any]:
        """A plain dict (str, bool, None, nested dicts and lists) for MongoDB."""
        check = self.credit_code_check
        return {
            "key": self.key,
            "identified": self.identified,
            "label": self.label,
            "credit_code": self.credit_code,
            "credit_code_check": check.to_doc() if check else None,
            "name": self.name,
            "address": self.address,
            "licence_url": self.licence_url,
            "shop_name": self.shop_name,
            "shop_url": self.shop_url,
            "platform": self.platform,
            "item_id": self.item_id,
            "jurisdiction": self.jurisdiction.to_doc(),
        }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _licence_field(licence: Any, name: str) -> str | None:
    if licence is None:
        return None
    value = licence.get(name) if isinstance(licence, Mapping) else getattr(licence, name, None)
    return _text(value)


def shop_ref(shop_url: str | None, shop_name: str | None) -> str | None:
    """The part of the shop URL that names the shop on its platform, else the shop name.

    Host and scheme are left out: mirrors, mobile hosts and the sandbox's random port
    differ between nights while the path stays the same.
    """
    if shop_url:
        try:
            parts = urlsplit(shop_url)
        except ValueError:
            parts = None
        if parts is not None and parts.netloc:
            path = parts.path.rstrip("/") or "/"
            return path + (f"?{parts.query}" if parts.query else "")
        return shop_url
    return shop_name


def party_from_listing(
    listing: Mapping[str, Any],
    *,
    jurisdictions: Jurisdictions | None = None,
    config_dir: Path | str | None = None,
) -> Party:
    """The party of a listing dict (``Listing.to_dict()`` or a stored listing document).

    Never raises on bad data; only a broken jurisdictions config raises.
    """
    platform = _text(listing.get("platform")) or "未知平台"
    item_id = _text(listing.get("item_id")) or ""
    shop_name = _text(listing.get("shop_name"))
    shop_url = _text(listing.get("shop_url"))
    licence = listing.get("licence")
    shown_code = _licence_field(licence, "credit_code")
    if is_placeholder(shown_code):
        shown_code = None
    check = validate(shown_code) if shown_code else None
    name = _licence_field(licence, "name")
    address = _licence_field(licence, "address")
    jurisdiction = resolve(address, shown_code, jurisdictions=jurisdictions, config_dir=config_dir)
    identified = check is not None and check.valid
    ref = shop_ref(shop_url, shop_name)
    if check is not None and check.valid:
        key = f"uscc:{check.code}"
    elif ref:
        key = f"shop:{platform}:{ref}"
    else:
        key = f"listing:{platform}:{item_id}"
    where = _text(listing.get("platform_name")) or platform
    return Party(
        key=key,
        identified=identified,
        credit_code=check.code if check else None,
        credit_code_check=check,
        name=name,
        address=address,
        licence_url=_licence_field(licence, "url"),
        shop_name=shop_name,
        shop_url=shop_url,
        platform=platform,
        item_id=item_id,
        jurisdiction=jurisdiction,
        label=_label(check, name, shop_name or shop_url, item_id, where),
    )


def _label(
    check: CreditCodeCheck | None, name: str | None, shop: str | None, item_id: str, where: str
) -> str:
    if check is not None and check.valid:
        return f"{name}（{check.code}）" if name else f"统一社会信用代码{check.code}的主体"
    subject = f"店铺“{shop}”" if shop else f"商品{item_id}"
    details = [f"平台：{where}"]
    if name:
        details.insert(0, f"执照名称：{name}")
    if check is not None:
        details.append("信用代码校验未通过")
    elif name or shop:
        details.append("未公示统一社会信用代码")
    return f"未识别主体：{subject}（{'，'.join(details)}）"
