"""Where a lead goes, recomputed from the configuration as it is now.

A lead's bureau and units are fixed when it is created. When ``config/jurisdictions.yaml``
or ``config/categories.yaml`` changes (a county added, a unit renamed), ``routing_of``
says where each lead would go today, from its party's registered address and credit code
and its category; ``LeadQueue.reroute`` writes the difference with an audit record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tiequan.party import Jurisdictions, resolve
from tiequan.referral import Categories

UNIT_FIELDS = ("lead_unit", "lead_unit_key", "co_units", "co_unit_keys")
# What decides where a lead goes; the basis sentence may be reworded without a move.
DECIDING = ("bureau_key", "in_league", "transfer", "outside_region")


@dataclass(frozen=True)
class Routing:
    """The routing fields of a lead document."""

    jurisdiction: dict[str, Any]
    lead_unit: str
    lead_unit_key: str
    co_units: list[str]
    co_unit_keys: list[str]

    @classmethod
    def stored(cls, lead: dict[str, Any]) -> Routing:
        return cls(
            jurisdiction=dict(lead.get("jurisdiction") or {}),
            lead_unit=str(lead.get("lead_unit") or ""),
            lead_unit_key=str(lead.get("lead_unit_key") or ""),
            co_units=list(lead.get("co_units") or []),
            co_unit_keys=list(lead.get("co_unit_keys") or []),
        )

    def fields(self) -> dict[str, Any]:
        """The ``$set`` of a lead document (its party carries the jurisdiction too)."""
        return {
            "jurisdiction": self.jurisdiction,
            "party.jurisdiction": self.jurisdiction,
            **{name: getattr(self, name) for name in UNIT_FIELDS},
        }

    def moves_from(self, other: Routing) -> bool:
        """Whether this routing sends the lead somewhere ``other`` does not."""
        return any(self.jurisdiction.get(k) != other.jurisdiction.get(k) for k in DECIDING) or any(
            getattr(self, k) != getattr(other, k) for k in UNIT_FIELDS
        )

    def describe(self) -> str:
        """Chinese, for the audit record and the command's output."""
        bureau = self.jurisdiction.get("label") or "未能确定管辖"
        units = "、".join([self.lead_unit, *self.co_units])
        return f"属地 {bureau}；承办单位 {units}"


def routing_of(
    lead: dict[str, Any], categories: Categories, jurisdictions: Jurisdictions
) -> Routing:
    """Where ``lead`` would be routed by the current configuration.

    Raises KeyError for a category the configuration no longer knows.
    """
    party = lead.get("party") or {}
    jurisdiction = resolve(
        party.get("address"), party.get("credit_code"), jurisdictions=jurisdictions
    )
    category = categories.get(str(lead.get("category")))
    return Routing(
        jurisdiction=jurisdiction.to_doc(),
        lead_unit=category.lead_unit,
        lead_unit_key=category.lead_unit_key,
        co_units=list(category.co_units),
        co_unit_keys=list(category.co_unit_keys),
    )
