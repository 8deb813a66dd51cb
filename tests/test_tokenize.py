"""The classifier's jieba tokenizer: user words from the loaded config, picklable, shared."""

from __future__ import annotations

import copy
import pickle
import shutil
from pathlib import Path

from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer

from detectors.combine import ListingDetector
from detectors.config import load_config
from detectors.model_store import build
from detectors.normalize import normalize
from detectors.tokenize import JiebaWords, lexicon_terms

REPO_CONFIG = Path(__file__).resolve().parents[1] / "config"
# A made-up product name no dictionary knows: jieba alone splits it.
NEW_TERM = "闪电燃脂膏"


def test_lexicon_terms_stay_whole_words() -> None:
    lexicons, _, _ = load_config(REPO_CONFIG)
    tokenize = JiebaWords(lexicon_terms(lexicons))
    words = tokenize(normalize("这款茶不运动也能瘦，还能重振雄风").text)
    assert "不运动也能瘦" in words and "重振雄风" in words
    assert "，" not in words
    assert "不运动也能瘦" not in JiebaWords()(normalize("这款茶不运动也能瘦").text)


def test_user_words_change_the_split() -> None:
    assert NEW_TERM not in JiebaWords()(f"新品{NEW_TERM}到货")
    assert NEW_TERM in JiebaWords([NEW_TERM])(f"新品{NEW_TERM}到货")


def test_tokenizer_pickles_copies_and_clones_by_its_words() -> None:
    tokenize = JiebaWords([NEW_TERM, "重振雄风"])
    tokenize("预热")  # builds the segmenter, which must not travel with a pickle
    restored = pickle.loads(pickle.dumps(tokenize))
    assert restored == tokenize and restored is not tokenize
    assert restored(f"{NEW_TERM}重振雄风") == [NEW_TERM, "重振雄风"]
    assert copy.deepcopy(tokenize) == tokenize != JiebaWords()
    vectorizer = TfidfVectorizer(tokenizer=tokenize, token_pattern=None, lowercase=False)
    assert clone(vectorizer).get_params()["tokenizer"] == tokenize


def test_custom_config_dir_terms_reach_the_tokenizer(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO_CONFIG, config, ignore=shutil.ignore_patterns("corpus", "sites"))
    lexicon = config / "lexicons" / "slimming_aphrodisiac.yaml"
    text = lexicon.read_text(encoding="utf-8").replace(
        "terms:\n", f"terms:\n  - {{term: {NEW_TERM}, weight: 0.6}}\n", 1
    )
    assert NEW_TERM in text
    lexicon.write_text(text, encoding="utf-8")
    detector = build(ListingDetector, config)
    assert NEW_TERM in detector.model.user_words
    tokenize = detector.model._pipeline().named_steps["features"].transformer_list[0][1].tokenizer
    assert NEW_TERM in tokenize(f"新品{NEW_TERM}到货")
    # The default config does not have the term: it came from config_dir.
    assert NEW_TERM not in build(ListingDetector, REPO_CONFIG).model.user_words
