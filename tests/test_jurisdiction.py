from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tiequan.party import JurisdictionConfigError, load_jurisdictions, resolve
from tiequan.party.jurisdiction_config import FILE_NAME
from tiequan.sandbox.creditcode import make_uscc
from tiequan.sandbox.parties import COUNTIES, ELSEWHERE, LEAGUE, make_licence

REPO_FILE = Path(__file__).resolve().parents[1] / "config" / FILE_NAME
LEAGUE_BUREAU = "乌兰塔拉盟市场监督管理局"


def _code(division: str, seed: int = 7) -> str:
    return make_uscc(random.Random(seed), division)


@pytest.mark.parametrize(("division", "county", "short"), COUNTIES)
def test_each_county_by_registered_address(division: str, county: str, short: str) -> None:
    j = resolve(f"{LEAGUE}{county}团结路18号", None)
    assert j.bureau_name == f"{county}市场监督管理局"
    assert j.in_league and not j.transfer and j.method == "address"
    assert j.division_code == division
    assert f"位于{county}" in j.basis and j.basis.endswith(f"属{county}市场监督管理局管辖")


@pytest.mark.parametrize(("division", "county", "short"), COUNTIES)
def test_short_forms_and_scraped_noise(division: str, county: str, short: str) -> None:
    # 内蒙古 without 自治区, the league without 盟, the county without its suffix.
    j = resolve(f"内蒙古乌兰塔拉{short}新华大街5号", None)
    assert j.bureau_name == f"{county}市场监督管理局"
    assert f"“{short}”指{county}" in j.basis
    spaced = " ".join(f"內蒙古自治區烏蘭塔拉盟{county}")  # traditional, spaced out
    assert resolve(spaced + "　幸福路１２号", None).division_code == division


def test_traditional_and_full_width_county() -> None:
    j = resolve("內蒙古自治區 烏蘭塔拉盟 東烏蘭旗 團結路１號", None)
    assert j.bureau_key == "dongwulan"


@pytest.mark.parametrize(("division", "county", "short"), COUNTIES)
def test_credit_code_fallback(division: str, county: str, short: str) -> None:
    for address in (None, "", "详见营业执照", "###"):
        j = resolve(address, _code(division))
        assert j.bureau_name == f"{county}市场监督管理局", address
        assert j.method == "credit_code" and j.in_league
        assert f"统一社会信用代码登记机关区划码{division}（{county}）" in j.basis


def test_invalid_credit_code_is_not_used() -> None:
    code = _code("159921")
    broken = code[:17] + ("0" if code[17] != "0" else "1")
    j = resolve("详见营业执照", broken)
    assert j.bureau_key is None and j.method == "none"
    assert j.basis.startswith("未能确定管辖") and "校验码应为" in j.basis


def test_league_without_county_and_league_level_code() -> None:
    j = resolve("内蒙古自治区乌兰塔拉盟经济技术开发区创业大厦3楼", None)
    assert j.bureau_name == LEAGUE_BUREAU and j.in_league
    assert "未写明旗县市区" in j.basis
    by_code = resolve(None, _code("159901"))
    assert by_code.bureau_key == "league" and by_code.in_league
    assert "未对应旗县市区" in by_code.basis


def test_county_level_city_without_the_league() -> None:
    j = resolve("内蒙古塔拉浩特市新华路9号", None)
    assert j.bureau_key == "talahaote" and j.in_league
    other = resolve("内蒙古自治区包头市昆都仑区钢铁大街1号", None)
    assert other.transfer and other.outside_region == "内蒙古自治区包头市昆都仑区"


def test_town_routes_to_its_county() -> None:
    j = resolve("乌兰塔拉盟满都拉镇巴音路3号", None)
    assert j.bureau_key == "dongwulan"
    assert "“满都拉镇”在东乌兰旗境内" in j.basis


def test_street_named_after_a_county_is_not_that_county() -> None:
    assert resolve("乌兰塔拉盟西乌兰路5号", None).bureau_key == "league"
    assert resolve(f"{LEAGUE}额尔敦区东乌兰路5号", None).bureau_key == "eerdun"


@pytest.mark.parametrize(("division", "place", "short"), ELSEWHERE)
def test_outside_league_by_address(division: str, place: str, short: str) -> None:
    j = resolve(f"{place}民族东路88号", None)
    assert not j.in_league and j.transfer and j.method == "address"
    assert j.bureau_name == LEAGUE_BUREAU
    assert j.mark == "需函告/移交属地"
    assert j.outside_region == place
    assert j.label == f"盟外（{place}）· 需函告/移交属地"
    assert "线索由乌兰塔拉盟市场监督管理局留存" in j.basis


@pytest.mark.parametrize(("division", "place", "short"), ELSEWHERE)
def test_outside_league_by_credit_code(division: str, place: str, short: str) -> None:
    j = resolve("看不懂的地址", _code(division))
    assert j.transfer and not j.in_league and j.method == "credit_code"
    assert j.outside_region is not None and place.startswith(j.outside_region)
    assert j.division_code == division


def test_address_governs_over_the_credit_code() -> None:
    j = resolve(f"{LEAGUE}西乌兰旗胜利路1号", _code("440111"))
    assert j.bureau_key == "xiwulan" and j.method == "address"
    assert "区划码440111指向盟外（广东省），与住所不一致，以住所为准" in j.basis
    moved = resolve("浙江省义乌市稠城街道1号", _code("159921"))
    assert moved.transfer and "指向东乌兰旗市场监督管理局" in moved.basis


def test_sandbox_licences_route_to_their_county() -> None:
    rng = random.Random(4)
    for _ in range(200):
        lic = make_licence(rng)
        j = resolve(lic.address, lic.credit_code)
        assert j.method == "address"
        if lic.address.startswith(LEAGUE):
            assert j.bureau_name == f"{lic.county}市场监督管理局", lic.address
        else:
            assert j.transfer and j.outside_region == lic.county, lic.address


@pytest.mark.parametrize("address", [None, "", "   ", "abc123", "详见营业执照", "\x00\ufffd"])
def test_garbage_resolves_to_none(address: str | None) -> None:
    j = resolve(address, "not a code")
    assert j.bureau_key is None and j.bureau_name is None and not j.in_league
    assert j.method == "none" and j.label == "未能确定管辖"
    assert j.to_doc()["bureau_key"] is None


@given(st.one_of(st.none(), st.text(max_size=40)), st.one_of(st.none(), st.text(max_size=20)))
def test_resolve_never_raises(address: str | None, code: str | None) -> None:
    j = resolve(address, code)
    assert j.method in ("address", "credit_code", "none")
    assert (j.bureau_key is None) == (j.method == "none")


# --- configuration ---------------------------------------------------------------


def _raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(REPO_FILE.read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def _write(tmp_path: Path, data: Any) -> Path:
    (tmp_path / FILE_NAME).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return tmp_path / FILE_NAME


def test_shipped_config_covers_the_sandbox_league() -> None:
    conf = load_jurisdictions()
    assert conf is load_jurisdictions()  # cached
    codes = {c for b in conf.bureaus for c in b.division_codes}
    assert codes == {c for c, _, _ in COUNTIES}
    assert conf.keep_with is conf.league and conf.province == "内蒙古自治区"


def test_config_dir_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _raw()
    data["bureaus"][1]["name"] = "东乌兰旗市场监管局（测试）"
    _write(tmp_path, data)
    assert resolve(f"{LEAGUE}东乌兰旗", None, config_dir=tmp_path).bureau_name == (
        "东乌兰旗市场监管局（测试）"
    )
    monkeypatch.setenv("TIEQUAN_CONFIG_DIR", str(tmp_path))
    assert load_jurisdictions().bureau("dongwulan").name == "东乌兰旗市场监管局（测试）"


def _error(tmp_path: Path, data: Any) -> JurisdictionConfigError:
    path = _write(tmp_path, data)
    with pytest.raises(JurisdictionConfigError) as err:
        load_jurisdictions(tmp_path)
    assert str(path) in str(err.value)
    return err.value


def test_schema_error_names_file_field_and_value(tmp_path: Path) -> None:
    data = _raw()
    data["bureaus"][1]["division_codes"] = [159921]  # unquoted: YAML reads an int
    err = _error(tmp_path, data)
    assert err.field == "bureaus[1].division_codes[0]" and err.value == 159921
    assert "bureaus[1].division_codes[0]" in str(err) and "159921" in str(err)


def test_missing_field_is_named(tmp_path: Path) -> None:
    data = _raw()
    del data["bureaus"][2]["county"]
    err = _error(tmp_path, data)
    assert err.field == "bureaus[2].county"


def test_non_ascii_key_rejected(tmp_path: Path) -> None:
    data = _raw()
    data["bureaus"][0]["key"] = "塔拉浩特"
    err = _error(tmp_path, data)
    assert err.field == "bureaus[0].key" and err.value == "塔拉浩特"


@pytest.mark.parametrize(
    ("change", "field", "value", "words"),
    [
        (
            lambda d: d["bureaus"][3].update(key="dongwulan"),
            "bureaus[3].key",
            "dongwulan",
            "duplicate",
        ),
        (
            lambda d: d["bureaus"][4].update(division_codes=["159921"]),
            "bureaus[4].division_codes[0]",
            "159921",
            "duplicate division code (also bureaus[1].division_codes[0])",
        ),
        (
            lambda d: d["bureaus"][5].update(division_codes=["150925"]),
            "bureaus[5].division_codes[0]",
            "150925",
            "prefix 1599",
        ),
        (
            lambda d: d["bureaus"][2]["aliases"].append("乌兰"),
            "bureaus[2].aliases[1]",
            "乌兰",
            "ambiguous",
        ),
        (
            lambda d: d["bureaus"][0]["towns"].append("满都拉镇"),
            "bureaus[1].towns[1]",  # reported where it is seen again, in file order
            "满都拉镇",
            "overlaps “满都拉镇” (bureaus[0].towns[3], bureau talahaote)",
        ),
        (
            lambda d: d["outside"].update(keep_with="nowhere"),
            "outside.keep_with",
            "nowhere",
            "known",
        ),
        (lambda d: d.update(province="蒙古省"), "province", "蒙古省", "province"),
    ],
)
def test_semantic_errors_name_field_and_value(
    tmp_path: Path, change: Any, field: str, value: str, words: str
) -> None:
    data = _raw()
    change(data)
    err = _error(tmp_path, data)
    assert (err.field, err.value) == (field, value)
    assert words in str(err)


def test_broken_yaml_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text("bureaus: [\n  - key: x\n", encoding="utf-8")
    with pytest.raises(JurisdictionConfigError, match=r"jurisdictions\.yaml: \(yaml\)"):
        load_jurisdictions(tmp_path)
    with pytest.raises(JurisdictionConfigError, match="cannot read"):
        load_jurisdictions(tmp_path / "absent")
