"""The one item model every spider emits, whatever the site and render mode."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("product", "post", "property")


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
    extra: dict[str, Any] = field(default_factory=dict)
    platform_name: str = ""  # the profile's display name, shown to officers
    # Filled by the image-text pipeline: {"url", "sha256", "text"} per product image read by OCR.
    image_texts: list[dict[str, Any]] = field(default_factory=list)
    # Filled by the detection pipeline: Finding.to_json() dicts plus "matched" and "severity".
    findings: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.item_id}"
