"""The validate stage: where crawled text enters, invalid characters are repaired and counted."""

from __future__ import annotations

import asyncio
import json

from scrapy.utils.test import get_crawler

from crawlers.items import KINDS, Licence, Listing
from pipelines.validate import ValidatePipeline

KIND = KINDS[0]


def test_lone_surrogates_and_controls_are_replaced_one_for_one() -> None:
    crawler = get_crawler()
    assert crawler.stats is not None
    stage = ValidatePipeline.from_crawler(crawler)
    # What a JSON API hands the spider: "\ud800" decodes to a lone surrogate.
    text = json.loads('"\\u4e09\\u5929\\ud800\\u7626\\u5341\\u65a4\\u0000"')
    item = Listing(
        platform="api",
        kind=KIND,
        url="http://127.0.0.1/item/1",
        item_id="1",
        title="标题\udfff",
        text=text,
        image_urls=["http://127.0.0.1/a\ud800.jpg"],
        licence=Licence(name="某某店\x07"),
    )
    out = asyncio.run(stage.process_item(item))
    assert out.text == "三天\ufffd瘦十斤\ufffd" and len(out.text) == len(text)
    assert out.title == "标题\ufffd"
    assert out.image_urls == ["http://127.0.0.1/a\ufffd.jpg"]
    assert out.licence is not None and out.licence.name == "某某店\ufffd"
    assert crawler.stats.get_value("pipeline/repaired_chars") == 5
    json.dumps(out.to_dict(), ensure_ascii=False).encode("utf-8")  # storable now


def test_clean_items_are_left_alone() -> None:
    crawler = get_crawler()
    assert crawler.stats is not None
    item = Listing(platform="p", kind=KIND, url="u", item_id="1", title="t", text="正常\n文本")
    out = asyncio.run(ValidatePipeline.from_crawler(crawler).process_item(item))
    assert out.text == "正常\n文本" and out.originals == []
    assert crawler.stats.get_value("pipeline/repaired_chars") is None
