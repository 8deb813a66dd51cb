"""The workbench models page: the registry's versions, the live model, the gate's buttons."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pymongo.database import Database

from detectors import CORE_CATEGORIES
from detectors.model_store import MODEL_FILES
from tests.test_web import login
from tests.web_ops import workbench
from tiequan.leads.queue import LeadQueue
from tiequan.models.registry import LIVE, REFERENCE_TEST, ModelRecord, Registry
from tiequan.storage.store import WEB_AUDIT


def fake_record(version: str, tp: int, day: int) -> tuple[ModelRecord, dict[str, bytes]]:
    """A record whose reference-test figures are ``tp`` of 10 in every core category."""
    files = {name: f"{version}:{name}".encode() for name in MODEL_FILES}
    scores = {
        "categories": {c: {"tp": tp, "fp": 10 - tp, "fn": 10 - tp} for c in CORE_CATEGORIES},
        "negatives": {"hard_negative": 10},
        "alarms": {"hard_negative": 1},
    }
    record = ModelRecord(
        version=version,
        files={n: hashlib.sha256(b).hexdigest() for n, b in files.items()},
        size_bytes=sum(len(b) for b in files.values()),
        data_hash="d" * 64,
        manifest=(),
        seed=0,
        code_version="test",
        libraries={},
        metrics={REFERENCE_TEST: scores},
        trained_by="tests",
        trained_at=datetime(2026, 11, day, tzinfo=UTC),
        train_seconds=0.0,
    )
    return record, files


@pytest.fixture
def registry(
    db: Database[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Registry:
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TIEQUAN_MODEL_DIR", str(tmp_path / "models"))
    registry = Registry(db, tmp_path / "models")
    for version, tp, day in (("v-live", 8, 1), ("v-better", 8, 2), ("v-worse", 4, 3)):
        registry.register(*fake_record(version, tp, day))
    registry.set_alias(LIVE, "v-live", by="tests", reason="首个在用模型")
    report = tmp_path / "home" / "evaluation" / "v-better-1"
    report.mkdir(parents=True)
    evaluation = {"generated_at": "2026-11-02T00:00:00+00:00",
                  "models": {"v-better": {"version": "v-better"}}}  # fmt: skip
    (report / "evaluation.json").write_text(json.dumps(evaluation), encoding="utf-8")
    (report / "evaluation.html").write_text("<h1>评估报告 v-better</h1>", encoding="utf-8")
    return registry


@pytest.fixture
def client(
    db: Database[dict[str, Any]], registry: Registry, tmp_path: Path
) -> Iterator[TestClient]:
    queue = LeadQueue(db)
    queue.ensure_indexes()
    with workbench(db, queue, tmp_path / "evidence") as c:
        yield c


def flash_after(client: TestClient, response: Any) -> str:
    assert response.status_code == 303 and response.headers["location"] == "/models"
    return client.get("/models").text


def test_the_models_page_shows_the_live_model_its_figures_and_reports(
    client: TestClient,
) -> None:
    login(client, "ana")
    page = client.get("/models")
    assert page.status_code == 200
    live = re.search(r'class="model-live">([^<]+)<', page.text)
    assert live and live.group(1) == "v-live"
    for version in ("v-live", "v-better", "v-worse"):
        assert version in page.text
    assert "0.800" in page.text and "0.400" in page.text  # core F1 of 8/10 and 4/10
    assert "/models/v-better/report" in page.text and "/models/v-live/report" not in page.text
    report = client.get("/models/v-better/report")
    assert report.status_code == 200 and "评估报告 v-better" in report.text
    assert report.headers["content-disposition"].startswith("attachment")
    assert client.get("/models/v-live/report").status_code == 404


def test_promotion_goes_through_the_gate_and_rollback_restores_the_previous(
    client: TestClient, registry: Registry, db: Database[dict[str, Any]]
) -> None:
    csrf = login(client, "adm")
    refused = client.post("/models/v-worse/promote", data={"csrf": csrf, "reason": ""})
    page = flash_after(client, refused)
    assert "未上线" in page and "F1" in page and registry.alias(LIVE) == "v-live"
    done = client.post("/models/v-better/promote", data={"csrf": csrf, "reason": "更新词表"})
    assert "已上线 v-better" in flash_after(client, done) and registry.alias(LIVE) == "v-better"
    audit = db[WEB_AUDIT].find_one({"action": "model_promote", "username": "adm"})
    assert audit is not None and audit["detail"]["previous"] == "v-live"
    back = client.post("/models/rollback", data={"csrf": csrf, "reason": "试验结束"})
    assert "已回退" in flash_after(client, back) and registry.alias(LIVE) == "v-live"
    assert db[WEB_AUDIT].count_documents({"action": "model_rollback"}) == 1
    forced = client.post(
        "/models/v-worse/promote", data={"csrf": csrf, "reason": "对照试验", "force": "1"}
    )
    assert "已强制上线 v-worse" in flash_after(client, forced)
    assert registry.history(LIVE)[0].forced


def test_only_analysts_and_admins_see_the_models_page(client: TestClient) -> None:
    csrf = login(client, "rev")
    assert "/models" not in client.get("/").text
    assert client.get("/models").status_code == 403
    response = client.post("/models/v-better/promote", data={"csrf": csrf})
    assert response.status_code == 403
    client.post("/logout", data={"csrf": csrf})
    login(client, "ana")
    assert 'href="/models"' in client.get("/").text
