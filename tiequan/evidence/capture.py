"""Building one evidence set (证据集) from a flagged listing: artefacts stored, document made.

Runs in a worker thread (file writes, hashing, gzip). The document goes to the ``evidence``
collection, append-only; only ``lead_ids`` is ever added to later (by the refer stage).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crawlers.items import RawCapture
from tiequan.evidence.artefacts import Artefact, EvidenceFiles
from tiequan.evidence.originals import Original
from tiequan.evidence.warc import WARC_MEDIA_TYPE, WarcImage, build_warc, sniff_image_type
from tiequan.party import Jurisdictions, party_from_listing
from tiequan.timefmt import shanghai

SCHEMA_VERSION = 2
PURPOSES = ("detection", "followup")
# China has had no daylight saving time since 1991: a fixed offset is exact and needs no tzdata.


def evidence_id(platform: str, item_id: str, run_id: str) -> str:
    """``EV`` + 16 hex of sha256(platform|item_id|run_id): the refer stage can compute it too."""
    digest = hashlib.sha256(f"{platform}|{item_id}|{run_id}".encode()).hexdigest()
    return "EV" + digest[:16].upper()


def parse_utc(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from a datetime or an ISO 8601 string."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def shanghai_time(value: Any) -> str:
    """A capture time as officers read it: ``2024-06-01 10:15:00（北京时间）``."""
    when = parse_utc(value)
    if when is None:
        return "时间不详"
    return f"{when.astimezone(shanghai()):%Y-%m-%d %H:%M:%S}（北京时间）"


def finding_image_urls(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    """The product images that carried a finding, in finding order, each once."""
    urls: list[str] = []
    for finding in findings:
        image = finding.get("image")
        url = image.get("url") if isinstance(image, Mapping) else finding.get("image_url")
        if isinstance(url, str) and url and url not in urls:
            urls.append(url)
    return urls


@dataclass
class Gathered:
    """What the reactor side collected for one evidence set before the thread takes over."""

    listing: dict[str, Any]  # Listing.to_dict()
    run_id: str
    purpose: str = "detection"
    raw: RawCapture | None = None
    licence_page: RawCapture | None = None  # the shop's licence page, when one was fetched
    screenshot: bytes | None = None  # of the captured page, rendered offline
    live_screenshot: bytes | None = None  # the page fetched again, only when asked for
    images: dict[str, bytes] = field(default_factory=dict)  # finding images only
    notes: list[str] = field(default_factory=list)


def build_evidence_set(
    gathered: Gathered, store: EvidenceFiles, *, jurisdictions: Jurisdictions | None = None
) -> dict[str, Any]:
    """Store the artefacts of one evidence set and return its ``evidence`` document."""
    listing = gathered.listing
    if gathered.purpose not in PURPOSES:
        raise ValueError(f"unknown evidence purpose {gathered.purpose!r}")
    platform, item_id = str(listing["platform"]), str(listing["item_id"])
    ev_id = evidence_id(platform, item_id, gathered.run_id)
    raw = gathered.raw
    notes = list(gathered.notes)
    artefacts: list[Artefact] = []
    images = [WarcImage(url, data, sniff_image_type(data)) for url, data in gathered.images.items()]
    if raw is not None:
        related = [gathered.licence_page] if gathered.licence_page is not None else []
        warc = build_warc(
            raw, run_id=gathered.run_id, evidence_id=ev_id, images=images, related=related
        )
        artefacts.append(
            store.put(
                warc, kind="warc", media_type=WARC_MEDIA_TYPE, name=f"{ev_id}.warc.gz",
                source_url=raw.response_url,
            )
        )  # fmt: skip
        page, media_type = captured_page(raw)
        artefacts.append(
            store.put(
                page, kind="html", media_type=media_type, name="page.html",
                source_url=raw.response_url,
            )
        )  # fmt: skip
    else:
        notes.append("未保存原始网络交互：采集时未保留页面原始数据")
    licence_page = gathered.licence_page
    if licence_page is not None:
        licence_html, licence_type = captured_page(licence_page)
        artefacts.append(
            store.put(
                licence_html, kind="licence_page", media_type=licence_type,
                name="licence-page.html", source_url=licence_page.response_url,
            )
        )  # fmt: skip
    if gathered.screenshot is not None:
        artefacts.append(
            store.put(
                gathered.screenshot, kind="screenshot", media_type="image/png",
                name="screenshot.png", source_url=str(listing.get("url") or ""),
            )
        )  # fmt: skip
    if gathered.live_screenshot is not None:
        artefacts.append(
            store.put(
                gathered.live_screenshot, kind="live_screenshot", media_type="image/png",
                name="live-screenshot.png", source_url=str(listing.get("url") or ""),
            )
        )  # fmt: skip
    for n, image in enumerate(images, start=1):
        suffix = image.media_type.rsplit("/", 1)[-1].split("+")[0]
        artefacts.append(
            store.put(
                image.data, kind="image", media_type=image.media_type,
                name=f"image-{n}.{suffix}", source_url=image.url,
            )
        )  # fmt: skip
    # Oversized fields cut by the validate stage: their originals are already stored.
    for doc in listing.get("originals") or []:
        kept = Original(**doc).artefact(str(listing.get("url") or "") or None)
        if kept is not None:
            artefacts.append(kept)
        else:
            notes.append(f"字段“{doc.get('field')}”超长已截断，原文未能保存")
    findings = list(listing.get("findings") or [])
    party = party_from_listing(listing, jurisdictions=jurisdictions)
    captured = parse_utc(raw.fetched_at if raw is not None else listing.get("captured_at"))
    return {
        "_id": ev_id,
        "lead_ids": [],
        "platform": platform,
        "item_id": item_id,
        "run_id": gathered.run_id,
        "purpose": gathered.purpose,
        "captured_at": captured or datetime.now(UTC),
        "requested_url": raw.requested_url if raw is not None else listing.get("url"),
        "final_url": raw.response_url if raw is not None else listing.get("final_url"),
        "status": raw.status if raw is not None else listing.get("status"),
        "rendered": bool(raw.rendered) if raw is not None else False,
        "title": listing.get("title"),
        "url": listing.get("url"),
        "findings": findings,
        "categories": sorted({str(f["category"]) for f in findings if f.get("category")}),
        "party_key": party.key,
        "party": party.to_doc(),
        "artefacts": [a.to_doc() for a in artefacts],
        # The screenshot shows the captured bytes (or rendered DOM), laid out offline.
        "screenshot_of": "capture" if gathered.screenshot is not None else None,
        "notes": notes,
        "schema": SCHEMA_VERSION,
    }


def captured_page(raw: RawCapture) -> tuple[bytes, str]:
    """The page as captured and its media type: the rendered DOM of a browser-rendered page
    (serialised as UTF-8 HTML), else the response body with its Content-Type."""
    if raw.dom is not None:
        return raw.dom, "text/html; charset=utf-8"
    for name, value in raw.response_headers:
        if name.lower() == "content-type" and value:
            return raw.body, value
    return raw.body, "text/html"
