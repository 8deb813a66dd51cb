"""The party behind a listing (主体) and the bureau with jurisdiction over it (属地)."""

from __future__ import annotations

from tiequan.party.creditcode import CreditCodeCheck, check_digit, validate
from tiequan.party.jurisdiction import (
    Jurisdiction,
    JurisdictionConfigError,
    Jurisdictions,
    load_jurisdictions,
    resolve,
)
from tiequan.party.party import Party, party_from_listing

__all__ = [
    "CreditCodeCheck",
    "Jurisdiction",
    "JurisdictionConfigError",
    "Jurisdictions",
    "Party",
    "check_digit",
    "load_jurisdictions",
    "party_from_listing",
    "resolve",
    "validate",
]
