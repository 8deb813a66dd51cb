from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawlers.items import Licence
from tiequan.party import check_digit, party_from_listing, validate
from tiequan.party.creditcode import ALPHABET, WEIGHTS, org_check_digit
from tiequan.sandbox.creditcode import make_uscc
from tiequan.sandbox.parties import COUNTIES, ELSEWHERE

DIVISIONS = [c for c, _, _ in COUNTIES + ELSEWHERE]


def _code(division: str = "159921", org_type: str = "1", body: str = "MA0R3K7L") -> str:
    first17 = "9" + org_type + division + body + org_check_digit(body)
    return first17 + check_digit(first17)


def _sample_codes() -> list[str]:
    rng = random.Random(20220301)
    return [make_uscc(rng, d, t) for d in DIVISIONS[:4] for t in "12"]


def test_worked_example_by_hand() -> None:
    first17 = "91150921MA0000000"
    # 9·1 + 1·3 + 1·9 + 5·27 + 0·19 + 9·26 + 2·16 + 1·17 + M(21)·20 + A(10)·29 = 1149
    assert sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True)) == 1149
    # 1149 = 37·31 + 2, and 31 - 2 = 29 is the alphabet's "X" (I, O, S, V, Z are skipped).
    assert check_digit(first17) == "X"
    assert validate(first17 + "X").valid
    assert WEIGHTS == tuple(pow(3, i, 31) for i in range(17))


@given(st.integers(0, 2**32), st.sampled_from(DIVISIONS), st.sampled_from("12"))
def test_sandbox_generator_codes_are_valid(seed: int, division: str, org_type: str) -> None:
    code = make_uscc(random.Random(seed), division, org_type)
    check = validate(code)
    assert check.valid and check.problem == ""
    assert check.division_code == division
    assert check.department == "工商（市场监管）"
    assert check.entity_type == ("企业" if org_type == "1" else "个体工商户")
    assert check.org_code_valid and not check.suspicious
    assert check_digit(code[:17]) == code[17]


@pytest.mark.parametrize("code", _sample_codes())
def test_every_single_character_substitution_is_detected(code: str) -> None:
    for pos in range(18):
        for char in ALPHABET:
            if char != code[pos]:
                corrupted = code[:pos] + char + code[pos + 1 :]
                check = validate(corrupted)
                assert not check.valid, (pos, char)
                assert check.problem.startswith("校验码应为")


@pytest.mark.parametrize("code", _sample_codes())
def test_adjacent_transpositions_are_detected(code: str) -> None:
    for pos in range(17):
        a, b = code[pos], code[pos + 1]
        if a != b:
            assert not validate(code[:pos] + b + a + code[pos + 2 :]).valid, pos


def test_lower_case_full_width_and_spaces_are_normalised() -> None:
    code = _code()
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in code)
    for raw in (code.lower(), full_width, f"  {code[:6]} {code[6:]}\u3000", f"\t{code}\n"):
        check = validate(raw)
        assert check.valid and check.code == code, raw


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (None, "统一社会信用代码为空"),
        ("   ", "统一社会信用代码为空"),
        ("91150921MA0000000", "长度应为18位（实际17位）"),
        ("91150921MA0000000X1", "长度应为18位（实际19位）"),
        ("91150921MI0000000X", "含非法字符“I”（可能应为“1”）"),
        ("91150921M#0000000X", "含非法字符“#”"),
        ("91150921MA00000001", "校验码应为X（实际为1）"),
    ],
)
def test_problems_are_named_in_chinese(raw: str | None, problem: str) -> None:
    check = validate(raw)
    assert not check.valid
    assert check.problem == problem
    assert "无效" in check.describe() or not check.code


def test_wrong_organisation_check_is_suspicious_not_invalid() -> None:
    body = "MA0R3K7L"
    wrong = "0" if org_check_digit(body) != "0" else "1"
    first17 = "91159921" + body + wrong
    check = validate(first17 + check_digit(first17))
    assert check.valid and check.suspicious
    assert check.org_code_valid is False
    assert check.notes == (f"组织机构代码校验位应为{org_check_digit(body)}（实际为{wrong}）",)
    assert "组织机构代码校验位" in check.describe()


def test_decoding_other_departments_and_unknown_codes() -> None:
    def with_prefix(prefix: str) -> str:
        first17 = prefix + "150921" + "MA0R3K7L" + org_check_digit("MA0R3K7L")
        return first17 + check_digit(first17)

    social = validate(with_prefix("51"))
    assert (social.department, social.entity_type) == ("民政", "社会团体")
    coop = validate(with_prefix("93"))
    assert coop.entity_type == "农民专业合作社" and not coop.suspicious
    unknown = validate(with_prefix("B1"))
    assert unknown.valid and unknown.department is None
    assert unknown.notes == ("登记管理部门代码“B”不在GB 32100所列范围",)
    odd = validate(with_prefix("97"))
    assert odd.valid and odd.notes == ("机构类别代码“7”不属于工商（市场监管）登记的机构类别",)
    first17 = "9115A921" + "MA0R3K7L" + org_check_digit("MA0R3K7L")
    letters = validate(first17 + check_digit(first17))
    assert letters.valid and letters.division_code is None
    assert "登记管理机关行政区划码“15A921”应为6位数字" in letters.notes


@pytest.mark.parametrize("bad", ["", "9115092", "91150921MA000000O"])
def test_check_digit_refuses_malformed_input(bad: str) -> None:
    with pytest.raises(ValueError):
        check_digit(bad)


@given(st.one_of(st.none(), st.text(max_size=30)))
def test_validate_never_raises(raw: str | None) -> None:
    check = validate(raw)
    assert check.valid == (len(check.code) == 18 and check.problem == "")


def _listing(**overrides: object) -> dict[str, object]:
    listing: dict[str, object] = {
        "platform": "sandbox_mall",
        "platform_name": "草原优品商城",
        "item_id": "P0042",
        "shop_name": "恒源旗舰店",
        "shop_url": "http://127.0.0.1:41234/mall/shop/S007",
        "licence": {
            "credit_code": _code().lower(),
            "name": "东乌兰恒源商贸有限公司",
            "address": "内蒙古自治区乌兰塔拉盟东乌兰旗团结路18号",
            "url": "http://127.0.0.1:41234/mall/shop/S007/licence",
        },
    }
    listing.update(overrides)
    return listing


def test_identified_party_is_keyed_by_credit_code() -> None:
    party = party_from_listing(_listing())
    code = _code()
    assert party.identified and party.key == f"uscc:{code}"
    assert party.credit_code == code
    assert party.label == f"东乌兰恒源商贸有限公司（{code}）"
    assert party.jurisdiction.bureau_name == "东乌兰旗市场监督管理局"
    other_platform = party_from_listing(_listing(platform="sandbox_jsmall", item_id="J9"))
    assert other_platform.key == party.key


def test_invalid_code_falls_back_to_the_shop_and_is_marked() -> None:
    bad = _code()[:17] + ("0" if _code()[17] != "0" else "1")
    licence = {"credit_code": bad, "name": "某某公司", "address": "乱码地址"}
    party = party_from_listing(_listing(licence=licence))
    assert not party.identified
    assert party.key == "shop:sandbox_mall:/mall/shop/S007"
    assert party.credit_code_check is not None and not party.credit_code_check.valid
    assert party.label.startswith("未识别主体：店铺“恒源旗舰店”")
    assert "草原优品商城" in party.label and "信用代码校验未通过" in party.label
    assert party.jurisdiction.bureau_key is None


def test_shop_key_ignores_host_and_port_between_nights() -> None:
    night1 = party_from_listing(_listing(licence=None))
    night2 = party_from_listing(
        _listing(licence=None, shop_url="http://127.0.0.1:50001/mall/shop/S007/")
    )
    assert night1.key == night2.key == "shop:sandbox_mall:/mall/shop/S007"
    assert "未公示统一社会信用代码" in night1.label
    by_name = party_from_listing(_listing(licence=None, shop_url=None))
    assert by_name.key == "shop:sandbox_mall:恒源旗舰店"


def test_listing_without_shop_or_licence_is_kept_as_its_own_party() -> None:
    party = party_from_listing({"platform": "sandbox_social", "item_id": "T77", "licence": None})
    assert party.key == "listing:sandbox_social:T77"
    assert not party.identified and party.credit_code_check is None
    assert party.label == "未识别主体：商品T77（平台：sandbox_social）"
    assert party.jurisdiction.method == "none"


def test_licence_dataclass_and_plain_document() -> None:
    code = _code("440111")
    licence = Licence(
        credit_code=code, name="广州某商贸有限公司", address="广东省广州市白云区某路1号"
    )
    party = party_from_listing(_listing(licence=licence))
    assert party.identified and party.jurisdiction.transfer
    doc = party.to_doc()
    assert json.loads(json.dumps(doc, ensure_ascii=False)) == doc
    assert doc["key"] == f"uscc:{code}"
    assert doc["credit_code_check"]["valid"] is True
    assert doc["jurisdiction"]["mark"] == "需函告/移交属地"
    assert doc["jurisdiction"]["outside_region"] == "广东省广州市白云区"
    assert doc["label"] == f"广州某商贸有限公司（{code}）"


@pytest.mark.parametrize("shown", ["未公示", " 暂无 ", "-", "", None])
def test_placeholder_code_counts_as_not_shown(shown: str | None) -> None:
    licence = {"credit_code": shown, "name": "某某商行", "address": "内蒙古乌兰塔拉盟西乌兰旗"}
    party = party_from_listing(_listing(licence=licence))
    assert party.credit_code is None and party.credit_code_check is None
    assert "未公示统一社会信用代码" in party.label and "校验未通过" not in party.label
    assert party.jurisdiction.bureau_key == "xiwulan"
