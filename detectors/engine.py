"""The rule-based detector: one Aho-Corasick pass plus anchor-gated regex rules.

``Detector.detect`` returns one ``Finding`` per category whose combined evidence
reaches the score threshold; ``Detector.evidence`` gives the same per-category
scores without a threshold, for models that combine rule evidence with their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from detectors.base import CATEGORY_IDS, NO_CONTEXT, Finding, ListingContext
from detectors.config import (
    SEVERITIES,
    Context,
    Cue,
    Lexicon,
    Rule,
    default_config_dir,
    load_config,
    load_variants,
)
from detectors.context import cued_positions, is_report
from detectors.matcher import (
    Compiled,
    Hit,
    Scan,
    compile_matcher,
    gated_claim,
    inside,
    merge_spans,
    scan,
)
from detectors.normalize import Normalized, normalize
from detectors.price import FloorCheck, PriceFloor, load_price_floors
from detectors.variants import VariantConfig

_FALLBACK_TEMPLATE = "宣称{claims}，违反{article}"
_CRIME_NOTE = "，涉嫌犯罪，建议移送公安机关"
_MAX_CLAIMS = 3
_MAX_ARTICLES = 3
_ORDER = {c: i for i, c in enumerate(CATEGORY_IDS)}
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass
class Analysis:
    """What ``Detector.analyse`` found in one text.

    ``quoted`` is 0 when the text holds no warning, news, regulation or negation cue, 0.5
    when some of it does, 1 when it reads as a report or a rule as a whole: a classifier
    that sees a claim's words cannot tell a seller from a reporter quoting one.
    """

    findings: list[Finding]
    quoted: float
    # What needs_domain reads: the scan's shut rules, run only when asked.
    _scan: Scan | None = field(default=None, repr=False)
    _compiled: Compiled | None = field(default=None, repr=False)
    _price: float | None = field(default=None, repr=False)

    def needs_domain(self, category: str) -> bool:
        """Does the text make a claim of ``category`` that is illegal only in its trade,
        without that trade in sight (a travel time in a restaurant's post)?"""
        found, compiled = self._scan, self._compiled
        if found is None or compiled is None or not found.shut:
            return False
        rules = found.gated(compiled, category)
        return bool(rules) and gated_claim(compiled, found.text, self._price, rules)


class Detector:
    """Flags illegal claims in listing text; see ``detect``."""

    def __init__(
        self,
        lexicons: Sequence[Lexicon],
        rules: Sequence[Rule],
        *,
        context: Context | None = None,
        min_score: float | None = None,
        variants: VariantConfig | None = None,
        price_floors: Sequence[PriceFloor] = (),
    ) -> None:
        # scikit-learn style: __init__ stores its arguments as given; compile() sets matcher_.
        self.lexicons = lexicons
        self.rules = rules
        self.context = context
        self.min_score = min_score
        self.variants = variants
        self.price_floors = price_floors

    @classmethod
    def from_config(
        cls, config_dir: Path | None = None, *, min_score: float | None = None
    ) -> Detector:
        """Load <repo>/config (or TIEQUAN_CONFIG_DIR, or ``config_dir``); raises ConfigError."""
        directory = config_dir or default_config_dir()
        lexicons, rules, context = load_config(directory)
        return cls(
            lexicons,
            rules,
            context=context,
            min_score=min_score,
            variants=load_variants(directory),
            price_floors=load_price_floors(directory),
        )

    @property
    def context_(self) -> Context:
        return self.context or Context()

    @property
    def min_score_(self) -> float:
        """The threshold in force: the argument, else the context file's min_score."""
        return self.context_.min_score if self.min_score is None else self.min_score

    def compile(self) -> Detector:
        """Build the automaton and regexes now rather than on the first ``detect``."""
        self.matcher_ = compile_matcher(self.lexicons, self.rules, self.context_, self.variants)
        self.floors_ = FloorCheck(self.price_floors)
        return self

    def _get_compiled(self) -> Compiled:
        matcher: Compiled | None = getattr(self, "matcher_", None)
        return matcher if matcher is not None else self.compile().matcher_

    def detect(
        self,
        text: str,
        *,
        price: float | None = None,
        min_score: float | None = None,
        context: ListingContext = NO_CONTEXT,
    ) -> list[Finding]:
        """Findings for ``text`` (spans in its own character offsets), in category order.

        ``price`` is the listing price, used by rules that combine a claim with a
        low price (e.g. 100%羊绒 far below the cost of cashmere). ``min_score``
        overrides the threshold for this call (0.0: every category with evidence).
        ``context`` is what surrounds the text on its page (see ``ListingContext``).
        """
        return self.analyse(text, price=price, min_score=min_score, context=context).findings

    def analyse(
        self,
        text: str,
        *,
        price: float | None = None,
        min_score: float | None = None,
        context: ListingContext = NO_CONTEXT,
    ) -> Analysis:
        """``detect``'s findings, and how far the text reads as quoting claims (``quoted``)."""
        threshold = self.min_score_ if min_score is None else min_score
        compiled = self._get_compiled()
        norm = normalize(text)
        found, by_category, quoted = self._grouped(norm, text, price, context, compiled)
        floor = self._floor(text, price, norm)
        if not by_category and floor is None:
            return Analysis([], quoted, found, compiled, price)
        floor_category = None if floor is None else floor.category
        findings: dict[str, Finding] = {}
        for category, hits in by_category.items():
            score = self._score(hits)
            # Below the threshold a finding is dropped unless the price floor adds to it.
            if score > 0.0 and (score >= threshold or category == floor_category):
                findings[category] = self._finding(category, score, hits, norm, text, compiled)
        if floor is not None:
            findings[floor.category] = _with_floor(findings.get(floor.category), floor, text)
        ordered = sorted(findings, key=lambda c: _ORDER.get(c, len(_ORDER)))
        kept = [findings[c] for c in ordered if findings[c].score >= threshold]
        return Analysis(kept, quoted, found, compiled, price)

    def _floor(self, text: str, price: float | None, norm: Normalized) -> Finding | None:
        return None if price is None else self.floors_.finding(text, price, norm)

    def evidence(
        self, text: str, *, price: float | None = None, context: ListingContext = NO_CONTEXT
    ) -> dict[str, float]:
        """Per-category rule evidence in [0, 1] (context applied, no threshold).

        Categories without any hit are absent. Cheaper than ``detect``: no spans,
        explanations or findings are built.
        """
        compiled = self._get_compiled()
        norm = normalize(text)
        _found, by_category, _quoted = self._grouped(norm, text, price, context, compiled)
        scores = {c: self._score(h) for c, h in by_category.items()}
        floor = self._floor(text, price, norm)
        if floor is not None:
            before = scores.get(floor.category, 0.0)
            scores[floor.category] = 1.0 - (1.0 - before) * (1.0 - floor.score)
        return scores

    def _grouped(
        self,
        norm: Normalized,
        text: str,
        price: float | None,
        context: ListingContext,
        compiled: Compiled,
    ) -> tuple[Scan | None, dict[str, list[Hit]], float]:
        """The scan, its hits by category (cued ones marked) and ``Analysis.quoted``."""
        if not norm.text:
            return None, {}, 0.0
        if context is NO_CONTEXT:
            result = scan(compiled, norm.text, price)
        else:
            around = context.surroundings
            result = scan(
                compiled,
                norm.text,
                price,
                context_text=normalize(around).text if around else "",
                hints=context.categories,
            )
        if result is None:
            return None, {}, 0.0
        hits = result.hits
        if result.excepted:
            hits = [h for h in hits if not inside(h, result.excepted.get(h.category, ()))]
        quoted = 0.0
        if result.cues:
            report = is_report(result.cues, self.context_)
            quoted = 1.0 if report else 0.5
            if hits:
                self._mark_cued(hits, result.cues, norm, text, report)
        by_category: dict[str, list[Hit]] = {}
        for hit in hits:
            by_category.setdefault(hit.category, []).append(hit)
        return result, by_category, quoted

    def _mark_cued(
        self,
        hits: list[Hit],
        cues: list[tuple[Cue, int]],
        norm: Normalized,
        text: str,
        report: bool,
    ) -> None:
        if report:
            for hit in hits:
                hit.cued = True
            return
        source = norm.source
        original = [(cue, source(start)) for cue, start in cues]
        flags = cued_positions(original, [source(h.start) for h in hits], text)
        for hit, flag in zip(hits, flags, strict=True):
            hit.cued = flag

    def _score(self, hits: list[Hit]) -> float:
        # One entry or rule counts once; a claim also made outside a cued scope counts in full.
        best: dict[str, Hit] = {}
        for hit in hits:
            seen = best.get(hit.key)
            if seen is None or (seen.cued, -seen.weight) > (hit.cued, -hit.weight):
                best[hit.key] = hit
        plain = 1.0
        cued = 1.0
        for hit in best.values():
            if hit.cued:
                cued *= 1.0 - hit.weight
            else:
                plain *= 1.0 - hit.weight
        # Cued evidence as a whole is scaled by the factor, so a warning that quotes
        # several claims stays below the threshold however many it quotes.
        cued_score = self.context_.factor * (1.0 - cued)
        return min(1.0, max(0.0, 1.0 - plain * (1.0 - cued_score)))

    def _explanation(
        self,
        category: str,
        ranked: list[Hit],
        own: list[Hit],
        severity: str,
        article: str,
        compiled: Compiled,
    ) -> str:
        """One Chinese sentence: the strongest rule's, or the lexicon's with the claims."""
        crime_hits = [h for h in own if h.severity == "移送公安"] if severity == "移送公安" else []
        other = [h.claim for h in ranked if h not in crime_hits]
        crime_template = compiled.crime_templates.get(category)
        if crime_hits and other and crime_template:
            return crime_template.format(
                claims=_quote(other), crime=_quote([h.claim for h in crime_hits]), article=article
            )
        strongest = ranked[0]
        if strongest.rule_template is not None:
            text = strongest.rule_template.format(match=strongest.claim, article=article)
        else:
            template = compiled.templates.get(category, _FALLBACK_TEMPLATE)
            text = template.format(claims=_quote([h.claim for h in ranked]), article=article)
        if severity == "移送公安" and "公安" not in text:
            text = text.rstrip("。") + _CRIME_NOTE
        return text

    def _finding(
        self,
        category: str,
        score: float,
        hits: list[Hit],
        norm: Normalized,
        text: str,
        compiled: Compiled,
    ) -> Finding:
        best: dict[str, Hit] = {}
        for hit in sorted(hits, key=lambda h: (h.cued, -h.weight, h.start)):
            best.setdefault(hit.key, hit)
        ranked = list(best.values())
        articles = list(dict.fromkeys(h.article for h in ranked))[:_MAX_ARTICLES]
        article = "；".join(articles)
        # Severity follows the seller's own claims; quoted (cued) ones only if nothing else.
        own = [h for h in ranked if not h.cued] or ranked
        severity = max((h.severity for h in own), key=lambda s: _RANK.get(s, -1))
        explanation = self._explanation(category, ranked, own, severity, article, compiled)
        spans = merge_spans(norm.original_span(h.start, h.end) for h in hits)
        return Finding(
            category=category,
            score=score,
            article=article,
            spans=spans,
            explanation=explanation,
            matched=[text[s:e] for s, e in spans],
            severity=severity,
            strongest=max((h.weight for h in ranked if not h.cued), default=0.0),
        )


def _quote(claims: list[str]) -> str:
    return "".join(f"“{c}”" for c in list(dict.fromkeys(claims))[:_MAX_CLAIMS])


def _with_floor(finding: Finding | None, floor: Finding, text: str) -> Finding:
    """Merge a below-market-floor price finding into the text finding of its category."""
    if finding is None:
        return floor
    score = 1.0 - (1.0 - finding.score) * (1.0 - floor.score)
    spans = merge_spans([*finding.spans, *floor.spans])
    articles = list(dict.fromkeys([*finding.article.split("；"), floor.article]))
    stronger = floor if floor.score > finding.score else finding
    return Finding(
        category=finding.category,
        score=score,
        article="；".join(articles[:_MAX_ARTICLES]),
        spans=spans,
        explanation=stronger.explanation,
        matched=[text[s:e] for s, e in spans],
        severity=max(finding.severity, floor.severity, key=lambda s: _RANK.get(s, -1)),
        strongest=max(finding.strongest, floor.score),
    )
