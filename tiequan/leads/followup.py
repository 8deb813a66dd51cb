"""Takedown follow-up: listings of referred or admonished leads are re-checked by later sweeps.

Before a sweep, ``build_plan`` lists every listing of a lead that was handed over
(已移送, 提醒告诫, 移送公安), with the date since which the site no longer lists it when an
earlier recrawl found it gone from the site's pages (``missing_since``, pipelines.recrawl);
the sweep requests those pages again, and ``classify`` says for each what became of it:

- ``removed``: the page answers 404/410 (下架);
- ``changed``: the page is up, but the lead's claim is gone from it (整改);
- ``unchanged``: the page is up and still makes the claim;
- ``not_seen``: the sweep did not reach it (an error, or a site left out): no conclusion.

``record_followups`` appends the outcome to the lead (``followups``, with the evidence
set of that night and ``missing_since`` when known) and updates the listing's state,
guarded by the lead's version.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pymongo.collection import Collection

from tiequan.leads.lifecycle import HANDED_OVER
from tiequan.storage.listings import listing_id
from tiequan.storage.store import LISTINGS

log = logging.getLogger(__name__)

REMOVED = "removed"
CHANGED = "changed"
UNCHANGED = "unchanged"
NOT_SEEN = "not_seen"
STATES = (REMOVED, CHANGED, UNCHANGED, NOT_SEEN)
# The listing state a follow-up leaves on the case ("not_seen" changes nothing).
_LISTING_STATE = {REMOVED: "removed", CHANGED: "changed", UNCHANGED: "online"}
_RETRIES = 5


class RevisitTarget(Protocol):
    """What an outcome needs of the listing re-checked: a ``Revisit``, or the crawl's own
    plan entry (crawlers.revisit.Target), which the leads know nothing else of."""

    @property
    def platform(self) -> str: ...
    @property
    def item_id(self) -> str: ...
    @property
    def lead_ids(self) -> tuple[str, ...]: ...
    @property
    def categories(self) -> tuple[str, ...]: ...
    @property
    def missing_since(self) -> str | None: ...


@dataclass(frozen=True)
class Revisit:
    """One listing of handed-over leads to re-check; the sweep hands these to the crawl
    as its follow-up plan file."""

    platform: str
    item_id: str
    url: str
    title: str
    lead_ids: tuple[str, ...]
    categories: tuple[str, ...]
    # ISO 8601: since when the site's pages no longer list it (the recrawl's mark).
    missing_since: str | None = None


@dataclass
class Outcome:
    target: RevisitTarget
    state: str
    run_id: str
    at: datetime
    evidence_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def build_plan(leads: Collection[dict[str, Any]], platforms: Iterable[str]) -> list[Revisit]:
    """Every listing of a handed-over lead on ``platforms`` that is not known to be gone."""
    wanted = set(platforms)
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    query = {"status": {"$in": list(HANDED_OVER)}, "listings.platform": {"$in": sorted(wanted)}}
    projection = {"category": 1, "listings": 1}
    for lead in leads.find(query, projection):
        for entry in lead.get("listings", []):
            if entry.get("platform") not in wanted or entry.get("state") == "removed":
                continue
            key = (entry["platform"], entry["item_id"])
            target = merged.setdefault(
                key,
                {"url": entry.get("url") or "", "title": entry.get("title") or "", "leads": {}},
            )
            target["leads"][lead["_id"]] = lead["category"]
    missing = missing_since(leads.database[LISTINGS], list(merged))
    return [
        Revisit(
            platform=platform,
            item_id=item_id,
            url=t["url"],
            title=t["title"],
            lead_ids=tuple(sorted(t["leads"])),
            categories=tuple(sorted(set(t["leads"].values()))),
            missing_since=missing.get((platform, item_id)),
        )
        for (platform, item_id), t in sorted(merged.items())
    ]


def missing_since(
    listings: Collection[dict[str, Any]], keys: list[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """(platform, item id) -> when the recrawl first missed it, of the listings it missed."""
    if not keys:
        return {}
    ids = [listing_id(platform, item_id) for platform, item_id in keys]
    query = {"_id": {"$in": ids}, "missing_since": {"$ne": None}}
    found = listings.find(query, {"platform": 1, "item_id": 1, "missing_since": 1})
    return {
        (str(d["platform"]), str(d["item_id"])): _iso(d["missing_since"])
        for d in found
        if d.get("missing_since")
    }


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def followup_detail(target: RevisitTarget, **detail: Any) -> dict[str, Any]:
    """What an outcome keeps beside its state: ``detail``, and ``missing_since`` if known."""
    if target.missing_since:
        detail["missing_since"] = target.missing_since
    return detail


def classify(target: RevisitTarget, *, gone: bool, findings: Iterable[Mapping[str, Any]]) -> str:
    """What became of a re-checked listing (see the module docstring)."""
    if gone:
        return REMOVED
    flagged = {f.get("category") for f in findings}
    return UNCHANGED if flagged & set(target.categories) else CHANGED


def record_followups(leads: Collection[dict[str, Any]], outcomes: list[Outcome]) -> int:
    """Append each outcome to its leads; returns how many lead updates were written."""
    by_lead: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        for lead_id in outcome.target.lead_ids:
            by_lead.setdefault(lead_id, []).append(outcome)
    written = 0
    for lead_id, items in by_lead.items():
        for _attempt in range(_RETRIES):
            doc = leads.find_one({"_id": lead_id}, {"listings": 1, "followups": 1, "version": 1})
            if doc is None:
                break
            if _apply(leads, doc, items):
                written += 1
                break
        else:
            log.warning("follow-up of lead %s lost %d races; not recorded", lead_id, _RETRIES)
    return written


def _apply(leads: Collection[dict[str, Any]], doc: dict[str, Any], items: list[Outcome]) -> bool:
    followups = list(doc.get("followups") or [])
    entries = list(doc.get("listings") or [])
    for outcome in items:
        followups.append(
            {
                "run_id": outcome.run_id,
                "at": outcome.at,
                "platform": outcome.target.platform,
                "item_id": outcome.target.item_id,
                "state": outcome.state,
                "evidence_id": outcome.evidence_id,
                **outcome.detail,
            }
        )
        state = _LISTING_STATE.get(outcome.state)
        for entry in entries:
            key = (entry.get("platform"), entry.get("item_id"))
            if state and key == (outcome.target.platform, outcome.target.item_id):
                entry.update(state=state, state_at=outcome.at)
    result = leads.update_one(
        {"_id": doc["_id"], "version": doc.get("version", 1)},
        {"$set": {"followups": followups, "listings": entries}, "$inc": {"version": 1}},
    )
    return result.modified_count == 1
