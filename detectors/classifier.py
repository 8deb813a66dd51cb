"""The trained claim classifier: a multi-label scikit-learn Pipeline over the categories.

normalise (the rule engine's ``normalize``) → FeatureUnion(jieba-word TF-IDF with the
lexicon terms as user words, character 1–3-gram TF-IDF) → one-vs-rest LinearSVC, each calibrated
with a sigmoid fitted on cross-validated decisions (``ensemble=False``, so every category
stays one linear model plus one sigmoid and ``compile()`` can score it without sklearn).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, MultiLabelBinarizer
from sklearn.svm import LinearSVC

from detectors.base import CATEGORY_IDS
from detectors.model_linear import LinearScorer, TfidfPart
from detectors.tokenize import JiebaWords, normalize_texts


class ClaimClassifier(ClassifierMixin, BaseEstimator):
    """Multi-label claim classifier; ``labels`` are lists of category ids per text.

    ``user_words`` are added to jieba's dictionary (normally ``lexicon_terms`` of the
    loaded config, already normalised), so lexicon terms stay whole words.
    """

    def __init__(
        self,
        *,
        C: float = 1.0,  # bench/classifier_cv.py: core F1 0.788 at C=0.5, 0.794 at C=1
        char_ngram_range: tuple[int, int] = (1, 3),
        min_df: int = 2,
        calibration_cv: int = 3,
        categories: Sequence[str] = CATEGORY_IDS,
        random_state: int = 0,
        user_words: Sequence[str] = (),
        class_weight: str | None = None,
    ) -> None:
        self.C = C
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.calibration_cv = calibration_cv
        self.categories = categories
        self.random_state = random_state
        self.user_words = user_words
        self.class_weight = class_weight

    def _pipeline(self) -> Pipeline:
        words = TfidfVectorizer(
            tokenizer=JiebaWords(self.user_words),
            token_pattern=None,
            lowercase=False,
            sublinear_tf=True,
            min_df=self.min_df,
        )
        chars = TfidfVectorizer(
            analyzer="char",
            ngram_range=self.char_ngram_range,
            lowercase=False,
            sublinear_tf=True,
            min_df=self.min_df,
        )
        svm = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)
        calibrated = CalibratedClassifierCV(
            svm, method="sigmoid", cv=self.calibration_cv, ensemble=False
        )
        return Pipeline(
            [
                ("normalize", FunctionTransformer(normalize_texts)),
                ("features", FeatureUnion([("words", words), ("chars", chars)])),
                ("classify", OneVsRestClassifier(calibrated)),
            ]
        )

    def fit(self, texts: Sequence[str], labels: Sequence[Sequence[str]]) -> ClaimClassifier:
        unknown = {label for row in labels for label in row} - set(self.categories)
        if unknown:
            raise ValueError(f"labels: unknown category ids {sorted(unknown)}")
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} label lists")
        present = {label for row in labels for label in row}
        # A category without examples cannot be learned; it simply never fires.
        self.classes_ = np.array([c for c in self.categories if c in present])
        self.binarizer_ = MultiLabelBinarizer(classes=list(self.classes_))
        matrix = self.binarizer_.fit_transform(labels)
        self.pipeline_ = self._pipeline().fit(list(texts), matrix)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probability per text (rows) and category of ``classes_`` (columns)."""
        proba: np.ndarray = self.pipeline_.predict_proba(list(texts))
        return proba

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Label indicator matrix over ``classes_`` (probability ≥ 0.5)."""
        return (self.predict_proba(texts) >= 0.5).astype(int)

    def predict_labels(self, texts: Sequence[str]) -> list[list[str]]:
        return [list(self.classes_[row.astype(bool)]) for row in self.predict(texts)]

    def compile(self) -> LinearScorer:
        """The fitted model as plain arrays: same probabilities, no sklearn call per text."""
        union: FeatureUnion = self.pipeline_.named_steps["features"]
        parts = []
        for _, vectorizer in union.transformer_list:
            vocab: dict[str, Any] = vectorizer.vocabulary_
            parts.append(
                TfidfPart(
                    vocabulary={k: int(v) for k, v in vocab.items()},
                    idf=np.asarray(vectorizer.idf_, dtype=np.float64),
                    ngram_range=vectorizer.ngram_range if vectorizer.analyzer == "char" else None,
                    tokenizer=vectorizer.tokenizer,
                )
            )
        ovr: OneVsRestClassifier = self.pipeline_.named_steps["classify"]
        coefs, intercepts, slopes, offsets = [], [], [], []
        for estimator in ovr.estimators_:
            calibrated = estimator.calibrated_classifiers_[0]
            svm = calibrated.estimator
            coefs.append(np.asarray(svm.coef_[0], dtype=np.float64))
            intercepts.append(float(svm.intercept_[0]))
            slopes.append(float(calibrated.calibrators[0].a_))
            offsets.append(float(calibrated.calibrators[0].b_))
        return LinearScorer(
            classes=[str(c) for c in self.classes_],
            words=parts[0],
            chars=parts[1],
            coef=np.vstack(coefs).T.copy(),
            intercept=np.array(intercepts),
            slope=np.array(slopes),
            offset=np.array(offsets),
        )
