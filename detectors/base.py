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
