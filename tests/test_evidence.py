"""Evidence fixing: artefact store, WARC, evidence sets, manifest and `tiequan evidence`."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler
from warcio.archiveiterator import ArchiveIterator

from crawlers.items import Licence, Listing, RawCapture
from pipelines.config import EvidenceConfig
from pipelines.evidence import EvidencePipeline, write_evidence
from tiequan.cli.main import main
from tiequan.evidence.artefacts import ArtefactError, ArtefactStore
from tiequan.evidence.capture import Gathered, build_evidence_set, evidence_id, shanghai_time
from tiequan.evidence.manifest import verify
from tiequan.evidence.warc import WarcImage, build_warc
from tiequan.storage.listings import content_sha256
from tiequan.storage.store import EVIDENCE, LEADS

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PAGE = "<html><title>纤体咖啡</title><body>三天瘦十斤</body></html>".encode()
CODE = "91150204MA0N1XYZ1K"  # shape only; the party module decides validity


def raw_capture(**overrides: Any) -> RawCapture:
    values: dict[str, Any] = dict(
        request_url="http://127.0.0.1:9/mall/item/1",
        method="GET",
        request_headers=[("User-Agent", "tiequan"), ("Accept-Encoding", "gzip, deflate")],
        response_url="http://127.0.0.1:9/mall/item/1?from=redirect",
        status=200,
        response_headers=[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Encoding", "gzip"),
            ("Content-Length", "17"),
        ],
        body=PAGE,
        fetched_at="2024-06-01T02:15:00+00:00",
        redirect_urls=["http://127.0.0.1:9/mall/i/1"],
    )
    values.update(overrides)
    return RawCapture(**values)


def listing(item_id: str = "1", **kw: Any) -> Listing:
    item = Listing(
        "sandbox_mall", "product", f"http://127.0.0.1:9/mall/item/{item_id}", item_id, "纤体咖啡",
        shop_name="某某旗舰店", shop_url="http://127.0.0.1:9/mall/shop/7",
        licence=Licence(CODE, "某某公司", "内蒙古包头市昆都仑区", None),
        findings=[{"category": "slimming_aphrodisiac", "score": 0.9, "matched": ["瘦十斤"],
                   "image": {"url": "http://127.0.0.1:9/img/1.png", "text": "瘦十斤"}}],
        **kw,
    )  # fmt: skip
    return item


# --- the item's transient raw capture -------------------------------------------------------
def test_raw_is_never_stored_or_hashed() -> None:
    item = listing(raw=raw_capture())
    record = item.to_dict()
    assert "raw" not in record and record["evidence_id"] is None
    assert item.raw is not None  # to_dict leaves the item alone
    assert content_sha256(record) == content_sha256(listing().to_dict())
    assert "raw" not in repr(item)


# --- artefact store ----------------------------------------------------------------------------
def test_artefact_round_trip_and_write_once(tmp_path: Path) -> None:
    store = ArtefactStore(tmp_path)
    art = store.put(PNG, kind="screenshot", media_type="image/png", name="s.png")
    assert art.sha256 == hashlib.sha256(PNG).hexdigest() and art.size == len(PNG)
    path = store.path(art.sha256)
    assert path == tmp_path / "sha256" / art.sha256[:2] / art.sha256
    assert path.read_bytes() == PNG and store.read(art.sha256) == PNG
    with store.open(art.sha256) as fh:
        assert fh.read() == PNG
    assert oct(path.stat().st_mode & 0o777) == oct(0o444)
    inode = path.stat().st_ino
    again = store.put(PNG, kind="image", media_type="image/png", name="other.png")
    assert again.sha256 == art.sha256 and path.stat().st_ino == inode  # not rewritten
    assert [p.name for p in path.parent.iterdir()] == [art.sha256]  # no temp files left
    assert store.check(art.sha256) == "ok"
    assert art.to_doc()["kind"] == "screenshot"
    with pytest.raises(ValueError, match="unknown artefact kind"):
        store.put(PNG, kind="video", media_type="video/mp4", name="v")


def test_tampered_file_is_kept_and_reported(tmp_path: Path) -> None:
    store = ArtefactStore(tmp_path)
    art = store.put(PNG, kind="image", media_type="image/png", name="a.png")
    path = store.path(art.sha256)
    os.chmod(path, 0o644)
    path.write_bytes(PNG[:-1] + b"\x01")
    assert store.check(art.sha256) == "changed"
    with pytest.raises(ArtefactError, match="does not match"):
        store.put(PNG, kind="image", media_type="image/png", name="a.png")
    assert path.read_bytes().endswith(b"\x01")  # the altered file is not overwritten
    path.unlink()
    assert store.check(art.sha256) == "missing"
    with pytest.raises(ValueError, match="SHA-256"):
        store.path("../../etc/passwd")


# --- WARC -------------------------------------------------------------------------------------
def test_warc_reads_back_with_warcio() -> None:
    raw = raw_capture(rendered=True, dom=b"<html>after scripts</html>")
    image = WarcImage("http://127.0.0.1:9/img/1.png", PNG, "image/png")
    data = build_warc(raw, run_id="R1", evidence_id="EV1", images=[image])
    records = list_records(data)
    assert [r["type"] for r in records] == [
        "warcinfo",
        "response",
        "request",
        "resource",
        "resource",
    ]
    info, response, request, dom, img = records
    assert b"tiequan" in info["payload"] and b"R1" in info["payload"]
    assert response["uri"] == raw.response_url and response["payload"] == PAGE
    headers = dict(response["http"])
    assert "Content-Encoding" not in headers and headers["Content-Length"] == str(len(PAGE))
    assert response["warc"]["Tiequan-Requested-URI"] == "http://127.0.0.1:9/mall/i/1"
    assert request["uri"] == raw.request_url
    assert request["statusline"] == "GET /mall/item/1 HTTP/1.1"
    assert response["statusline"] == "HTTP/1.1 200 OK"
    assert dict(request["http"])["Host"] == "127.0.0.1:9"
    assert request["warc"]["WARC-Concurrent-To"] == response["warc"]["WARC-Record-ID"]
    assert dom["payload"] == b"<html>after scripts</html>"
    assert img["uri"] == image.url and img["payload"] == PNG
    assert response["warc"]["WARC-Date"] == "2024-06-01T02:15:00Z"


def list_records(data: bytes) -> list[dict[str, Any]]:
    out = []
    for record in ArchiveIterator(io.BytesIO(data)):
        http = record.http_headers
        out.append(
            {
                "type": record.rec_type,
                "uri": record.rec_headers.get_header("WARC-Target-URI"),
                "warc": dict(record.rec_headers.headers),
                "http": http.headers if http else [],
                "statusline": _status_line(http),
                "payload": record.content_stream().read(),
            }
        )
    return out


def _status_line(http: Any) -> str | None:
    if http is None:
        return None
    # warcio keeps a request's method, like a response's protocol, apart from the rest
    return f"{http.protocol} {http.statusline}"


# --- evidence sets ----------------------------------------------------------------------------
def test_evidence_set_document(tmp_path: Path) -> None:
    store = ArtefactStore(tmp_path)
    item = listing()
    gathered = Gathered(
        item.to_dict(), "R7", raw=raw_capture(), screenshot=PNG,
        images={"http://127.0.0.1:9/img/1.png": PNG + b"img"}, notes=["x"],
    )  # fmt: skip
    doc = build_evidence_set(gathered, store)
    assert doc["_id"] == evidence_id("sandbox_mall", "1", "R7")
    assert doc["_id"] == "EV" + hashlib.sha256(b"sandbox_mall|1|R7").hexdigest()[:16].upper()
    assert doc["requested_url"] == "http://127.0.0.1:9/mall/i/1"
    assert doc["final_url"].endswith("?from=redirect") and doc["status"] == 200
    assert doc["captured_at"].isoformat() == "2024-06-01T02:15:00+00:00"
    assert shanghai_time(doc["captured_at"]) == "2024-06-01 10:15:00（北京时间）"
    assert doc["categories"] == ["slimming_aphrodisiac"] and doc["lead_ids"] == []
    assert doc["party_key"].startswith(("uscc:", "shop:sandbox_mall:"))
    kinds = [a["kind"] for a in doc["artefacts"]]
    assert kinds == ["warc", "html", "screenshot", "image"]
    for a in doc["artefacts"]:
        assert store.check(a["sha256"]) == "ok"
    assert doc["artefacts"][3]["source_url"] == "http://127.0.0.1:9/img/1.png"
    no_raw = build_evidence_set(Gathered(item.to_dict(), "R8"), store)
    assert no_raw["artefacts"] == [] and "未保存原始网络交互" in no_raw["notes"][0]


def test_evidence_config() -> None:
    config = EvidenceConfig.from_settings(Settings({"TIEQUAN_HOME": "/srv/tq"}))
    assert config.root == Path("/srv/tq/evidence") and config.screenshots
    assert config.screenshot_concurrency == 2
    for name, value in [
        ("TIEQUAN_EVIDENCE_SCREENSHOT_CONCURRENCY", "0"),
        ("TIEQUAN_EVIDENCE_SCREENSHOTS", "maybe"),
        ("TIEQUAN_EVIDENCE_SCREENSHOT_WAIT", "never"),
    ]:
        with pytest.raises(ValueError, match=name):
            EvidenceConfig.from_settings(Settings({name: value}))


def test_stage_without_browser_notes_the_screenshot_and_keeps_the_rest(
    tmp_path: Path, mongo_uri: str, db: Database[Any]
) -> None:
    settings = {
        "TIEQUAN_HOME": str(tmp_path),
        "TIEQUAN_MONGO_URI": mongo_uri,
        "TIEQUAN_RUN_ID": "R9",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {},
    }
    crawler = get_crawler(settings_dict=settings)
    pipeline = EvidencePipeline.from_crawler(crawler)
    flagged = listing(raw=raw_capture(images={"http://127.0.0.1:9/img/1.png": PNG}))
    clean = listing("2", raw=raw_capture())
    clean.findings = []

    async def run() -> list[Listing]:
        return [await pipeline.process_item(i) for i in (flagged, clean)]

    pipeline.open_spider()
    try:
        done = asyncio.run(run())
    finally:
        pipeline.executor.shutdown(wait=True)  # type: ignore[union-attr]
    assert all(i.raw is None for i in done)
    assert clean.evidence_id is None
    assert flagged.evidence_id == evidence_id("sandbox_mall", "1", "R9")
    doc = pipeline.writer._buffer[0]
    assert [a["kind"] for a in doc["artefacts"]] == ["warc", "html", "image"]
    assert doc["notes"] == ["截图失败：未找到 Chromium 浏览器（可设置 TIEQUAN_CHROMIUM）"]
    stats = crawler.stats
    assert stats is not None and stats.get_value("evidence/screenshot_failed") == 1
    assert stats.get_value("evidence/sets") == 1
    write_evidence(db, [doc])
    write_evidence(db, [doc])  # the same set again (a re-run batch) is not an error
    assert db[EVIDENCE].count_documents({}) == 1


# --- manifest, show and verify through the CLI ------------------------------------------------
@pytest.fixture
def case(tmp_path: Path, mongo_uri: str, db: Database[Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path))
    store = ArtefactStore(tmp_path / "evidence")
    docs = []
    for run, day in (("R1", "01"), ("R2", "02")):  # one listing on two nights
        raw = raw_capture(body=PAGE + run.encode(), fetched_at=f"2024-06-{day}T02:15:00+00:00")
        gathered = Gathered(listing().to_dict(), run, raw=raw, screenshot=PNG + run.encode())
        docs.append(build_evidence_set(gathered, store))
    other = listing("9").to_dict()
    other["findings"] = [{"category": "miracle_drug", "score": 0.8}]
    docs.append(build_evidence_set(Gathered(other, "R1", raw=raw_capture()), store))
    db[EVIDENCE].insert_many(docs)
    db[LEADS].insert_one(
        {"_id": "XS0123456789", "party_key": docs[0]["party_key"],
         "category": "slimming_aphrodisiac", "category_name": "声称减肥、壮阳等食品非法添加",
         "party": docs[0]["party"]}
    )  # fmt: skip
    return store, docs


def test_show_lists_the_cases_evidence(case: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _store, docs = case
    assert main(["evidence", "show", "xs0123456789"]) == 0
    out = capsys.readouterr().out
    assert "证据集共 2 组" in out and docs[0]["_id"] in out and docs[1]["_id"] in out
    assert docs[2]["_id"] not in out  # another category of the same party
    assert "2024-06-01 10:15:00（北京时间）" in out and "网页截图" in out
    assert docs[0]["artefacts"][0]["sha256"] in out
    assert main(["evidence", "show", "XS9999999999"]) == 1
    assert "找不到线索" in capsys.readouterr().err


def test_manifest_is_stored_and_recorded(
    case: Any, db: Database[Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, docs = case
    out_file = tmp_path / "m.json"
    assert main(["evidence", "manifest", "XS0123456789", "--output", str(out_file)]) == 0
    manifest = json.loads(out_file.read_text(encoding="utf-8"))
    assert manifest["lead_id"] == "XS0123456789"
    assert [s["evidence_id"] for s in manifest["evidence_sets"]] == [d["_id"] for d in docs[:2]]
    assert (
        manifest["evidence_sets"][0]["artefacts"][0]["sha256"] == docs[0]["artefacts"][0]["sha256"]
    )
    recorded = db[LEADS].find_one({"_id": "XS0123456789"})["manifest"]  # type: ignore[index]
    assert recorded["sha256"] == hashlib.sha256(out_file.read_bytes()).hexdigest()
    assert store.check(recorded["sha256"]) == "ok"
    assert recorded["sha256"] in capsys.readouterr().out


def test_verify_names_an_altered_and_a_missing_artefact(
    case: Any, db: Database[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    store, docs = case
    assert main(["evidence", "verify", "XS0123456789"]) == 0
    assert "异常 0 个" in capsys.readouterr().out
    shot = next(a for a in docs[1]["artefacts"] if a["kind"] == "screenshot")
    path = store.path(shot["sha256"])
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF  # one byte
    path.write_bytes(bytes(data))
    warc = docs[0]["artefacts"][0]
    store.path(warc["sha256"]).unlink()
    assert main(["evidence", "verify", "XS0123456789"]) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("线索 XS0123456789 证据集")]
    assert len(lines) == 2, out
    changed = next(line for line in lines if "已被改动" in line)
    assert docs[1]["_id"] in changed and "网页截图" in changed and str(path) in changed
    missing = next(line for line in lines if "文件缺失" in line)
    assert docs[0]["_id"] in missing and "WARC" in missing
    result = verify(db, store)  # all evidence sets
    assert result.sets == 3 and len(result.problems) == 2
    # Sets written before their lead existed carry no lead_ids: the case finds them.
    assert all(p.lead_ids == ("XS0123456789",) for p in result.problems), result.problems
    assert main(["evidence", "verify"]) == 1
    assert "尚未关联线索" not in capsys.readouterr().out
