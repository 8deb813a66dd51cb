"""Lexicon, rule and context files: the shipped data loads; bad data is named precisely."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from detectors import CORE_CATEGORIES, ConfigError, Detector, load_config
from detectors.config import default_config_dir

CONFIG = default_config_dir()

GOOD_LEXICON = """\
category: vinegar
explanation: 食醋含{claims}，违反{article}
defaults: {article: 《食品安全法》第三十四条, severity: 立案}
terms:
  - {term: 冰乙酸, weight: 0.5}
  - {term: 勾兑醋, weight: 0.6}
exceptions: [冰乙酸含量检测]
"""

GOOD_RULES = """\
rules:
  - id: vi.test
    category: vinegar
    pattern: '冰乙酸\\d+'
    anchors: [冰乙酸]
    weight: 0.7
    article: 《食品安全法》第三十四条
    severity: 立案
    explanation: 宣传“{match}”，违反{article}
"""


def make_config(tmp_path: Path, lexicon: str = GOOD_LEXICON, rules: str = GOOD_RULES) -> Path:
    (tmp_path / "lexicons").mkdir()
    (tmp_path / "rules").mkdir()
    (tmp_path / "lexicons" / "vinegar.yaml").write_text(lexicon, encoding="utf-8")
    (tmp_path / "rules" / "vinegar.yaml").write_text(rules, encoding="utf-8")
    return tmp_path


def test_shipped_config_loads_and_covers_online_categories() -> None:
    lexicons, rules, context = load_config(CONFIG)
    categories = yaml.safe_load((CONFIG / "categories.yaml").read_text(encoding="utf-8"))
    online = {c["id"] for c in categories["categories"] if c["online"]}
    assert {lex.category for lex in lexicons} == online
    sizes = {lex.category: len(lex.terms) for lex in lexicons}
    assert all(sizes[c] >= 35 for c in CORE_CATEGORIES), sizes
    assert {r.category for r in rules} >= set(CORE_CATEGORIES)
    assert context.cues and 0 < context.factor < 1


def test_shipped_entries_have_article_and_severity() -> None:
    lexicons, rules, _ = load_config(CONFIG)
    entries = [t for lex in lexicons for t in lex.terms] + list(rules)
    for entry in entries:
        assert entry.article.startswith("《"), entry
        assert entry.severity in ("提醒告诫", "立案", "移送公安"), entry


@pytest.mark.parametrize("name", ["lexicon.schema.json", "rules.schema.json"])
def test_schemas_are_valid(name: str) -> None:
    Draft202012Validator.check_schema(json.loads((CONFIG / "schemas" / name).read_text()))


def test_minimal_config_works(tmp_path: Path) -> None:
    detector = Detector.from_config(make_config(tmp_path))
    assert [f.category for f in detector.detect("冰乙酸12瓶")] == ["vinegar"]
    assert detector.detect("冰乙酸含量检测") == []


@pytest.mark.parametrize(
    ("lexicon", "field", "value"),
    [
        (GOOD_LEXICON.replace("weight: 0.6", "weight: 1.5"), "terms[1].weight", "1.5"),
        (GOOD_LEXICON.replace("severity: 立案", "severity: 罚款"), "defaults.severity", "罚款"),
        (
            GOOD_LEXICON.replace(
                "defaults: {article: 《食品安全法》第三十四条, severity: 立案}\n", ""
            ),
            "terms[0].article",
            "None",
        ),
        (
            GOOD_LEXICON.replace("category: vinegar", "category: edible_oil"),
            "category",
            "edible_oil",
        ),
        (GOOD_LEXICON.replace("勾兑醋", "冰 乙酸"), "terms[1].term", "冰 乙酸"),
        (GOOD_LEXICON.replace("{claims}", "{claim}"), "explanation", "{claim}"),
        (GOOD_LEXICON.replace("term: 冰乙酸", 'term: "\\u200b"'), "terms[0].term", r"\u200b"),
        (GOOD_LEXICON + "colour: red\n", "(top level)", "colour"),
    ],
)
def test_lexicon_errors_name_file_field_and_value(
    tmp_path: Path, lexicon: str, field: str, value: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(make_config(tmp_path, lexicon=lexicon))
    message = str(info.value)
    assert str(tmp_path / "lexicons" / "vinegar.yaml") in message
    assert f": {field}:" in message
    assert value in message


@pytest.mark.parametrize(
    ("rules", "field", "value"),
    [
        (GOOD_RULES.replace("冰乙酸\\d+", "冰乙酸(\\d+"), "rules[0].pattern", "冰乙酸("),
        (GOOD_RULES.replace("category: vinegar", "category: tea"), "rules[0].category", "tea"),
        (GOOD_RULES.replace("weight: 0.7", "weight: -1"), "rules[0].weight", "-1"),
        (GOOD_RULES.replace("{match}", "{price}"), "rules[0].explanation", "{price}"),
        (GOOD_RULES.replace("    article: 《食品安全法》第三十四条\n", ""), "rules[0]", "article"),
        (GOOD_RULES.replace("    anchors: [冰乙酸]\n", ""), "rules[0]", "anchors"),
        (GOOD_RULES.replace("anchors: [冰乙酸]", "anchors: []"), "rules[0].anchors", "[]"),
        # an anchor the pattern does not always contain would silently switch the rule off
        (GOOD_RULES.replace("anchors: [冰乙酸]", "anchors: [勾兑]"), "rules[0].anchors", "勾兑"),
        (
            GOOD_RULES.replace("冰乙酸\\d+", "(?:冰乙酸|醋精)\\d+"),
            "rules[0].anchors",
            "冰乙酸",
        ),
    ],
)
def test_rule_errors_name_file_field_and_value(
    tmp_path: Path, rules: str, field: str, value: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(make_config(tmp_path, rules=rules))
    message = str(info.value)
    assert str(tmp_path / "rules" / "vinegar.yaml") in message
    assert f": {field}:" in message
    assert value in message


def test_duplicate_rule_id_across_files(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    (config / "rules" / "zz_more.yaml").write_text(GOOD_RULES, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"zz_more\.yaml: rules\[0\]\.id: duplicate id"):
        load_config(config)


def test_bad_yaml_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"vinegar\.yaml: \(yaml\): not valid YAML"):
        load_config(make_config(tmp_path, lexicon="terms: [unclosed\n"))


def test_context_errors_are_named(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    (config / "lexicons" / "_context.yaml").write_text(
        "factor: 0.3\ncues:\n  - {cue: 警惕, scope: paragraph}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"_context\.yaml: cues\[0\]\.scope: .*paragraph"):
        load_config(config)


@pytest.mark.parametrize(
    ("pattern", "anchors", "ok"),
    [
        ("冰乙酸\\d+", ["冰乙酸"], True),
        ("冰乙酸\\d+", ["乙酸"], True),  # a shorter literal inside the required one
        ("(?:冰乙酸|冰醋酸)勾兑", ["冰乙酸", "冰醋酸"], True),  # parsed as 冰[乙醋]酸
        ("(?:冰乙酸|冰醋酸)勾兑", ["冰乙酸"], False),
        ("(?:冰乙酸|冰醋酸)勾兑", ["勾兑"], True),
        ("山?羊绒", ["山羊绒"], False),  # the optional 山 may be missing
        ("\\d+天瘦", ["天瘦"], True),
        ("醋|冰乙酸", ["醋"], False),
        ("醋.{0,3}(?:冰乙酸)?", ["冰乙酸"], False),
    ],
)
def test_anchor_coverage(pattern: str, anchors: list[str], ok: bool) -> None:
    from detectors.anchors import anchor_problem

    assert (anchor_problem(pattern, tuple(anchors)) is None) is ok


def test_derived_anchors_cover_their_pattern() -> None:
    from detectors.anchors import anchor_problem, derive_anchors

    _, rules, _ = load_config(CONFIG)
    for rule in rules:
        assert anchor_problem(rule.pattern, tuple(derive_anchors(rule.pattern))) is None, rule.id


def test_every_shipped_rule_is_anchored() -> None:
    _, rules, _ = load_config(CONFIG)
    assert rules and all(rule.anchors for rule in rules)


def test_variants_file_loads_and_errors_are_named(tmp_path: Path) -> None:
    from detectors.config import load_variants

    shipped = load_variants(CONFIG)
    assert shipped.chars["肥"] == ("月巴",) and 0 < shipped.initials_factor < 1
    config = make_config(tmp_path)
    assert load_variants(config).chars == {}  # no file: defaults
    path = config / "lexicons" / "_variants.yaml"
    path.write_text("chars:\n  肥: [肥]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"_variants\.yaml: chars\.肥\[0\]: same as"):
        load_variants(config)
    path.write_text("chars:\n  减肥: [剪肥]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"_variants\.yaml: chars"):
        load_variants(config)
    path.write_text("pinyin: {initials_factor: 2}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"pinyin\.initials_factor"):
        load_variants(config)
    # the variants file is not read as a lexicon
    assert [lex.category for lex in load_config(config)[0]] == ["vinegar"]


def test_document_scope_and_threshold_load(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    (config / "lexicons" / "_context.yaml").write_text(
        "factor: 0.3\ndocument_cues: 3\ncues:\n  - {cue: 查处, scope: document}\n",
        encoding="utf-8",
    )
    _, _, context = load_config(config)
    assert context.document_cues == 3 and context.cues[0].scope == "document"


@pytest.mark.parametrize(
    ("pattern", "front"),
    [
        (r"(?<![无不])(?:印有|印)[^。]{0,8}?(?:段子|黄色)", "[印](?<="),
        (r"(?:(?:彻底|根治)|能治)[^。]{0,4}?糖尿病|\d+天瘦", r"[彻根能\d](?<="),
        (r"(?:x)?y", "[xy](?<="),
        (r"(?:^|(?<=[。]))(?:说|讲)(?P<price>\d+)", "[说讲](?<="),
        (r"只(?:需|要)\d+针", None),  # the engine skips ahead on its own literal prefix
        (r".{0,3}瘦", None),  # any character may start a match
        (r"(?:瘦)?", None),  # may match empty
        (r"(?:(a)|b)c\1", None),  # a back-reference would point at the wrong group
    ],
)
def test_fast_start_keeps_matches(pattern: str, front: str | None) -> None:
    import re

    from detectors.anchors import fast_matches, fast_start

    fast = fast_start(pattern)
    assert fast.startswith(front) if front else fast == pattern
    regex = re.compile(fast)
    texts = [
        "印有黄色段子的本子",
        "不印黄色段子印有黄色",
        "能治好糖尿病",
        "根治了糖尿病，彻底根治糖尿病",
        "3天瘦",
        "xy y",
        "只需3针",
        "说12。讲3，说4",
        "acac bca",
    ]
    for text in texts:
        plain = [(m.span(), m.groupdict()) for m in re.finditer(pattern, text)]
        got = [((s, e), m.groupdict()) for s, e, m in fast_matches(regex, text)]
        assert [
            (span, {k: v for k, v in d.items() if not k.startswith("_")}) for span, d in got
        ] == plain, text
        for lo, hi in ((1, len(text)), (0, max(0, len(text) - 2))):
            window = [m.span() for m in re.compile(pattern).finditer(text, lo, hi)]
            assert [(s, e) for s, e, _m in fast_matches(regex, text, lo, hi)] == window, text


@pytest.mark.parametrize(
    ("pattern", "needs"),
    [
        (r"(?:山羊绒|羊绒)(?:含量)?\d+%", [{"羊绒"}, {"%"}]),  # a longer member adds nothing
        (r"(?:彻底|根治)[^。]{0,4}糖尿病", [{"彻底", "根治"}, {"糖尿病"}]),
        (r"(?:ab|cd)(?:ef|gh)", [{"abef", "abgh", "cdef", "cdgh"}]),
        (r"(?:送\d+平|赠(?:花园|露台))", [{"送", "赠花园", "赠露台"}]),  # one set per branch
        (r"(?<!不)减肥(?=茶)", [{"减肥"}]),  # lookarounds are not required
        (r"(?:瘦)?\d+斤", [{"斤"}]),
        (r"(?:瘦)?\d+", []),
        (r"(?i)abc", []),  # a flag changes what a literal matches
    ],
)
def test_required_literals(pattern: str, needs: list[set[str]]) -> None:
    from detectors.anchors import required_literals

    assert [set(s) for s in required_literals(pattern)] == needs


def test_rule_gated_on_required_literals_still_fires(tmp_path: Path) -> None:
    # The regex needs 天瘦 and 斤 besides its anchor 瘦, so both gate it: a text holding
    # them (after normalisation, in either numeral form, short or windowed) must fire.
    rules = GOOD_RULES.replace("冰乙酸\\d+", "\\d+天瘦\\d+斤").replace("[冰乙酸]", "[瘦]")
    assert "天瘦" in rules and "[瘦]" in rules
    detector = Detector.from_config(make_config(tmp_path, rules=rules), min_score=0.0)
    compiled = detector.compile().matcher_
    assert compiled.needs and compiled.needs[0] & 1  # the rule got a further gate
    long_pad = "本店商品均为实拍，支持七天无理由退换货。" * 20
    for text in ("三天瘦十斤", "喝了7天瘦 5 斤！", long_pad + "十天瘦八斤" + long_pad):
        found = detector.detect(text)
        assert [f.category for f in found] == ["vinegar"], text
        start, end = found[0].spans[0]
        assert "瘦" in text[start:end] and text[end - 1] == "斤", text
    for text in ("三天瘦了", "瘦十斤", long_pad + "三天瘦"):  # a required literal is missing
        assert detector.detect(text) == [], text
