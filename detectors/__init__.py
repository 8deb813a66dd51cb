"""Detectors: normalise listing text and flag illegal claims per category.

Pure Python (no scrapy, no tiequan imports) so it can run in any worker.
"""

from __future__ import annotations

from detectors.base import CATEGORY_IDS, CORE_CATEGORIES, Finding
from detectors.config import ConfigError, Context, Cue, Lexicon, Rule, Term, load_config
from detectors.engine import Detector
from detectors.normalize import Normalized, normalize

__all__ = [
    "CATEGORY_IDS",
    "CORE_CATEGORIES",
    "ConfigError",
    "Context",
    "Cue",
    "Detector",
    "Finding",
    "Lexicon",
    "Normalized",
    "Rule",
    "Term",
    "load_config",
    "normalize",
]
