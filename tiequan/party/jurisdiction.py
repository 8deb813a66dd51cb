"""Which bureau has jurisdiction (属地管辖) over a party: registered address first.

The registered address (住所) is the legal basis, so it decides whenever it can be read;
the division code inside a *valid* credit code (the registering authority's area) is
the fallback. Parties registered outside the league stay with the configured bureau
(``outside.keep_with``) and are marked for a letter or transfer (需函告/移交属地) with the
region read from the address or code. Bad data never raises: the result says
"未能确定管辖" instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tiequan.party.creditcode import is_placeholder, validate
from tiequan.party.jurisdiction_config import (
    Bureau,
    JurisdictionConfigError,
    Jurisdictions,
    fold_place,
    load_jurisdictions,
)
from tiequan.party.regions import parse_region, province_of_code

__all__ = [
    "Jurisdiction",
    "JurisdictionConfigError",
    "Jurisdictions",
    "load_jurisdictions",
    "resolve",
]

METHODS = ("address", "credit_code", "none")
UNRESOLVED = "未能确定管辖"


@dataclass(frozen=True)
class Jurisdiction:
    """The bureau a lead goes to and why.

    ``bureau_key``/``bureau_name`` are None only when nothing could be determined
    (``method`` "none"). For an out-of-league party ``in_league`` is False, the bureau is
    the one that keeps such leads, ``transfer`` is True, ``mark`` says 需函告/移交属地 and
    ``outside_region`` names where the party is registered.
    """

    bureau_key: str | None
    bureau_name: str | None
    in_league: bool
    method: str  # "address" | "credit_code" | "none"
    basis: str  # a Chinese sentence for officers
    transfer: bool = False
    mark: str = ""
    outside_region: str | None = None
    division_code: str | None = None

    @property
    def resolved(self) -> bool:
        return self.bureau_key is not None

    @property
    def label(self) -> str:
        """Short Chinese label for lists and forms."""
        if self.bureau_name is None:
            return UNRESOLVED
        if self.transfer:
            return f"盟外（{self.outside_region or '属地不明'}）· {self.mark}"
        return self.bureau_name

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["label"] = self.label
        return doc


def resolve(
    address: str | None,
    credit_code: str | None,
    *,
    jurisdictions: Jurisdictions | None = None,
    config_dir: Path | str | None = None,
) -> Jurisdiction:
    """The jurisdiction of a party from its registered address and credit code.

    Raises only ``JurisdictionConfigError`` (the configuration, never the data).
    """
    conf = jurisdictions or load_jurisdictions(config_dir)
    by_code = _from_code(conf, credit_code)
    shown = _quote(address)
    by_address = _from_address(conf, address, shown) if shown else None
    if by_address is not None:
        if by_code is not None and (by_code.bureau_key, by_code.in_league) != (
            by_address.bureau_key,
            by_address.in_league,
        ):
            other = f"盟外（{by_code.outside_region}）" if by_code.transfer else by_code.bureau_name
            code = by_code.division_code
            note = f"；统一社会信用代码区划码{code}指向{other}，与住所不一致，以住所为准"
            return _with_basis(by_address, by_address.basis + note)
        return by_address
    lead = f"登记住所“{shown}”未能识别属地" if shown else "未公示登记住所"
    if by_code is not None:
        return _with_basis(by_code, f"{lead}；{by_code.basis}")
    return Jurisdiction(
        None, None, False, "none", f"{UNRESOLVED}：{lead}，{_code_reason(credit_code)}"
    )


def _code_reason(credit_code: str | None) -> str:
    check = validate(credit_code)
    if check.valid:
        return f"统一社会信用代码区划码{check.division_code or check.code[2:8]}无法识别"
    if is_placeholder(credit_code):
        return "未公示统一社会信用代码"
    return f"统一社会信用代码“{check.code}”无效（{check.problem}）"


def _with_basis(j: Jurisdiction, basis: str) -> Jurisdiction:
    doc = asdict(j)
    doc["basis"] = basis
    return Jurisdiction(**doc)


def _quote(address: str | None, limit: int = 60) -> str:
    if not isinstance(address, str):
        return ""
    text = " ".join(address.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _outside(
    conf: Jurisdictions, method: str, region: str, basis: str, code: str | None
) -> Jurisdiction:
    keep = conf.keep_with
    return Jurisdiction(
        bureau_key=keep.key,
        bureau_name=keep.name,
        in_league=False,
        method=method,
        basis=f"{basis}位于盟外（{region}），线索由{keep.name}留存，{conf.outside_mark}",
        transfer=True,
        mark=conf.outside_mark,
        outside_region=region,
        division_code=code,
    )


def _inside(bureau: Bureau, method: str, basis: str, code: str | None = None) -> Jurisdiction:
    return Jurisdiction(
        bureau_key=bureau.key,
        bureau_name=bureau.name,
        in_league=True,
        method=method,
        basis=f"{basis}，属{bureau.name}管辖",
        division_code=code or (bureau.division_codes[0] if bureau.division_codes else None),
    )


def _from_address(conf: Jurisdictions, address: str | None, shown: str) -> Jurisdiction | None:
    text = fold_place(address or "")
    if not text:
        return None
    region = parse_region(text)
    where = f"登记住所“{shown}”"
    if region is not None and region.province_code != conf.province_code:
        return _outside(conf, "address", region.name, where, None)
    county = conf.find(text, conf.names)
    league = conf.find(text, conf.league_names)
    if region is not None and region.city and league is None:
        # Same province, another prefecture (e.g. 内蒙古自治区呼和浩特市) — unless the
        # "city" is one of our county-level cities written without the league.
        if county is None or county[1] != region.city_start:
            return _outside(conf, "address", region.name, where, None)
    if county is not None:
        name, _ = county
        bureau = name.bureau
        if name.kind == "area":
            return _inside(bureau, "address", f"{where}位于{bureau.area}")
        what = f"在{bureau.area}境内" if name.kind == "town" else f"指{bureau.area}"
        return _inside(bureau, "address", f"{where}中的“{name.original}”{what}")
    if league is not None:
        bureau = conf.league
        return _inside(bureau, "address", f"{where}位于{bureau.area}，未写明旗县市区")
    return None


def _from_code(conf: Jurisdictions, credit_code: str | None) -> Jurisdiction | None:
    check = validate(credit_code)
    code = check.division_code
    if not check.valid or code is None:
        return None
    basis = f"统一社会信用代码登记机关区划码{code}"
    bureau = conf.by_division_code(code)
    if bureau is not None:
        return _inside(bureau, "credit_code", f"{basis}（{bureau.area}）", code)
    if code.startswith(conf.division_prefix):
        league = conf.league
        return _inside(league, "credit_code", f"{basis}（{league.area}，未对应旗县市区）", code)
    province = province_of_code(code)
    if province is None:
        return None
    return _outside(conf, "credit_code", province[1], basis, code)
