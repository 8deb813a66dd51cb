"""The training set of `tiequan train`: corpora plus the officers' decisions, de-duplicated.

Four sources: the synthetic corpus's training split, the reference set's fitting splits
(train and dev; its test split never), confirmed leads (positives for their category),
and leads dismissed as not an offence (negatives: a dismissal whose reason is one of
config/models.yaml's ``negative_dismiss_reasons``), crawled or imported as tips. The
decisions are read from the ``labels`` collection (tiequan.leads.labels): per lead the
latest verdict counts (a withdrawn dismissal counts for nothing, a referral sent back
changes nothing), and per listing the positives of all its leads, or a negative when
none of them was confirmed.

De-duplication: a listing once (its latest decisions), and a text once, by the hash of
its normalised text with everything but letters and digits removed (so spacing,
punctuation, full-width forms and disguises the normaliser undoes make no difference).
The first source in priority order keeps a text: decisions (the newest judgement), then
the reference set, then the corpus. A text that is also in a test split is left out, so
the metrics stay honest.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from detectors.base import CATEGORY_IDS, join_title
from detectors.dataset import Example, read_examples
from detectors.model_store import corpus_dir, reference_dir, training_files
from detectors.normalize import normalize
from tiequan.leads.labels import Label
from tiequan.models.registry import ManifestEntry, manifest_hash

_NOT_TEXT = re.compile(r"[\W_]+")
DECISION = "decision"  # a lead found by a sweep
TIP = "tip"  # an imported tip or a higher bureau's referral
TEST_SPLITS = ("reference:test", "corpus:test")


def text_key(text: str) -> str:
    """The de-duplication key of ``text``: its normalised letters and digits, hashed."""
    return hashlib.sha256(_NOT_TEXT.sub("", normalize(text).text).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SourceFiles:
    """Where the corpora are: synthetic fitting files, real-world files, test files."""

    synthetic: tuple[tuple[str, Path], ...]
    real: tuple[tuple[str, Path], ...]
    tests: tuple[tuple[str, Path], ...]

    @classmethod
    def for_config(cls, config_dir: Path) -> SourceFiles:
        corpus, reference = corpus_dir(config_dir), reference_dir(config_dir)
        real = [("reference:train", reference / "train.jsonl"),
                ("reference:dev", reference / "dev.jsonl")]  # fmt: skip
        return cls(
            synthetic=(("corpus:train", corpus / "train.jsonl"),),
            real=tuple((n, p) for n, p in real if p.is_file())
            or (("corpus:valid", corpus / "valid.jsonl"),),
            tests=(
                ("reference:test", reference / "test.jsonl"),
                ("corpus:test", corpus / "test.jsonl"),
            ),
        )

    def test_sets(self) -> dict[str, list[Example]]:
        return {name: read_examples(path) for name, path in self.tests if path.is_file()}


@dataclass(frozen=True)
class TrainingSet:
    synthetic: list[Example]  # the classifier only
    real: list[Example]  # the classifier and, out of fold, the stacker
    manifest: list[ManifestEntry]
    seed: int
    counts: dict[str, int]  # examples kept per source, and what was dropped why

    @property
    def data_hash(self) -> str:
        return manifest_hash(self.manifest, self.seed)


def decision_examples(
    labels: Iterable[Label], negative_reason: Callable[[str | None], bool] = bool
) -> list[tuple[str, Example]]:
    """(source, example) per decided listing, newest decision first; see module docstring.

    ``negative_reason``: whether a dismissal's reason says the text is not an offence
    (ModelsConfig.negative_dismissal); any other dismissal counts for nothing.
    """
    latest: dict[str, Label] = {}
    for label in labels:  # oldest first
        if label.action == "return":
            continue
        if label.positive is None or (
            label.positive is False and not negative_reason(label.reason)
        ):
            latest.pop(label.lead_id, None)
        else:
            latest[label.lead_id] = label
    positives: dict[str, set[str]] = {}
    negative: set[str] = set()
    texts: dict[str, tuple[str, str, Label]] = {}
    for label in sorted(latest.values(), key=lambda x: (x.at, x.id), reverse=True):
        for listing in label.listings:
            key = f"{listing.platform}:{listing.item_id}"
            body = "\n".join(t for t in (listing.description, listing.text) if t)
            texts.setdefault(key, (listing.title, body, label))
            if label.positive and label.category in CATEGORY_IDS:
                positives.setdefault(key, set()).add(label.category)
            elif not label.positive:
                negative.add(key)
    out: list[tuple[str, Example]] = []
    for key, (title, body, label) in texts.items():
        if key not in positives and key not in negative:
            continue
        cats = tuple(c for c in CATEGORY_IDS if c in positives.get(key, ()))
        source = DECISION if label.source in (None, "crawler") else TIP
        group = "violation" if cats else "dismissed"
        text = join_title(title, body)[0]
        out.append((source, Example(text, cats, group=group, id=key, source=key)))
    return out


def assemble(
    files: SourceFiles,
    labels: Iterable[Label] = (),
    *,
    seed: int = 0,
    negative_reason: Callable[[str | None], bool] = bool,
) -> TrainingSet:
    """The de-duplicated training set; the manifest lists it in fitting order."""
    held_out = {text_key(e.text) for path in (p for _, p in files.tests if p.is_file())
                for e in read_examples(path)}  # fmt: skip
    seen: set[str] = set()
    counts: Counter[str] = Counter()

    def keep(source: str, examples: Sequence[Example]) -> list[tuple[str, Example]]:
        kept = []
        for example in examples:
            key = text_key(example.text)
            if key in held_out:
                counts["dropped:in_test_split"] += 1
            elif key in seen:
                counts["dropped:duplicate"] += 1
            else:
                seen.add(key)
                counts[source] += 1
                kept.append((key, example))
        return kept

    decided = decision_examples(labels, negative_reason)
    real_rows = [(s, k, e) for s, ex in decided for k, e in keep(s, [ex])]
    for name, path in files.real:
        real_rows += [(name, k, e) for k, e in keep(name, read_examples(path))]
    synthetic_rows = []
    for name, path in files.synthetic:
        synthetic_rows += [(name, k, e) for k, e in keep(name, read_examples(path))]
    # Fitting order: the corpus, then the real wording in file order, decisions last.
    ordered_real = [r for r in real_rows if r[0] not in (DECISION, TIP)]
    ordered_real += sorted((r for r in real_rows if r[0] in (DECISION, TIP)), key=lambda r: r[2].id)
    manifest = [
        ManifestEntry(source, e.id, key, e.labels)
        for source, key, e in [*synthetic_rows, *ordered_real]
    ]
    return TrainingSet(
        synthetic=[e for _, _, e in synthetic_rows],
        real=[e for _, _, e in ordered_real],
        manifest=manifest,
        seed=seed,
        counts=dict(sorted(counts.items())),
    )


def corpus_set(config_dir: Path) -> TrainingSet:
    """The corpora exactly as the library's fallback (model_store.load_or_train) fits them,
    without decisions or de-duplication, so that its cached model can be registered."""
    synthetic, real = training_files(config_dir)

    def rows(paths: Sequence[Path]) -> list[tuple[str, Example]]:
        return [(f"{p.parent.name}:{p.stem}", e) for p in paths for e in read_examples(p)]

    fit_rows, real_rows = rows(synthetic), rows(real)
    manifest = [ManifestEntry(s, e.id, text_key(e.text), e.labels) for s, e in fit_rows + real_rows]
    return TrainingSet(
        synthetic=[e for _, e in fit_rows],
        real=[e for _, e in real_rows],
        manifest=manifest,
        seed=0,
        counts=dict(sorted(Counter(s for s, _ in fit_rows + real_rows).items())),
    )
