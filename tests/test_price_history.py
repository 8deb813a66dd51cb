"""The price history behind 价格欺诈 findings: storage index, detect stage, config, display."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo.database import Database
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from crawlers.items import Listing
from pipelines.config import PipelineConfig
from pipelines.detect import DetectPipeline
from tiequan.leads.format import render_detail, render_table
from tiequan.leads.model import Case
from tiequan.referral import load_categories, price_fraud_rule
from tiequan.sandbox.pricewatch import priced
from tiequan.sandbox.truth import build_truth, score_leads
from tiequan.sandbox.world import get_world
from tiequan.storage.prices import ListingPrices, PriceHistory, build_price_history
from tiequan.storage.store import Store, utcnow

PLATFORM = "demo_shop"


def _record(item_id: str, price: float, original: float | None, run: str) -> dict[str, Any]:
    return {
        "platform": PLATFORM,
        "kind": "product",
        "url": f"https://shop.example/item/{item_id}",
        "item_id": item_id,
        "title": "保温杯",
        "price": price,
        "original_price": original,
        "captured_at": "2024-06-01T02:00:00+00:00",
        "run_id": run,
    }


def _nights(db: Database[dict[str, Any]], nights: list[list[dict[str, Any]]]) -> None:
    store = Store(db)
    store.ensure_indexes()
    for batch in nights:
        store.record_listings(batch)


def test_captures_keep_the_prices_of_each_sighting(db: Database[dict[str, Any]]) -> None:
    _nights(db, [[_record("1", 59, None, "R1")], [_record("1", 49, 199, "R2")]])
    seen = sorted((c["run_id"], c["price"], c["original_price"]) for c in db.captures.find())
    assert seen == [("R1", 59, None), ("R2", 49, 199)]
    assert "capture_prices" in db.captures.index_information()


def test_history_proves_only_what_it_observed(db: Database[dict[str, Any]]) -> None:
    _nights(
        db,
        [
            [_record("fake", 59, None, "R1"), _record("real", 89, None, "R1"),
             _record("always", 30, 120, "R1")],
            [_record("fake", 59, None, "R2"), _record("real", 59, 89, "R2"),
             _record("always", 30, 120, "R2")],
        ],
    )  # fmt: skip
    history = build_price_history(
        db.captures, PLATFORM, until=utcnow() + timedelta(seconds=1), days=30, max_listings=100
    )
    assert history.captures == 6 and len(history.listings) == 3
    # Seen twice at 59 before the 199 comparison appeared: both sightings count.
    assert history.observed_prices(f"{PLATFORM}:fake", 199.0) == [59.0, 59.0]
    assert history.observed_prices(f"{PLATFORM}:real", 89.0) == [59.0, 89.0]
    # Every sighting already showed 120: the comparison predates the history.
    assert history.observed_prices(f"{PLATFORM}:always", 120.0) is None
    # A new comparison price on the same listing is checkable again.
    assert history.observed_prices(f"{PLATFORM}:always", 150.0) == [30.0, 30.0]
    assert history.observed_prices(f"{PLATFORM}:unknown", 99.0) is None


def test_history_window_platform_and_cap(db: Database[dict[str, Any]]) -> None:
    now = utcnow()

    def capture(item_id: str, days_ago: float, platform: str = PLATFORM) -> dict[str, Any]:
        return {
            "listing_id": f"{platform}:{item_id}", "platform": platform, "item_id": item_id,
            "price": 10.0, "original_price": None, "recorded_at": now - timedelta(days=days_ago),
        }  # fmt: skip

    db.captures.insert_many(
        [capture("a", 1), capture("a", 2), capture("b", 40), capture("c", 3, "other_shop"),
         capture("d", -1), capture("e", 1), capture("e", 5)]
    )  # fmt: skip
    history = build_price_history(db.captures, PLATFORM, until=now, days=30, max_listings=100)
    assert set(history.listings) == {f"{PLATFORM}:a", f"{PLATFORM}:e"}  # b too old, d not yet
    capped = build_price_history(db.captures, PLATFORM, until=now, days=30, max_listings=1)
    assert len(capped.listings) == 1 and capped.skipped_captures == 2
    (kept,) = capped.listings.values()
    assert kept.observed() == [10.0, 10.0]  # a kept listing keeps its whole history


def _history(**listings: ListingPrices) -> PriceHistory:
    now = utcnow()
    return PriceHistory(
        platform=PLATFORM,
        since=now - timedelta(days=30),
        until=now,
        listings={f"{PLATFORM}:{k}": v for k, v in listings.items()},
    )


def _item(item_id: str, price: float, original: float | None) -> Listing:
    return Listing(
        PLATFORM, "product", f"http://x/{item_id}", item_id, "家用不锈钢保温杯",
        text="双层真空，六小时保温。", price=price, original_price=original,
    )  # fmt: skip


@pytest.fixture
def pipeline(live_crawl: dict[str, str]) -> Iterator[DetectPipeline]:
    crawler = get_crawler(settings_dict=live_crawl)
    detect = DetectPipeline.from_crawler(crawler)
    detect.open_spider()
    yield detect
    detect.close_spider()


def test_detect_stage_flags_a_never_charged_original_price(pipeline: DetectPipeline) -> None:
    history = _history(
        fake=ListingPrices(((59.0, 2),), (None,)),
        real=ListingPrices(((59.0, 1), (89.0, 1)), (None, 89.0)),
        always=ListingPrices(((49.0, 3),), (199.0,)),
    )
    fake = pipeline.detect_item(_item("fake", 49, 199), history)
    (record,) = [f for f in fake.findings if f.get("type") == "price_fraud"]
    assert record["category"] == "illegal_fees"
    assert record["article"] == "《价格法》第十四条；《明码标价和禁止价格欺诈规定》第十九条"
    assert record["severity"] == "立案"
    assert record["score"] >= 0.7 and "2次" in record["explanation"]
    assert record["matched"] == ["划线原价 199 元", "现价 49 元"]
    unit = load_categories().get(record["category"]).lead_unit
    assert unit == "价格、反垄断和网络交易（广告）监督管理股"
    for item in (
        _item("real", 59, 89),  # 89 was charged before
        _item("always", 49, 199),  # the comparison predates the history
        _item("new", 49, 199),  # never seen before
        _item("fake", 49, None),  # nothing crossed out
    ):
        assert pipeline.detect_item(item, history).findings == [], item.item_id
    assert pipeline.detect_item(_item("fake", 49, 199), None).findings == []  # history off
    stats = pipeline.stats
    assert stats.get_value("detector/hits/price_fraud") == 1
    assert stats.get_value("price_history/unproven") == 2


def test_price_history_settings() -> None:
    assert PipelineConfig.from_settings(Settings()).price_history is False
    stored = Settings({"ITEM_PIPELINES": {"pipelines.store.StorePipeline": 500}})
    config = PipelineConfig.from_settings(stored)
    assert (config.price_history, config.price_history_days) == (True, 30.0)
    off = Settings({"ITEM_PIPELINES": {"pipelines.store.StorePipeline": None}})
    assert PipelineConfig.from_settings(off).price_history is False
    explicit = Settings({"TIEQUAN_PRICE_HISTORY": "true", "TIEQUAN_PRICE_HISTORY_DAYS": "7"})
    config = PipelineConfig.from_settings(explicit)
    assert (config.price_history, config.price_history_days) == (True, 7.0)
    for name, value in [
        ("TIEQUAN_PRICE_HISTORY", "sometimes"),
        ("TIEQUAN_PRICE_HISTORY_DAYS", 0),
        ("TIEQUAN_PRICE_HISTORY_DAYS", 400),
        ("TIEQUAN_PRICE_HISTORY_MAX_LISTINGS", 0),
    ]:
        with pytest.raises(ValueError, match=name):
            PipelineConfig.from_settings(Settings({name: value}))


def test_history_options_ignored_when_off_warn(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings({"TIEQUAN_PRICE_HISTORY": False, "TIEQUAN_PRICE_HISTORY_DAYS": 7})
    with caplog.at_level(logging.WARNING, logger="pipelines.config"):
        assert PipelineConfig.from_settings(settings).price_history is False
    assert "TIEQUAN_PRICE_HISTORY_DAYS is ignored" in caplog.text


def test_leads_show_price_fraud_as_such() -> None:
    lead = {
        "_id": "XS0123456789", "status": "待研判", "category": "illegal_fees",
        "category_name": "教育、医疗服务和殡葬领域乱收费", "score": 0.9,
        "article": price_fraud_rule().article, "severity": "立案",
        "explanation": "标示划线原价199元，为现价49元的4.1倍", "matched": ["划线原价 199 元"],
        "lead_unit": "价格、反垄断和网络交易（广告）监督管理股", "title": "保温杯",
    }  # fmt: skip
    detail = render_detail(Case.from_doc(lead))
    assert "价格欺诈（price_fraud" in detail and "乱收费" not in detail
    assert "标示划线原价199元" in detail and "“划线原价 199 元”" in detail
    assert "价格欺诈" in render_table([Case.from_doc(lead)])
    other = render_detail(Case.from_doc(dict(lead, article="《广告法》第十七条")))
    assert "乱收费" in other and "价格欺诈" not in other


def test_sandbox_price_watch_changes_by_night() -> None:
    world = get_world(20220101, 0.05)
    fake = [e for e in world.price_watch if e.price_fraud]
    real = [e for e in world.price_watch if not e.price_fraud]
    assert fake and real
    for e in world.price_watch:
        assert world.find("mall", e.item_id) is e and e not in world.entries["mall"]
        night0, night1 = priced(e, 0), priced(e, 1)
        assert night0.original_price is None and night1.original_price is not None
        # Unchecked, every one of these crossed-out prices would look made up.
        assert night1.price is not None and night1.original_price >= 1.5 * night1.price
        assert priced(e, 5) == night1
        charged = night1.original_price == night0.price
        assert charged is not e.price_fraud
    truth = {t.item_id: t for t in build_truth(20220101, 0.05)}
    assert all(truth[e.item_id].price_fraud for e in fake)
    assert not any(truth[e.item_id].categories for e in world.price_watch)
    category = price_fraud_rule().category
    leads = [("sandbox_mall", e.item_id, category) for e in world.price_watch]
    report = score_leads(leads, truth.values())
    # A price-fraud lead on a price-fraud item is right; on a genuine one it is a false alarm.
    assert report[category]["fp"] == len(real)
