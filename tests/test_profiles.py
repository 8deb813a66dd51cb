"""Site profile loading and validation: shipped profiles load, every error is precise."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from crawlers.extract import JsonFieldSpec, SelectorSpec
from crawlers.profiles import (
    ProfileError,
    SiteProfile,
    default_sites_dir,
    load_profile,
    load_profiles,
)

STATIC: dict[str, Any] = {
    "name": "demo_mall",
    "platform": "演示商城",
    "kind": "product",
    "render": "static",
    "base_url": "http://127.0.0.1:8000",
    "start_paths": ["/mall/list"],
    "listing": {
        "item_links": "a.item::attr(href)",
        "next_page": "a.next::attr(href)",
        "max_pages": 3,
    },
    "item": {
        "fields": {
            "id": {"css": ".sku::text", "regex": r"SKU-(\d+)"},
            "title": "h1::text",
            "price": {"css": ".price::text", "type": "float"},
        },
        "licence_link": "a.licence::attr(href)",
    },
    "licence": {"fields": {"credit_code": ".code::text", "name": ".name::text"}},
    "politeness": {"download_delay": 0.25, "concurrent_requests": 2, "obey_robots": True},
}
API: dict[str, Any] = {
    "name": "demo_api",
    "platform": "演示接口",
    "kind": "property",
    "render": "api",
    "base_url": "http://127.0.0.1:8000",
    "start_paths": ["/"],
    "api": {
        "list_path": "/api/list?page={page}",
        "items_key": "data.items",
        "fields": {"id": "id", "title": "name", "shop_id": "agency.id"},
        "detail_path": "/api/item/{id}",
        "licence_path": "/api/licence/{shop_id}",
        "licence_fields": {"credit_code": "code"},
    },
}


def write(directory: Path, data: dict[str, Any], stem: str | None = None) -> Path:
    path = directory / f"{stem or data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def variant(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(base)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return data


_DELETE = object()


def test_shipped_profiles_load() -> None:
    profiles = load_profiles(default_sites_dir())
    assert profiles, f"no profiles in {default_sites_dir()}"
    for name, profile in profiles.items():
        assert isinstance(profile, SiteProfile)
        assert profile.name == name == profile.source.stem
        assert profile.render in ("static", "browser", "api")


def test_valid_profile_is_typed(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, STATIC))
    assert profile.start_paths == ("/mall/list",)
    assert profile.listing is not None and profile.listing.max_pages == 3
    assert profile.item is not None
    assert profile.item.fields["id"] == SelectorSpec(css=".sku::text", regex=r"SKU-(\d+)")
    assert profile.item.fields["title"] == SelectorSpec(css="h1::text")
    assert profile.politeness.scrapy_settings() == {
        "DOWNLOAD_DELAY": 0.25,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        "ROBOTSTXT_OBEY": True,
    }
    moved = profile.with_base_url("http://127.0.0.1:5555/")
    assert moved.base_url == "http://127.0.0.1:5555"
    assert moved.url("/x") == "http://127.0.0.1:5555/x"
    assert profile.base_url == "http://127.0.0.1:8000"
    with pytest.raises(ProfileError, match="base_url"):
        profile.with_base_url("ftp://nowhere/path")


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nplatform: [unclosed\nkind: product\n", encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert str(path) in message
    assert "line 3" in message or "line 2" in message


@pytest.mark.parametrize(
    ("changes", "field", "value", "expected"),
    [
        ({"base_url": _DELETE}, "base_url", "(missing)", "required"),
        ({"kind": "video"}, "kind", "'video'", "one of"),
        ({"listing__max_pages": "ten"}, "listing.max_pages", "'ten'", "integer"),
        ({"start_paths": ["no-slash"]}, "start_paths.0", "'no-slash'", "pattern"),
        ({"listing__colour": "red"}, "listing.colour", "'red'", "unknown field"),
        (
            {"item__fields__price": {"css": ".p", "type": "money"}},
            "item.fields.price.type",
            "'money'",
            "one of",
        ),
        (
            {"item__fields__id": {"css": ".x", "regex": "(unclosed"}},
            "item.fields.id.regex",
            "'(unclosed'",
            "unterminated",
        ),
        ({"item__fields__title": _DELETE}, "item.fields.title", "(missing)", "needs"),
        ({"item__fields__title": "h1::txet"}, "item.fields.title", "'h1::txet'", "CSS"),
        (
            {"item__fields__price": {"xpath": "//span[@class='p'", "type": "float"}},
            "item.fields.price.xpath",
            "\"//span[@class='p'\"",
            "XPath",
        ),
        ({"listing__item_links": "a.item::attr(href"}, "listing.item_links", "'a.item", "CSS"),
        ({"item__licence_link": "a[href=="}, "item.licence_link", "'a[href=='", "CSS"),
        ({"licence": _DELETE}, "licence", "(missing)", "licence_link"),
        ({"listing": {"next_page": "a.next"}}, "listing", "'a.next'", "item_links"),
    ],
)
def test_schema_and_semantic_errors_name_file_field_value(
    tmp_path: Path, changes: dict[str, Any], field: str, value: str, expected: str
) -> None:
    path = write(tmp_path, variant(STATIC, **changes))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert str(path) in message
    assert info.value.field_path == field
    assert f"field {field}:" in message
    assert value in message
    assert expected in message


def test_profile_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gbk_mall.yaml"
    path.write_bytes("name: gbk_mall\nplatform: 商城\n".encode("gb18030"))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(path) in str(info.value) and "not UTF-8" in str(info.value)


def test_name_must_equal_stem(tmp_path: Path) -> None:
    path = write(tmp_path, STATIC, stem="other_name")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.field_path == "name"
    assert "'demo_mall'" in str(info.value) and "other_name" in str(info.value)


def test_api_render_requires_api_block(tmp_path: Path) -> None:
    path = write(tmp_path, variant(API, api=_DELETE))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.field_path == "api"
    assert "render: api" in str(info.value)


def test_api_licence_placeholder_must_be_a_field(tmp_path: Path) -> None:
    path = write(tmp_path, variant(API, api__licence_path="/api/licence/{agency}"))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.field_path == "api.licence_path"
    assert "{agency}" in str(info.value)


def test_api_profile_loads(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, API))
    assert profile.api is not None
    assert profile.api.fields["shop_id"] == JsonFieldSpec(path="agency.id")
    assert profile.api.paging.by == "page" and profile.api.paging.first == 1
    assert profile.listing is None


def test_ignored_values_warn(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = variant(STATIC, browser={"wait_for": ".feed", "scroll_times": 2})
    data["licence"]["fields"]["phone"] = ".phone::text"
    with caplog.at_level(logging.WARNING, logger="crawlers.profiles"):
        load_profile(write(tmp_path, data))
    text = caplog.text
    assert "browser" in text and "render is static" in text
    assert "licence.fields.phone" in text


def test_duplicate_names_across_directories_raise(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    write(first, STATIC)
    dup = write(second, STATIC)
    with pytest.raises(ProfileError) as info:
        load_profiles([first, second])
    assert str(dup) in str(info.value)
    assert info.value.field_path == "name"
    assert "already defined" in str(info.value)


def test_load_profiles_sorted(tmp_path: Path) -> None:
    write(tmp_path, API)
    write(tmp_path, STATIC)
    assert list(load_profiles(tmp_path)) == ["demo_api", "demo_mall"]


def test_default_sites_dir_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TIEQUAN_SITES_DIR", str(tmp_path))
    assert default_sites_dir() == tmp_path
    monkeypatch.delenv("TIEQUAN_SITES_DIR")
    assert default_sites_dir().parts[-2:] == ("config", "sites")
