"""The rule-based detector: one Aho-Corasick pass plus regex rules over normalised text.

v1 of the detector interface: ``Detector.detect`` returns one ``Finding`` per
category whose combined evidence reaches the score threshold. A later trained,
calibrated model can sit behind the same method.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from detectors.base import CATEGORY_IDS, Finding
from detectors.config import (
    SEVERITIES,
    Context,
    Cue,
    Lexicon,
    Rule,
    default_config_dir,
    load_config,
)
from detectors.context import Scopes
from detectors.matcher import Compiled, Hit, compile_matcher, inside, merge_spans, rule_hits, scan
from detectors.normalize import Normalized, normalize

_FALLBACK_TEMPLATE = "宣称{claims}，违反{article}"
_MAX_CLAIMS = 3
_MAX_ARTICLES = 3
_ORDER = {c: i for i, c in enumerate(CATEGORY_IDS)}


class Detector:
    """Flags illegal claims in listing text; see ``detect``."""

    def __init__(
        self,
        lexicons: Sequence[Lexicon],
        rules: Sequence[Rule],
        *,
        context: Context | None = None,
        min_score: float | None = None,
    ) -> None:
        # scikit-learn style: __init__ stores its arguments as given; compile() sets matcher_.
        self.lexicons = lexicons
        self.rules = rules
        self.context = context
        self.min_score = min_score

    @classmethod
    def from_config(
        cls, config_dir: Path | None = None, *, min_score: float | None = None
    ) -> Detector:
        """Load <repo>/config (or TIEQUAN_CONFIG_DIR, or ``config_dir``); raises ConfigError."""
        lexicons, rules, context = load_config(config_dir or default_config_dir())
        return cls(lexicons, rules, context=context, min_score=min_score)

    @property
    def context_(self) -> Context:
        return self.context or Context()

    @property
    def min_score_(self) -> float:
        """The threshold in force: the argument, else the context file's min_score."""
        return self.context_.min_score if self.min_score is None else self.min_score

    def compile(self) -> Detector:
        """Build the automaton and regexes now rather than on the first ``detect``."""
        self.matcher_ = compile_matcher(self.lexicons, self.rules, self.context_)
        return self

    def _get_compiled(self) -> Compiled:
        matcher: Compiled | None = getattr(self, "matcher_", None)
        return matcher if matcher is not None else self.compile().matcher_

    def detect(self, text: str, *, price: float | None = None) -> list[Finding]:
        """Findings for ``text`` (spans in its own character offsets), in category order.

        ``price`` is the listing price, used by rules that combine a claim with a
        low price (e.g. 100%羊绒 far below the cost of cashmere).
        """
        norm = normalize(text)
        if not norm.text:
            return []
        compiled = self._get_compiled()
        hits, excepted, cues = scan(compiled, norm.text)
        hits.extend(rule_hits(compiled, norm.text, price))
        hits = [h for h in hits if not inside(h, excepted.get(h.category, ()))]
        if not hits:
            return []
        if cues:
            self._mark_cued(hits, cues, norm, text)
        by_category: dict[str, list[Hit]] = defaultdict(list)
        for hit in hits:
            by_category[hit.category].append(hit)
        findings = []
        for category in sorted(by_category, key=lambda c: _ORDER.get(c, len(_ORDER))):
            finding = self._finding(category, by_category[category], norm, text, compiled)
            if finding is not None:
                findings.append(finding)
        return findings

    def _mark_cued(
        self, hits: list[Hit], cues: list[tuple[Cue, int]], norm: Normalized, text: str
    ) -> None:
        scopes = Scopes(text)
        marked = {
            (cue.scope, scopes.scope_of(norm.offsets[start], cue.scope)) for cue, start in cues
        }
        for hit in hits:
            origin = norm.offsets[hit.start]
            if any(
                (kind, scopes.scope_of(origin, kind)) in marked for kind in ("sentence", "clause")
            ):
                hit.cued = True

    def _finding(
        self,
        category: str,
        hits: list[Hit],
        norm: Normalized,
        text: str,
        compiled: Compiled,
    ) -> Finding | None:
        # One entry or rule counts once; a claim also made outside a cued scope counts in full.
        best: dict[str, Hit] = {}
        for hit in sorted(hits, key=lambda h: (h.cued, -h.weight)):
            best.setdefault(hit.key, hit)
        plain = [h.weight for h in best.values() if not h.cued]
        cued = [h.weight for h in best.values() if h.cued]
        # Cued evidence as a whole is scaled by the factor, so a warning that quotes
        # several claims stays below the threshold however many it quotes.
        cued_score = self.context_.factor * (1.0 - math.prod(1.0 - w for w in cued))
        score = 1.0 - math.prod(1.0 - w for w in plain) * (1.0 - cued_score)
        score = min(1.0, max(0.0, score))
        if score < self.min_score_ or score <= 0.0:
            return None
        ranked = sorted(best.values(), key=lambda h: (h.cued, -h.weight, h.start))
        articles = list(dict.fromkeys(h.article for h in ranked))[:_MAX_ARTICLES]
        article = "；".join(articles)
        claims = list(dict.fromkeys(h.claim for h in ranked))[:_MAX_CLAIMS]
        strongest = ranked[0]
        if strongest.rule_template is not None:
            explanation = strongest.rule_template.format(match=strongest.claim, article=article)
        else:
            template = compiled.templates.get(category, _FALLBACK_TEMPLATE)
            explanation = template.format(claims="".join(f"“{c}”" for c in claims), article=article)
        spans = merge_spans(norm.original_span(h.start, h.end) for h in hits)
        return Finding(
            category=category,
            score=score,
            article=article,
            spans=spans,
            explanation=explanation,
            matched=[text[s:e] for s, e in spans],
            severity=max((h.severity for h in hits), key=_severity_rank),
        )


def _severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1
