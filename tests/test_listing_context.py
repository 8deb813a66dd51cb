"""The listing's context as detector input: site kind, category path, shop, profile hints."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from crawlers.items import Listing
from crawlers.profiles import ProfileError, default_sites_dir, load_profile, load_profiles
from detectors import Detector
from detectors.base import CATEGORY_IDS, NO_CONTEXT, ListingContext, join_title
from detectors.combine import ListingDetector
from pipelines.detect import listing_context
from tiequan.cli import detect_cmd

PROBE = "距地铁站仅5分钟，名校学区，投资回报率每年8%，稳赚不赔"
OPEN = "步行5分钟就到地铁站，周边商超齐全"  # a shop, a hotel or a flat: the page decides


@pytest.fixture(scope="module")
def rules() -> Detector:
    return Detector.from_config().compile()


@pytest.fixture(scope="module")
def combined() -> ListingDetector:
    return ListingDetector.from_config()


def test_the_probe_gets_its_travel_time_and_school_findings(rules: Detector) -> None:
    (finding,) = [f for f in rules.detect(PROBE) if f.category == "real_estate"]
    matched = "".join(finding.matched)
    assert "5分钟" in matched
    assert "名校" in matched
    assert "回报率" in matched


@pytest.mark.parametrize(
    "context",
    [
        ListingContext(site_kind="property"),
        ListingContext(category="房产/新房/住宅"),
        ListingContext(site_kind="mall", hints=("real_estate",)),
    ],
    ids=["property-site", "category-path", "profile-hint"],
)
def test_context_decides_what_the_sentence_leaves_open(
    rules: Detector, combined: ListingDetector, context: ListingContext
) -> None:
    assert not rules.detect(OPEN)
    assert not combined.detect(OPEN)
    assert "real_estate" in {f.category for f in rules.detect(OPEN, context=context)}
    assert "real_estate" in {f.category for f in combined.detect(OPEN, context=context)}


def test_a_restaurant_page_does_not_make_a_property_ad(rules: Detector) -> None:
    context = ListingContext(site_kind="mall", category="美食/火锅", shop="老街火锅店")
    assert not rules.detect(OPEN, context=context)


def test_context_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="site_kind"):
        ListingContext(site_kind="bazaar")
    with pytest.raises(ValueError, match="hints"):
        ListingContext(hints=("no_such_category",))
    assert not NO_CONTEXT and ListingContext(shop="某店")
    assert ListingContext(site_kind="property").categories == {"real_estate"}


def test_title_joins_in_front_of_the_text() -> None:
    assert join_title("", "正文") == ("正文", 0)
    assert join_title("标题", "正文") == ("标题\n正文", 3)


def test_pipeline_context_comes_from_the_item_and_the_profile() -> None:
    item = Listing(
        platform="p", kind="property", url="http://x/1", item_id="1", title="t",
        shop_name="某置业", extra={"category": "新房/住宅"},
    )  # fmt: skip
    context = listing_context(item, ("real_estate",))
    assert context == ListingContext("property", "新房/住宅", "某置业", ("real_estate",))
    post = Listing(platform="p", kind="post", url="http://x/2", item_id="2", title="t")
    assert listing_context(post).site_kind == "social"


def test_profiles_declare_category_hints(tmp_path: Path) -> None:
    shipped = load_profiles(default_sites_dir())
    assert shipped["sandbox_property"].category_hints == ("real_estate",)
    assert shipped["sandbox_mall"].category_hints == ()
    source = Path("config/sites/sandbox_property.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "sandbox_property.yaml"
    bad.write_text(source.replace("[real_estate]", "[estate]"), encoding="utf-8")
    with pytest.raises(ProfileError) as caught:
        load_profile(bad)
    assert "category_hints" in str(caught.value) and "estate" in str(caught.value)


def test_profile_schema_lists_exactly_the_category_ids() -> None:
    schema = json.loads(Path("config/schemas/site_profile.schema.json").read_text("utf-8"))
    assert schema["properties"]["category_hints"]["items"]["enum"] == list(CATEGORY_IDS)


def run_detect(tmp_path: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    parser = argparse.ArgumentParser(prog="tiequan")
    detect_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["detect", "--input", str(inp), "--output", str(out)])
    assert args.func(args) == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


@pytest.mark.usefixtures("live_model_env")
def test_detect_reads_title_and_context(tmp_path: Path) -> None:
    rows = run_detect(
        tmp_path,
        [
            {"id": 1, "text": OPEN},
            {"id": 2, "text": OPEN, "context": {"site_kind": "property"}},
            {"id": 3, "text": OPEN, "context": "房产/新房"},
            {"id": 4, "title": "三天瘦十斤", "text": "酵素果冻，饭后来一条"},
        ],
    )
    assert rows[0]["findings"] == []
    assert [f["category"] for f in rows[1]["findings"]] == ["real_estate"]
    assert [f["category"] for f in rows[2]["findings"]] == ["real_estate"]
    (slim,) = [f for f in rows[3]["findings"] if f["category"] == "slimming_aphrodisiac"]
    assert slim["title_spans"] == [[0, 5]]
    assert all(s >= 0 for span in slim["spans"] for s in span)


@pytest.mark.usefixtures("live_model_env")
@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"site_kind": "bazaar"}, "context.site_kind"),
        ({"hints": ["estate"]}, "context.hints"),
        ({"colour": "red"}, "context.colour"),
        (7, "context"),
    ],
)
def test_detect_names_a_bad_context_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], context: Any, message: str
) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    line = json.dumps({"id": 1, "text": "文本", "context": context}, ensure_ascii=False)
    inp.write_text(line + "\n", encoding="utf-8")
    parser = argparse.ArgumentParser(prog="tiequan")
    detect_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["detect", "--input", str(inp), "--output", str(out)])
    assert args.func(args) == 1
    assert message in capsys.readouterr().err
