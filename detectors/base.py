"""The detector interface: what a finding is and which categories exist."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The seed's 18 priorities, in its order. These ids are a stable public format
# (`tiequan detect` output, config/categories.yaml, stored leads): never rename.
CATEGORY_IDS: tuple[str, ...] = (
    "edible_oil",
    "slimming_aphrodisiac",
    "fuel_cheating",
    "miracle_drug",
    "medical_beauty",
    "gas_cylinder",
    "elevator_overdue",
    "minors_marketing",
    "counterfeit_apparel",
    "vinegar",
    "liquor_label",
    "real_estate",
    "agri_inputs",
    "household_coal",
    "hazardous_goods",
    "ebike_modification",
    "illegal_fees",
    "gas_pipe_overdue",
)
CORE_CATEGORIES: tuple[str, ...] = (
    "slimming_aphrodisiac",
    "miracle_drug",
    "medical_beauty",
    "counterfeit_apparel",
    "real_estate",
)


SITE_KINDS: tuple[str, ...] = (
    "mall",
    "social",
    "live",
    "property",
    "video",
    "forum",
    "news",
    "gov",
    "other",
)


@dataclass(frozen=True)
class ListingContext:
    """What surrounds a text on its page, read beside the text itself.

    ``site_kind`` is one of ``SITE_KINDS``; ``category`` the platform's own category path
    (e.g. 房产/新房, 食品/酒类); ``shop`` the shop or account name; ``hints`` category ids
    that the site profile declares for the site or its section (a property portal:
    ``("real_estate",)``). A claim that needs its product domain (a travel time needs a
    property) finds that domain in the text, in this context, or in a hint.
    """

    site_kind: str = ""
    category: str = ""
    shop: str = ""
    hints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.site_kind and self.site_kind not in SITE_KINDS:
            raise ValueError(f"site_kind: {self.site_kind!r} is not one of {', '.join(SITE_KINDS)}")
        unknown = [h for h in self.hints if h not in CATEGORY_IDS]
        if unknown:
            raise ValueError(f"hints: {unknown[0]!r} is not a category id")

    @property
    def surroundings(self) -> str:
        """The page words around the text: its category path and shop."""
        return "\n".join(p for p in (self.category, self.shop) if p)

    def __bool__(self) -> bool:
        return bool(self.site_kind or self.category or self.shop or self.hints)

    @property
    def categories(self) -> frozenset[str]:
        """The category ids the context vouches for: its hints and its site kind's."""
        return frozenset((*self.hints, *SITE_KIND_HINTS.get(self.site_kind, ())))


# A site kind that tells the product domain by itself.
SITE_KIND_HINTS: dict[str, tuple[str, ...]] = {"property": ("real_estate",)}
NO_CONTEXT = ListingContext()


def join_title(title: str, text: str) -> tuple[str, int]:
    """The text the detectors read for a titled listing, and where ``text`` starts in it.

    The title comes first so that a claim split between title and text joins up.
    """
    if not title:
        return text, 0
    return f"{title}\n{text}", len(title) + 1


@dataclass(frozen=True)
class Signals:
    """What a stacked score was made of: the rule score, the classifier's probability and
    the category's threshold. Active learning ranks leads by them (tiequan.leads.learning)."""

    rules: float
    model: float
    threshold: float

    def to_json(self) -> dict[str, float]:
        return {
            "rules": round(self.rules, 4),
            "model": round(self.model, 4),
            "threshold": round(self.threshold, 4),
        }

    @classmethod
    def from_json(cls, data: Any) -> Signals | None:
        """The signals a stored finding carries; None for one stored without them."""
        if not isinstance(data, dict):
            return None
        try:
            return cls(float(data["rules"]), float(data["model"]), float(data["threshold"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass
class Finding:
    """One category's evidence in one text.

    ``spans`` are [start, end) character offsets into the text given to the detector;
    ``explanation`` is one Chinese sentence an officer can read.
    """

    category: str
    score: float
    article: str
    spans: list[tuple[int, int]] = field(default_factory=list)
    explanation: str = ""
    matched: list[str] = field(default_factory=list)
    severity: str = "提醒告诫"
    # "claim" (an illegal claim in the text) or "price_fraud" (价格欺诈, e.g. a crossed-out
    # original price that never applied).
    kind: str = "claim"
    # Set when the claim was read from a product image (OCR): which image and what it said.
    image_url: str | None = None
    image_text: str | None = None
    # The weight of the strongest single claim the seller makes itself (not quoted by a
    # warning or a report): one clear claim weighs more than several weak words.
    strongest: float = 0.0
    # Set by ListingDetector for the categories its stacker scores; kept out of to_json
    # (the format of `tiequan detect`), stored with leads by the pipeline.
    signals: Signals | None = None

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "category": self.category,
            "score": round(self.score, 4),
            "article": self.article,
            "spans": [[s, e] for s, e in self.spans],
            "explanation": self.explanation,
        }
        # Optional keys appear only when they apply, so plain text findings keep the
        # stable five-key format of `tiequan detect`.
        if self.kind != "claim":
            record["type"] = self.kind
        if self.image_url is not None:
            record["image"] = {"url": self.image_url, "text": self.image_text or ""}
        return record
