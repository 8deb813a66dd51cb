from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from detectors.base import CATEGORY_IDS, CORE_CATEGORIES
from tiequan.leads.format import category_label, render_detail
from tiequan.leads.model import Case
from tiequan.referral import CategoriesError, load_categories, price_fraud_rule
from tiequan.referral.categories import default_path


def _raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(default_path().read_text(encoding="utf-8"))
    return data


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "categories.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_shipped_file_loads_in_seed_order() -> None:
    cats = load_categories()
    assert [c.id for c in cats] == list(CATEGORY_IDS)
    assert [c.seq for c in cats] == list(range(1, 19))
    assert {c.id for c in cats if c.core} == set(CORE_CATEGORIES)
    assert {c.id for c in cats if not c.online} == {"elevator_overdue", "gas_pipe_overdue"}


def test_route_gives_chinese_unit_names() -> None:
    cats = load_categories()
    lead, co = cats.route("counterfeit_apparel")
    assert lead == "知识产权发展保护股"
    assert co == ["质量监督管理股", "市场监管所", "市场监管综合行政执法大队"]
    assert cats.route("illegal_fees") == ("价格、反垄断和网络交易（广告）监督管理股", [])
    assert cats.get("fuel_cheating").co_unit_keys[:2] == ["metrology", "network_ad"]
    assert cats.unit_name("ip") == "知识产权发展保护股"
    assert cats.unit_name("知识产权发展保护股") == "知识产权发展保护股"
    assert cats.unit_name("nowhere") is None
    with pytest.raises(KeyError):
        cats.get("nope")


def test_config_dir_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _raw()
    data["units"]["ip"] = "知识产权股（测试）"
    _write(tmp_path, data)
    monkeypatch.setenv("TIEQUAN_CONFIG_DIR", str(tmp_path))
    assert load_categories().route("counterfeit_apparel")[0] == "知识产权股（测试）"


def test_undefined_unit_key_names_file_field_value(tmp_path: Path) -> None:
    data = _raw()
    data["categories"][4]["co_units"].append("lab")
    path = _write(tmp_path, data)
    with pytest.raises(CategoriesError) as err:
        load_categories(path)
    msg = str(err.value)
    assert str(path) in msg and "categories[4].co_units[3]" in msg and "'lab'" in msg


def test_order_must_follow_seed(tmp_path: Path) -> None:
    data = _raw()
    cats = data["categories"]
    cats[0], cats[1] = cats[1], cats[0]
    with pytest.raises(CategoriesError, match=r"categories\[0\]\.id.*'slimming_aphrodisiac'"):
        load_categories(_write(tmp_path, data))


def test_unknown_id_rejected(tmp_path: Path) -> None:
    data = _raw()
    data["categories"][17]["id"] = "gas_leaks"
    with pytest.raises(CategoriesError, match=r"categories\[17\]\.id.*'gas_leaks'"):
        load_categories(_write(tmp_path, data))


def test_schema_errors_name_field_and_value(tmp_path: Path) -> None:
    data = _raw()
    data["categories"][2]["online"] = "yes"
    with pytest.raises(CategoriesError, match=r"categories\[2\]\.online.*'yes'"):
        load_categories(_write(tmp_path, data))
    data = _raw()
    del data["categories"][-1]
    with pytest.raises(CategoriesError, match=r"field categories: .*too short"):
        load_categories(_write(tmp_path, data))


def test_core_flag_must_match_code(tmp_path: Path) -> None:
    data = _raw()
    data["categories"][0]["core"] = True
    with pytest.raises(CategoriesError, match=r"categories\[0\]\.core"):
        load_categories(_write(tmp_path, data))


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(CategoriesError, match="cannot read"):
        load_categories(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("units: [\n", encoding="utf-8")
    with pytest.raises(CategoriesError, match="invalid YAML"):
        load_categories(bad)


# --- finding types routed apart: price fraud ------------------------------------------


def test_price_fraud_is_routed_by_its_entry() -> None:
    cats = load_categories()
    route = cats.finding_route("price_fraud")
    assert (route.type, route.name, route.category) == ("price_fraud", "价格欺诈", "illegal_fees")
    assert route.lead_unit == cats.route(route.category)[0] == cats.units["network_ad"]
    with pytest.raises(KeyError, match="'claim'"):
        cats.finding_route("claim")
    rule = price_fraud_rule()
    assert rule.category == route.category
    assert rule.article == "《价格法》第十四条；《明码标价和禁止价格欺诈规定》第十九条"
    assert rule.severity == "立案"


def test_routing_follows_the_config_dir(tmp_path: Path) -> None:
    data = _raw()
    data["finding_types"][0].update(name="虚构原价（测试）", category="real_estate")
    _write(tmp_path, data)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "_price_fraud.yaml").write_text(
        "article: 《测试条例》第二条\nseverity: 提醒告诫\n", encoding="utf-8"
    )
    rule = price_fraud_rule(tmp_path)
    assert (rule.category, rule.article, rule.severity) == (
        "real_estate",
        "《测试条例》第二条",
        "提醒告诫",
    )


def test_officers_see_the_routed_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(default_path().parent / "rules", tmp_path / "rules")
    data = _raw()
    data["finding_types"][0]["name"] = "虚构原价"
    _write(tmp_path, data)
    monkeypatch.setenv("TIEQUAN_CONFIG_DIR", str(tmp_path))
    lead = Case.from_doc({"_id": "XS1", "category": "illegal_fees", "finding_type": "price_fraud"})
    assert "虚构原价（price_fraud，按价格监管职责归口 illegal_fees）" in render_detail(lead)
    assert category_label(lead) == "虚构原价"
    # a lead stored before finding types were kept is told by the article
    legacy = {"_id": "XS2", "category": "illegal_fees", "article": price_fraud_rule().article}
    assert category_label(Case.from_doc(legacy)) == "虚构原价"
    other = Case.from_doc(dict(legacy, article="《广告法》第十七条"))
    assert category_label(other) == "illegal_fees"


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        ({"type": "claim"}, "finding_types[0].type", "'claim'"),
        ({"category": "price"}, "finding_types[0].category", "'price'"),
        ({"lead_unit": "quality"}, "finding_types[0].lead_unit", "'quality'"),
        ({"lead_unit": "Net"}, "finding_types[0].lead_unit", "'Net'"),
    ],
)
def test_bad_finding_route_names_file_field_value(
    tmp_path: Path, change: dict[str, str], field: str, value: str
) -> None:
    data = _raw()
    data["finding_types"][0].update(change)
    path = _write(tmp_path, data)
    with pytest.raises(CategoriesError) as err:
        load_categories(path)
    assert str(err.value).startswith(f"{path}: field {field}: bad value {value}")


def test_price_fraud_needs_its_route(tmp_path: Path) -> None:
    data = _raw()
    data["finding_types"] = []
    with pytest.raises(CategoriesError, match=r"field finding_types: .*no entry for 'price_fraud'"):
        load_categories(_write(tmp_path, data))
    data["finding_types"] = [_raw()["finding_types"][0]] * 2
    with pytest.raises(CategoriesError, match=r"finding_types\[1\]\.type.*routed twice"):
        load_categories(_write(tmp_path, data))
    del data["finding_types"]
    with pytest.raises(CategoriesError, match="'finding_types' is a required property"):
        load_categories(_write(tmp_path, data))
