from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from detectors.base import CATEGORY_IDS, CORE_CATEGORIES
from tiequan.referral import CategoriesError, load_categories
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
