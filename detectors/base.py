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

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "score": round(self.score, 4),
            "article": self.article,
            "spans": [[s, e] for s, e in self.spans],
            "explanation": self.explanation,
        }
