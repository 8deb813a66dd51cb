"""Both evidence backends (the directory and GridFS) behind one interface: write, read back,
write-once, verify a hash; the setting that picks one; readers going through it."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from pymongo.database import Database
from scrapy.utils.test import get_crawler

from pipelines.evidence import EvidencePipeline
from tests.test_evidence import PNG, listing, raw_capture
from tests.test_web import PASSWORD
from tiequan.cli.main import main
from tiequan.evidence.artefacts import ArtefactError, ArtefactStore, EvidenceFiles
from tiequan.evidence.files import evidence_files
from tiequan.evidence.gridfs_files import BUCKET, GridFSArtefactStore
from tiequan.evidence.manifest import verify
from tiequan.leads.queue import LeadQueue
from tiequan.settings import SettingError, environment
from tiequan.storage.store import EVIDENCE, LEADS
from tiequan.web.accounts import ROLE_REVIEWER, Accounts
from tiequan.web.app import create_app

SHOT = PNG + b"screenshot"


@pytest.fixture(params=["dir", "gridfs"])
def files(request: pytest.FixtureRequest, tmp_path: Path, db: Database[Any]) -> EvidenceFiles:
    if request.param == "gridfs":
        return GridFSArtefactStore(db, partial_wait_s=0.3)
    return ArtefactStore(tmp_path / "evidence")


def _tamper(files: EvidenceFiles, db: Database[Any], sha: str) -> None:
    """Flip one byte of the stored file, as someone with access to the store could."""
    if isinstance(files, ArtefactStore):
        path = files.path(sha)
        os.chmod(path, 0o644)
        data = bytearray(path.read_bytes())
        data[3] ^= 0xFF
        path.write_bytes(bytes(data))
        return
    chunk = db[f"{BUCKET}.chunks"].find_one({"files_id": sha, "n": 0})
    assert chunk is not None
    data = bytearray(chunk["data"])
    data[3] ^= 0xFF
    db[f"{BUCKET}.chunks"].update_one({"_id": chunk["_id"]}, {"$set": {"data": bytes(data)}})


def _stored_count(files: EvidenceFiles, db: Database[Any]) -> int:
    if isinstance(files, ArtefactStore):
        return sum(1 for _, sha in files.files() if sha)
    return db[f"{BUCKET}.files"].count_documents({})


def test_write_and_read_back(files: EvidenceFiles) -> None:
    art = files.put(SHOT, kind="screenshot", media_type="image/png", name="s.png")
    assert art.sha256 == hashlib.sha256(SHOT).hexdigest() and art.size == len(SHOT)
    assert files.read(art.sha256) == SHOT
    assert files.check(art.sha256) == "ok"
    assert art.sha256 in files.location(art.sha256)
    with pytest.raises(ValueError, match="unknown artefact kind"):
        files.put(SHOT, kind="video", media_type="video/mp4", name="v")
    with pytest.raises(ValueError, match="SHA-256"):
        files.read("../../etc/passwd")


def test_a_second_write_of_the_same_bytes_is_a_no_op(
    files: EvidenceFiles, db: Database[Any]
) -> None:
    first = files.put(SHOT, kind="screenshot", media_type="image/png", name="s.png")
    again = files.put(SHOT, kind="image", media_type="image/png", name="other.png")
    assert again.sha256 == first.sha256
    files.put(b"another file", kind="text", media_type="text/plain", name="t.txt")
    assert _stored_count(files, db) == 2
    assert files.read(first.sha256) == SHOT


def test_a_tampered_file_fails_verification_and_is_never_overwritten(
    files: EvidenceFiles, db: Database[Any]
) -> None:
    art = files.put(SHOT, kind="screenshot", media_type="image/png", name="s.png")
    _tamper(files, db, art.sha256)
    assert files.check(art.sha256) == "changed"
    with pytest.raises(ArtefactError, match="does not match"):
        files.put(SHOT, kind="screenshot", media_type="image/png", name="s.png")
    assert files.read(art.sha256) != SHOT  # the altered bytes are kept as found
    assert files.check("0" * 64) == "missing"


def test_gridfs_writers_racing_on_one_file_store_it_once(db: Database[Any]) -> None:
    data = os.urandom(600_000)  # several chunks
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def put() -> None:
        try:
            store = GridFSArtefactStore(db)
            barrier.wait(timeout=30)
            store.put(data, kind="warc", media_type="application/warc", name="p.warc.gz")
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    sha = hashlib.sha256(data).hexdigest()
    assert db[f"{BUCKET}.files"].count_documents({}) == 1
    assert GridFSArtefactStore(db).read(sha) == data


def test_gridfs_put_replaces_the_chunks_of_an_interrupted_upload(db: Database[Any]) -> None:
    sha = hashlib.sha256(SHOT).hexdigest()
    # A writer that died after its first chunk: chunks, no files document.
    db[f"{BUCKET}.chunks"].create_index([("files_id", 1), ("n", 1)], unique=True)
    db[f"{BUCKET}.chunks"].insert_one({"files_id": sha, "n": 0, "data": b"half"})
    store = GridFSArtefactStore(db, partial_wait_s=0.2)
    store.put(SHOT, kind="screenshot", media_type="image/png", name="s.png")
    assert store.read(sha) == SHOT and store.check(sha) == "ok"


def test_the_setting_picks_the_backend(
    db: Database[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIEQUAN_EVIDENCE_STORE", raising=False)
    assert isinstance(evidence_files(db, tmp_path), ArtefactStore)
    monkeypatch.setenv("TIEQUAN_EVIDENCE_STORE", "gridfs")
    assert isinstance(evidence_files(db, tmp_path), GridFSArtefactStore)
    with pytest.raises(ValueError, match="TIEQUAN_EVIDENCE_STORE=gridfs"):
        evidence_files(None)
    monkeypatch.setenv("TIEQUAN_EVIDENCE_STORE", "nfs")
    with pytest.raises(SettingError, match="TIEQUAN_EVIDENCE_STORE must be one of dir, gridfs"):
        environment()


@pytest.fixture
def gridfs_case(
    db: Database[Any], mongo_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[GridFSArtefactStore, str]]:
    """A lead with one evidence set whose screenshot is in GridFS, as this process's store."""
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path))
    monkeypatch.setenv("TIEQUAN_EVIDENCE_STORE", "gridfs")
    store = GridFSArtefactStore(db)
    shot = store.put(SHOT, kind="screenshot", media_type="image/png", name="s.png")
    db[LEADS].insert_one({"_id": "XS0123456789", "party_key": "shop:x", "category": "c"})
    db[EVIDENCE].insert_one(
        {"_id": "EV-1", "lead_ids": ["XS0123456789"], "party_key": "shop:x",
         "categories": ["c"], "artefacts": [shot.to_doc()]}
    )  # fmt: skip
    yield store, shot.sha256


def test_verify_reads_gridfs(
    gridfs_case: tuple[GridFSArtefactStore, str],
    db: Database[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, sha = gridfs_case
    assert verify(db, store).problems == []
    assert main(["evidence", "verify", "XS0123456789"]) == 0
    assert "异常 0 个" in capsys.readouterr().out
    _tamper(store, db, sha)
    assert main(["evidence", "verify", "XS0123456789"]) == 1
    out = capsys.readouterr().out
    assert "已被改动" in out and store.location(sha) in out
    assert main(["evidence", "verify", "--orphans"]) == 2  # a directory-only check


def test_workbench_downloads_come_from_gridfs(
    gridfs_case: tuple[GridFSArtefactStore, str], db: Database[Any]
) -> None:
    _store, sha = gridfs_case
    accounts = Accounts(db, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    accounts.add("rev", ROLE_REVIEWER, PASSWORD)
    app = create_app(db, queue=LeadQueue(db), accounts=accounts)  # the store of the setting
    with TestClient(app, follow_redirects=False) as web:
        form = web.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token, form.text
        web.post("/login", data={"username": "rev", "password": PASSWORD, "csrf": token[1]})
        shot = web.get(f"/leads/XS0123456789/artefact/{sha}")
        assert shot.status_code == 200 and shot.content == SHOT
        assert shot.headers["content-type"] == "image/png"
        assert web.get(f"/leads/XS0123456789/artefact/{'0' * 64}").status_code == 404


def test_the_evidence_stage_writes_to_gridfs(
    tmp_path: Path, mongo_uri: str, db: Database[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIEQUAN_EVIDENCE_STORE", "gridfs")
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    settings = {
        "TIEQUAN_HOME": str(tmp_path),
        "TIEQUAN_MONGO_URI": mongo_uri,
        "TIEQUAN_RUN_ID": "R9",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {},
    }
    pipeline = EvidencePipeline.from_crawler(get_crawler(settings_dict=settings))
    flagged = listing(raw=raw_capture(images={"http://127.0.0.1:9/img/1.png": PNG}))
    pipeline.open_spider()
    try:
        asyncio.run(pipeline.process_item(flagged))
    finally:
        pipeline.executor.shutdown(wait=True)  # type: ignore[union-attr]
    doc = pipeline.writer._buffer[0]
    shas = [a["sha256"] for a in doc["artefacts"]]
    assert shas and all(GridFSArtefactStore(db).check(sha) == "ok" for sha in shas)
    assert not (tmp_path / "evidence").exists()  # nothing went to the directory
