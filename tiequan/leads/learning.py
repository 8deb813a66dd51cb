"""Active learning: how much an officer's decision on a lead would teach the detector.

A finding's score is the stacker's probability; it is reported at or above its category's
threshold. A decision teaches the model most where the model was least sure (the score
just over the threshold) and where the rules and the classifier disagreed (one saw a
claim the other did not). ``informativeness`` weighs both equally into [0, 1], written on
the lead with its other case fields (tiequan.leads.cases.summarise), so the queue sorts
by it through an index. A lead without signals (price fraud, rules-only categories,
leads written before signals were stored) ranks last.
"""

from __future__ import annotations

from typing import Any

from detectors.base import Signals

# A score this far from its threshold, or farther, counts as certain.
CERTAIN_MARGIN = 0.25
NEAR_WEIGHT = 0.5  # the rest weighs disagreement


def informativeness(score: float, signals: Signals | None) -> float:
    """How near ``score`` is to the threshold, and how far apart rules and model are."""
    if signals is None:
        return 0.0
    distance = abs(score - signals.threshold)
    near = max(0.0, 1.0 - distance / CERTAIN_MARGIN)
    disagreement = min(1.0, abs(signals.rules - signals.model))
    return round(NEAR_WEIGHT * near + (1.0 - NEAR_WEIGHT) * disagreement, 4)


def lead_informativeness(finding_score: float, stored: Any) -> float:
    """``informativeness`` of a lead's strongest finding and its stored ``signals``."""
    return informativeness(finding_score, Signals.from_json(stored))
