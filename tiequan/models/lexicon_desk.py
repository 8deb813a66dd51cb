"""What an analyst does with the lexicon, for the CLI and the workbench alike.

``LexiconDesk`` keeps the live model and the rules in force between calls and rebuilds
them only when the live alias or the lexicon version moved (a build compiles every
lexicon, seconds). Every failure is a ``LexiconError`` with a one-line message.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from pymongo.database import Database

from detectors.base import Finding
from detectors.combine import ListingDetector
from detectors.config import SEVERITIES, ConfigError, Lexicon, default_config_dir
from detectors.engine import Detector
from tiequan.leads.labels import LabelStore
from tiequan.models.gate import ModelsConfigError, load_models_config
from tiequan.models.lexicon import (
    ADD,
    DEFAULT_WEIGHT,
    REMOVE,
    LexiconChange,
    LexiconError,
    LexiconStore,
    TermSpec,
    check_spec,
    new_term,
    rules_in_force,
)
from tiequan.models.lexicon_gate import Judgement, apply_change, live_base
from tiequan.models.registry import LIVE, Registry, RegistryError
from tiequan.models.suggest import Suggestion, benign_texts, suggest
from tiequan.settings import environment
from tiequan.storage.store import utcnow

__all__ = ["SEVERITIES", "LexiconDesk"]
ACCEPT_REASON = "采纳词库建议"


class LexiconDesk:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self.db = db
        self.store = LexiconStore(db)
        self.lock = threading.Lock()
        self.model: tuple[str, ListingDetector] | None = None
        self.rules_built: tuple[int, Detector] | None = None
        self.benign: list[str] | None = None

    def base(self) -> ListingDetector:
        """The live model over the shipped lexicons."""
        version = str(Registry(self.db, environment().model_dir).alias(LIVE))
        with self.lock:
            if self.model is None or self.model[0] != version:
                self.model = (version, live_base(self.db))
            return self.model[1]

    def rules(self) -> Detector:
        """The rule detector of the lexicon in force."""
        overlay = self.store.overlay()
        with self.lock:
            if self.rules_built is None or self.rules_built[0] != overlay.version:
                try:
                    self.rules_built = (overlay.version, rules_in_force(overlay))
                except ConfigError as exc:
                    raise LexiconError(f"词库无法加载：{exc}") from exc
            return self.rules_built[1]

    def lexicons(self) -> dict[str, Lexicon]:
        return {lex.category: lex for lex in self.rules().lexicons}

    def categories(self) -> list[str]:
        return sorted(self.lexicons())

    def change(
        self, action: str, spec: TermSpec, *, by: str, reason: str, force: bool = False
    ) -> tuple[LexiconChange, Judgement]:
        """Check ``spec`` (cheaply, before the model loads), gate it and record it."""
        check_spec(self.lexicons(), action, spec)
        try:
            return apply_change(
                self.store, self.base(), action, spec, by=by, reason=reason,
                config=load_models_config(), force=force,
            )  # fmt: skip
        except (RegistryError, ModelsConfigError, ConfigError) as exc:
            raise LexiconError(str(exc)) from exc

    def add(
        self,
        category: str,
        term: str,
        *,
        by: str,
        reason: str,
        weight: float = DEFAULT_WEIGHT,
        article: str = "",
        severity: str = "",
        variants: Iterable[str] = (),
        exceptions: Iterable[str] = (),
        force: bool = False,
    ) -> tuple[LexiconChange, Judgement]:
        spec = new_term(
            self.lexicons(), category, term, weight=weight, article=article,
            severity=severity, variants=variants, exceptions=exceptions,
        )  # fmt: skip
        return self.change(ADD, spec, by=by, reason=reason, force=force)

    def remove(
        self, category: str, term: str, *, by: str, reason: str, force: bool = False
    ) -> tuple[LexiconChange, Judgement]:
        spec = TermSpec(category.strip(), term.strip())
        return self.change(REMOVE, spec, by=by, reason=reason, force=force)

    def accept(
        self, category: str, phrase: str, *, by: str, reason: str = "", force: bool = False
    ) -> tuple[LexiconChange, Judgement]:
        """A suggestion becomes a term, with its category's usual article and severity."""
        return self.add(category, phrase, by=by, reason=reason or ACCEPT_REASON, force=force)

    def reject(self, category: str, phrase: str, *, by: str, reason: str = "") -> LexiconChange:
        spec = TermSpec(category.strip(), phrase.strip())
        lexicons = self.lexicons()
        if spec.category not in lexicons:
            known = "、".join(sorted(lexicons))
            raise LexiconError(f"词条字段 category 的值 {spec.category!r} 有误：可选 {known}")
        if not spec.key[1]:
            raise LexiconError(f"词条字段 term 的值 {spec.term!r} 有误：为空")
        return self.store.reject(spec, by=by, reason=reason.strip() or "不采纳")

    def suggestions(self, days: int, limit: int = 20) -> list[Suggestion]:
        if self.benign is None:
            self.benign = benign_texts(default_config_dir())
        return suggest(
            LabelStore(self.db).iter(since=utcnow() - timedelta(days=days)), self.rules(),
            self.benign, rejected=self.store.rejected(), limit=limit,
        )  # fmt: skip

    def test(self, text: str) -> list[Finding]:
        """What the rules in force find in ``text``, every category with evidence."""
        return self.rules().detect(text, min_score=0.0)
