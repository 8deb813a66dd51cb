"""The one item model every spider emits, whatever the site and render mode."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from crawlers.revisit import Target

KINDS = ("product", "post", "property")
# Fields that live only while the item travels through the pipelines: never stored or hashed.
TRANSIENT_FIELDS = ("raw", "licence_raw", "stored_by", "revisit", "recrawl")
# Listing.recrawl: the page answered 304 (the item is rebuilt from the stored listing), or
# its extracted fields hash as stored; either way detection, OCR and evidence are skipped.
NOT_MODIFIED = "not_modified"
UNCHANGED = "unchanged"


@dataclass(repr=False, eq=False)
class RawCapture:
    """The HTTP exchange an item came from, kept for the evidence stage (固证).

    Scrapy has already decompressed ``body``. ``dom`` is the page's DOM after scripts ran,
    for browser-rendered pages when it differs from ``body``. ``images`` maps an image URL
    to the bytes the image stage downloaded. Items from one list page share these objects.
    """

    request_url: str
    method: str
    request_headers: list[tuple[str, str]]
    response_url: str
    status: int
    response_headers: list[tuple[str, str]]
    body: bytes
    fetched_at: str  # UTC, ISO 8601
    rendered: bool = False
    dom: bytes | None = None
    images: dict[str, bytes] = field(default_factory=dict)
    redirect_urls: list[str] = field(default_factory=list)  # earlier hops, first = requested

    @property
    def requested_url(self) -> str:
        return self.redirect_urls[0] if self.redirect_urls else self.request_url


@dataclass
class Licence:
    """The shop's business licence (营业执照) as displayed under 电子商务法 §15."""

    credit_code: str | None = None
    name: str | None = None
    address: str | None = None
    url: str | None = None


@dataclass
class Listing:
    """A listing, ad or post as captured from a platform.

    ``platform`` is the site profile's name; ``item_id`` is the platform's own id and,
    with ``platform``, identifies the listing across sweeps.
    """

    platform: str
    kind: str
    url: str
    item_id: str
    title: str
    text: str = ""
    price: float | None = None
    original_price: float | None = None
    sales: int | None = None
    shop_name: str | None = None
    shop_url: str | None = None
    licence: Licence | None = None
    image_urls: list[str] = field(default_factory=list)
    captured_at: str = ""
    final_url: str | None = None
    status: int | None = None
    body_sha256: str | None = None
    # The page's validators, sent back as If-None-Match / If-Modified-Since next sweep.
    etag: str | None = None
    last_modified: str | None = None
    # sha256 of the fields the page showed (pipelines.recrawl.fields_sha256): what the
    # next sweep compares when the server gives no validators.
    fields_sha256: str | None = None
    # The model version (ListingDetector.model_version_) that detected this listing: a
    # recrawl re-detects an unchanged page once when the live model is another.
    detector_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    platform_name: str = ""  # the profile's display name, shown to officers
    # Filled by the image-text pipeline: {"url", "sha256", "text"} per product image read by OCR.
    image_texts: list[dict[str, Any]] = field(default_factory=list)
    # Filled by the detection pipeline: Finding.to_json() dicts plus "matched" and "severity".
    findings: list[dict[str, Any]] = field(default_factory=list)
    # Set by the validate stage for each field it cut to TIEQUAN_MAX_FIELD_CHARS: where the
    # full text is kept ({"field", "sha256", "chars", "bytes"}, tiequan.evidence.originals).
    originals: list[dict[str, Any]] = field(default_factory=list)
    # Set by the evidence stage: the evidence set fixed for this sighting ("EV…").
    evidence_id: str | None = None
    # Transient: the raw exchange, cleared by the evidence stage (see TRANSIENT_FIELDS).
    raw: RawCapture | None = field(default=None, repr=False, compare=False)
    # Transient too: the exchange of the shop's licence page, when one was fetched for it.
    licence_raw: RawCapture | None = field(default=None, repr=False, compare=False)
    # Transient: in a resumed crawl, the killed run that already stored this listing
    # (pipelines.resume); the store stage does not store it again.
    stored_by: str | None = field(default=None, repr=False, compare=False)
    # Transient: the revisit-list entry when the listing is under takedown follow-up.
    revisit: Target | None = field(default=None, repr=False, compare=False)
    # Transient: NOT_MODIFIED or UNCHANGED when the recrawl stage found nothing new.
    recrawl: str | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The stored form: every field but the transient ones (the raw bytes are not copied)."""
        record = asdict(replace(self, raw=None, licence_raw=None, revisit=None))
        for name in TRANSIENT_FIELDS:
            del record[name]
        return record

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.item_id}"
