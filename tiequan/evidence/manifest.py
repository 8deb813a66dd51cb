"""A lead's evidence: finding its evidence sets, the manifest (证据清单), re-hashing artefacts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from tiequan.evidence.artefacts import Artefact, EvidenceFiles, checked_sha256
from tiequan.evidence.capture import shanghai_time
from tiequan.leads.model import Case, PartyDoc
from tiequan.leads.queue import LeadNotFound, normalise_lead_id
from tiequan.storage.store import EVIDENCE, LEADS

MANIFEST_FORMAT = "tiequan-evidence-manifest/1"
KIND_LABELS = {
    "warc": "网页存档（WARC）",
    "screenshot": "网页截图（据采集内容离线渲染）",
    "live_screenshot": "网页截图（取证时重新访问）",
    "image": "商品图片",
    "html": "网页源码",
    "licence_page": "经营者资质公示页面",
    "manifest": "证据清单",
    "text": "超长字段原文",
}
STATE_LABELS = {"changed": "已被改动（哈希值不符）", "missing": "文件缺失"}


def find_lead(db: Database[Any], lead_id: str) -> Case:
    doc = db[LEADS].find_one({"_id": normalise_lead_id(lead_id)})
    if doc is None:
        raise LeadNotFound(normalise_lead_id(lead_id))
    return Case.from_doc(doc)


def lead_evidence_query(case: Case) -> dict[str, Any]:
    """The evidence sets of a case: its party's sets in its category, plus any linked to it."""
    linked: dict[str, Any] = {"lead_ids": case.id}
    if not case.party_key:
        return linked
    same = {"party_key": case.party_key, "categories": case.category}
    return {"$or": [same, linked]}


def evidence_sets(db: Database[Any], case: Case) -> list[dict[str, Any]]:
    """The case's evidence sets, oldest capture first.

    The two halves of ``lead_evidence_query`` are read apart, each by its own index (a
    server may scan the whole collection for an ``$or``), and merged in the same order.
    """
    order = [("captured_at", 1), ("_id", 1)]
    if not case.party_key:
        return list(db[EVIDENCE].find({"lead_ids": case.id}).sort(order))
    found: dict[Any, dict[str, Any]] = {}
    for query in (
        {"party_key": case.party_key, "categories": case.category},
        {"lead_ids": case.id},
    ):
        for doc in db[EVIDENCE].find(query).sort(order):
            found.setdefault(doc["_id"], doc)
    if len(found) < 2:
        return list(found.values())
    ids = list(found)  # a second, ordered read of the few sets found: the server's order
    return list(db[EVIDENCE].find({"_id": {"$in": ids}}).sort(order))


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=UTC)
        return when.astimezone(UTC).isoformat(timespec="seconds")
    return None if value is None else str(value)


def build_manifest(
    case: Case, sets: list[dict[str, Any]], *, generated_at: datetime
) -> dict[str, Any]:
    """The JSON manifest of a case's evidence: every set and every artefact's hash."""
    party = case.party or PartyDoc()
    return {
        "format": MANIFEST_FORMAT,
        "lead_id": case.id,
        "category": case.category,
        "category_name": case.category_name,
        "party_key": case.party_key,
        "party": {
            k: getattr(party, k)
            for k in ("label", "name", "credit_code", "address", "shop_name", "shop_url")
        },
        "generated_at": _iso(generated_at),
        "generated_at_local": shanghai_time(generated_at),
        "evidence_sets": [
            {
                "evidence_id": doc["_id"],
                "purpose": doc.get("purpose"),
                "platform": doc.get("platform"),
                "item_id": doc.get("item_id"),
                "run_id": doc.get("run_id"),
                "captured_at": _iso(doc.get("captured_at")),
                "captured_at_local": shanghai_time(doc.get("captured_at")),
                "requested_url": doc.get("requested_url"),
                "final_url": doc.get("final_url"),
                "status": doc.get("status"),
                "categories": doc.get("categories", []),
                "notes": doc.get("notes", []),
                "artefacts": [
                    {k: a.get(k) for k in ("kind", "name", "sha256", "size", "media_type")}
                    | {"source_url": a.get("source_url")}
                    for a in doc.get("artefacts", [])
                ],
            }
            for doc in sets
        ],
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def write_manifest(
    db: Database[Any], store: EvidenceFiles, lead_id: str, *, now: datetime | None = None
) -> tuple[dict[str, Any], Artefact]:
    """Build the lead's manifest, store it as an artefact and record its hash on the lead."""
    case = find_lead(db, lead_id)
    now = now or datetime.now(UTC)
    manifest = build_manifest(case, evidence_sets(db, case), generated_at=now)
    artefact = store.put(
        manifest_bytes(manifest),
        kind="manifest",
        media_type="application/json",
        name=f"{case.id}-manifest.json",
    )
    record = {"sha256": artefact.sha256, "path": store.location(artefact.sha256), "at": now}
    db[LEADS].update_one({"_id": case.id}, {"$set": {"manifest": record}})
    return manifest, artefact


@dataclass(frozen=True)
class Problem:
    """An artefact whose file changed or went missing."""

    lead_ids: tuple[str, ...]
    evidence_id: str | None  # None for a lead's manifest
    kind: str
    name: str
    sha256: str
    path: str  # where the file is (EvidenceFiles.location)
    state: str  # "changed" | "missing"

    def describe(self) -> str:
        leads = "、".join(self.lead_ids) or "（尚未关联线索）"
        where = f"证据集 {self.evidence_id}" if self.evidence_id else "证据清单"
        kind = KIND_LABELS.get(self.kind, self.kind)
        return (
            f"线索 {leads} {where} {kind}“{self.name}”{STATE_LABELS.get(self.state, self.state)}："
            f"{self.path}（应为 sha256 {self.sha256}）"
        )


@dataclass
class Verification:
    checked: int  # artefact references checked
    files: int  # distinct files re-hashed
    sets: int
    problems: list[Problem]


def _targets(
    db: Database[Any], lead: Case | None
) -> Iterator[tuple[tuple[str, ...], str | None, dict[str, Any]]]:
    query = lead_evidence_query(lead) if lead is not None else {}
    projection = {"artefacts": 1, "lead_ids": 1, "party_key": 1, "categories": 1}
    # Evidence belongs to a case by party and category (lead_evidence_query); sets written
    # before their lead existed carry no lead_ids, so the cases are looked up here.
    cases: dict[tuple[str, str], list[str]] = {}
    if lead is None:
        for row in db[LEADS].find({"party_key": {"$ne": None}}, {"party_key": 1, "category": 1}):
            cases.setdefault((row["party_key"], row.get("category", "")), []).append(row["_id"])
    for doc in db[EVIDENCE].find(query, projection).sort("_id", 1):
        lead_ids = tuple(doc.get("lead_ids") or ())
        if lead is not None and lead.id not in lead_ids:
            lead_ids = (lead.id, *lead_ids)
        for category in doc.get("categories") or ():
            found = cases.get((doc.get("party_key") or "", category), ())
            lead_ids += tuple(i for i in found if i not in lead_ids)
        for artefact in doc.get("artefacts", []):
            yield lead_ids, str(doc["_id"]), artefact
    manifest = (lead.manifest if lead is not None else None) or {}
    if lead is not None and manifest.get("sha256"):
        name = f"{lead.id}-manifest.json"
        yield (lead.id,), None, {"kind": "manifest", "name": name, "sha256": manifest["sha256"]}


def verify(db: Database[Any], store: EvidenceFiles, lead_id: str | None = None) -> Verification:
    """Re-hash every artefact of one lead's evidence sets (or of all sets); list the bad ones."""
    lead = find_lead(db, lead_id) if lead_id else None
    states: dict[str, str] = {}
    result = Verification(0, 0, 0, [])
    seen_sets: set[str | None] = set()
    for lead_ids, ev_id, artefact in _targets(db, lead):
        sha = str(artefact.get("sha256") or "")
        if ev_id is not None:
            seen_sets.add(ev_id)
        if sha not in states:
            try:
                states[sha] = store.check(sha)
            except ValueError:  # not even a hash: the record itself was altered
                states[sha] = "changed"
        result.checked += 1
        state = states[sha]
        if state != "ok":
            result.problems.append(
                Problem(
                    lead_ids, ev_id, str(artefact.get("kind")), str(artefact.get("name") or ""),
                    sha, _location(store, sha), state,
                )
            )  # fmt: skip
    result.files = len(states)
    result.sets = len(seen_sets)
    return result


def _location(store: EvidenceFiles, sha: str) -> str:
    try:
        return store.location(checked_sha256(sha))
    except ValueError:
        return store.describe()
