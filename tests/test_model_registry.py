"""The model registry: verified loading, reproducible training, the gate, rollback, hot
reload, roles, and the sweep that will not train."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from detectors.combine import ListingDetector
from detectors.dataset import read_examples
from detectors.model_store import corpus_dir, reference_dir
from tests.conftest import TrainedModel
from tiequan.cli.main import main
from tiequan.leads.labels import Label, LabelListing, LabelStore
from tiequan.models.dataset import SourceFiles, assemble, text_key
from tiequan.models.gate import ModelsConfig
from tiequan.models.live import LiveModel, NoLiveModel
from tiequan.models.promotion import PromotionRefused, promote, rollback
from tiequan.models.registry import (
    CANDIDATE,
    LIVE,
    ModelIntegrityError,
    ModelRecord,
    Registry,
    RegistryError,
)
from tiequan.models.training import SPLIT_NAMES, evaluate, fit, record_for
from tiequan.storage.store import WEB_AUDIT
from tiequan.web.accounts import Accounts

REPO = Path(__file__).resolve().parents[1]
GATE = ModelsConfig(1.0, 1.0, ("宣传内容合法",))
PROBES = [
    "纯植物酵素，三天瘦十斤，减肥不反弹",
    "今天天气很好，我们去公园散步",
    "距地铁5分钟，年收益8%，名校旁",
    "100%山羊绒毛衣 秋冬新款",
    "本品可根治糖尿病，无效退款",
]


def small_files(tmp: Path, per_label: int = 8) -> SourceFiles:
    """A small fixed training set (the first few examples of each label of the fitting
    files, and as many negatives), the real test splits."""
    out = []
    config = REPO / "config"
    heads = [("corpus:train", corpus_dir(config) / "train.jsonl"),
             ("reference:train", reference_dir(config) / "train.jsonl")]  # fmt: skip
    for name, path in heads:
        taken: Counter[str] = Counter()
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            key = ",".join(json.loads(line)["labels"]) or "-"
            limit = per_label * 8 if key == "-" else per_label
            if taken[key] < limit:
                taken[key] += 1
                kept.append(line)
        head = tmp / f"{name.replace(':', '-')}.jsonl"
        head.write_text("\n".join(kept) + "\n", encoding="utf-8")
        out.append((name, head))
    full = SourceFiles.for_config(config)
    return SourceFiles(synthetic=(out[0],), real=(out[1],), tests=full.tests)


def train_small(files: SourceFiles, seed: int = 0) -> tuple[ModelRecord, dict[str, bytes]]:
    data = assemble(files, seed=seed)
    detector, seconds = fit(REPO / "config", data)
    tests = {SPLIT_NAMES[n]: ex for n, ex in files.test_sets().items()}
    return record_for(
        detector, data, evaluate(detector, tests), trained_by="t", train_seconds=seconds
    )


@pytest.fixture(scope="module")
def small(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[ModelRecord, dict[str, bytes], SourceFiles]:
    files = small_files(tmp_path_factory.mktemp("small"))
    return (*train_small(files), files)


def predictions(detector: ListingDetector) -> list[list[tuple[str, float, list[Any]]]]:
    return [[(f.category, f.score, f.spans) for f in detector.detect(t)] for t in PROBES]


def test_the_same_data_and_seed_give_the_same_model_and_metrics(
    small: tuple[ModelRecord, dict[str, bytes], SourceFiles],
) -> None:
    first, first_files, files = small
    again, again_files = train_small(files)
    assert again.data_hash == first.data_hash
    assert again.version == first.version and again_files == first_files
    assert again.metrics == first.metrics
    assert assemble(files, seed=1).data_hash != first.data_hash


def test_a_model_file_with_one_byte_changed_refuses_to_load(
    db: Database[dict[str, Any]], trained_model: TrainedModel, tmp_path: Path
) -> None:
    registry = Registry(db, tmp_path)
    record = registry.register(trained_model.record, trained_model.files)
    assert registry.files.read(record) == trained_model.files
    blob = registry.files.path(record.files["scorer.npz"])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=r"scorer\.npz") as refused:
        registry.load(record.version)
    assert "\n" not in str(refused.value) and "哈希不符" in str(refused.value)


def test_promoting_a_worse_model_is_refused_naming_category_and_figures(
    db: Database[dict[str, Any]],
    live_model: ModelRecord,
    small: tuple[ModelRecord, dict[str, bytes], SourceFiles],
    tmp_path: Path,
) -> None:
    registry = Registry(db, Path(os.environ["TIEQUAN_MODEL_DIR"]))
    worse = registry.register(small[0], small[1])
    with pytest.raises(PromotionRefused) as refused:
        promote(registry, worse.version, by="ana", config=GATE)
    first = refused.value.refusals[0]
    message = str(refused.value)
    assert first.live - first.candidate > 1.0 or first.candidate - first.live > 1.0
    assert first.what in message
    assert f"{first.candidate:.1f}" in message and f"{first.live:.1f}" in message
    assert registry.alias(LIVE) == live_model.version  # nothing changed
    with pytest.raises(Exception, match="--reason"):
        promote(registry, worse.version, by="ana", config=GATE, force=True)
    done = promote(registry, worse.version, by="ana", config=GATE, force=True, reason="试运行")
    assert done.change.forced and done.refusals and registry.alias(LIVE) == worse.version


def test_rollback_restores_the_previous_models_predictions_exactly(
    db: Database[dict[str, Any]],
    live_model: ModelRecord,
    small: tuple[ModelRecord, dict[str, bytes], SourceFiles],
) -> None:
    registry = Registry(db, Path(os.environ["TIEQUAN_MODEL_DIR"]))
    first = registry.load(live_model.version)
    before = predictions(first)
    worse = registry.register(small[0], small[1])
    promote(registry, worse.version, by="ana", config=GATE, force=True, reason="试运行")
    assert registry.alias(LIVE) == worse.version
    change = rollback(registry, by="ana")
    assert change.version == live_model.version and change.previous == worse.version
    assert predictions(registry.load(registry.alias(LIVE) or "", like=first)) == before
    assert [c.version for c in registry.history(LIVE)] == [
        live_model.version, worse.version, live_model.version,
    ]  # fmt: skip


def test_an_alias_change_judged_against_a_stale_head_is_refused(
    db: Database[dict[str, Any]],
    live_model: ModelRecord,
    small: tuple[ModelRecord, dict[str, bytes], SourceFiles],
) -> None:
    registry = Registry(db, Path(os.environ["TIEQUAN_MODEL_DIR"]))
    worse = registry.register(small[0], small[1])
    # Another analyst promoted ``worse`` after this one's gate read the live model.
    promote(registry, worse.version, by="bo", config=GATE, force=True, reason="试运行")
    with pytest.raises(RegistryError, match=worse.version):
        registry.set_alias(LIVE, live_model.version, by="ana", reason="x", expect="v0-stale")
    assert registry.alias(LIVE) == worse.version


def test_concurrent_alias_changes_never_share_a_previous(
    db: Database[dict[str, Any]],
    live_model: ModelRecord,
    small: tuple[ModelRecord, dict[str, bytes], SourceFiles],
) -> None:
    registry = Registry(db, Path(os.environ["TIEQUAN_MODEL_DIR"]))
    worse = registry.register(small[0], small[1])
    versions = [worse.version, live_model.version] * 6
    refused: list[str] = []

    def change(version: str) -> None:
        try:
            Registry(db, registry.files.root.parent).set_alias(LIVE, version, by="t", reason="race")
        except RegistryError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=change, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = registry.history(LIVE)[::-1]  # oldest first
    assert len(history) + len(refused) == len(versions) + 1
    for before, after in itertools.pairwise(history):
        assert after.previous == before.version  # one chain: no two changes on one head


def test_a_running_source_picks_up_a_promoted_model_at_its_next_check(
    db: Database[dict[str, Any]],
    live_model: ModelRecord,
    small: tuple[ModelRecord, dict[str, bytes], SourceFiles],
) -> None:
    registry = Registry(db, Path(os.environ["TIEQUAN_MODEL_DIR"]))
    now = [0.0]
    source = LiveModel(registry, recheck_seconds=10.0, clock=lambda: now[0])
    assert source.current().model_version_ == live_model.version
    worse = registry.register(small[0], small[1])
    promote(registry, worse.version, by="ana", config=GATE, force=True, reason="试运行")
    now[0] = 9.0
    assert source.current().model_version_ == live_model.version
    now[0] = 10.0
    assert source.current().model_version_ == worse.version and source.reloads == 1


def test_no_live_model_is_a_clear_error(db: Database[dict[str, Any]], tmp_path: Path) -> None:
    with pytest.raises(NoLiveModel, match="tiequan train"):
        LiveModel(Registry(db, tmp_path))


def test_a_sweep_with_no_model_fails_clearly_and_does_not_train(
    mongo_uri: str, db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    models = tmp_path / "models"
    env = dict(os.environ, TIEQUAN_MONGO_URI=mongo_uri, TIEQUAN_DB=db.name,
               TIEQUAN_HOME=str(tmp_path / "home"), TIEQUAN_MODEL_DIR=str(models),
               PYTHONPATH=str(REPO))  # fmt: skip
    cmd = [sys.executable, "-m", "tiequan", "sweep", "--site", "sandbox_mall",
           "--base-url", "http://127.0.0.1:9", "--progress", "0"]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "tiequan train" in lines[0], done.stderr
    assert not models.exists() or not any(models.rglob("*"))
    assert db["runs"].count_documents({}) == 0 and db["captures"].count_documents({}) == 0


def test_detect_without_a_live_model_names_the_training_command(
    db: Database[dict[str, Any]],
    mongo_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    monkeypatch.setenv("TIEQUAN_MODEL_DIR", str(tmp_path / "models"))
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"id": 1, "text": "三天瘦十斤"}\n', encoding="utf-8")
    assert main(["detect", "--input", str(inp), "--output", str(tmp_path / "out")]) == 2
    assert "tiequan train" in capsys.readouterr().err
    assert not (tmp_path / "models").exists()


def test_only_analysts_and_admins_promote_and_every_change_is_audited(
    db: Database[dict[str, Any]],
    mongo_uri: str,
    live_model: ModelRecord,
    small: tuple[ModelRecord, dict[str, bytes], SourceFiles],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    accounts = Accounts(db)
    accounts.add("rev", "reviewer", "a-long-password-1")
    accounts.add("ana", "analyst", "a-long-password-2")
    registry = Registry(db, Path(os.environ["TIEQUAN_MODEL_DIR"]))
    worse = registry.register(small[0], small[1])
    registry.set_alias(CANDIDATE, worse.version, by="t", reason="test")
    assert main(["models", "promote", "--by", "rev", "--force", "--reason", "x"]) == 2
    assert "数据分析人员" in capsys.readouterr().err
    assert main(["models", "promote", "--by", "ana"]) == 1
    err = capsys.readouterr().err
    assert "拒绝上线" in err and len(err.strip().splitlines()) == 1
    assert main(["models", "diff"]) == 0
    assert "F1" in capsys.readouterr().out
    assert main(["models", "promote", "--by", "ana", "--force", "--reason", "人工复核后上线"]) == 0
    assert main(["models", "rollback", "--by", "ana"]) == 0
    assert registry.alias(LIVE) == live_model.version
    audit = list(db[WEB_AUDIT].find({"action": {"$in": ["model_promote", "model_rollback"]}}))
    assert [a["action"] for a in audit] == ["model_promote", "model_rollback"]
    assert audit[0]["detail"]["forced"] and audit[0]["detail"]["reason"] == "人工复核后上线"
    assert main(["models", "show", "live"]) == 0
    out = capsys.readouterr().out
    assert out.count(live_model.version) >= 2 and worse.version in out


def _label(lead: str, action: str, positive: bool | None, item: str, text: str,
           at: datetime, reason: str | None = None, source: str = "crawler",
           title: str = "标题") -> Label:  # fmt: skip
    return Label(
        id=f"{lead}:{at.timestamp()}", lead_id=lead, version=1, action=action,
        action_label=action, from_status="a", to_status="b", category="slimming_aphrodisiac",
        positive=positive,
        listings=(LabelListing("p", item, title, text, ""),), findings=(),
        model_version=None, run_ids=(), source=source, actor="r", reason=reason,
        outcome=None, at=at,
    )  # fmt: skip


def test_training_set_reads_decisions_deduplicates_and_keeps_test_text_out(
    db: Database[dict[str, Any]], tmp_path: Path
) -> None:
    files = small_files(tmp_path, per_label=2)
    test_text = read_examples(files.tests[0][1])[0].text
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    labels = [
        _label("L1", "confirm", True, "1", "喝了就瘦，一个月瘦二十斤", t0),
        _label(
            "L2", "confirm", True, "2", "喝了就瘦 ，一个月瘦二十斤！", t0 + timedelta(minutes=1)
        ),
        _label("L3", "dismiss", False, "3", "低脂代餐，营养均衡", t0, "宣传内容合法"),
        _label("L4", "dismiss", False, "4", "某店铺已关门的商品", t0, "店铺已关闭"),
        _label("L5", "dismiss", False, "5", "撤回的排除", t0, "宣传内容合法"),
        _label("L5", "reopen", None, "5", "撤回的排除", t0 + timedelta(hours=1)),
        _label("L6", "confirm", True, "6", test_text, t0, source="tip", title=""),
    ]
    LabelStore(db).record_many(labels)
    data = assemble(files, LabelStore(db).iter(), negative_reason=GATE.negative_dismissal)
    decided = {e.id: e for e in data.real if e.id.startswith("p:")}
    assert set(decided) == {"p:2", "p:3"}  # p:1 is a near-duplicate of the newer p:2
    assert decided["p:2"].labels == ("slimming_aphrodisiac",) and decided["p:3"].labels == ()
    assert data.counts["dropped:duplicate"] >= 1
    assert {e.source for e in data.manifest if e.id.startswith("p:")} == {"decision"}
    assert all(e.text_sha256 != text_key(test_text) for e in data.manifest)
    later = assemble(files, LabelStore(db).iter(since=t0 + timedelta(minutes=30)))
    assert not [e for e in later.real if e.id.startswith("p:")]
    assert replace(data, seed=0).data_hash == data.data_hash


def test_train_registers_a_candidate_from_corpora_and_decisions(
    db: Database[dict[str, Any]],
    mongo_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config, ignore=shutil.ignore_patterns("entries", "sites"))
    small = small_files(tmp_path)
    shutil.copy(small.synthetic[0][1], config / "corpus" / "train.jsonl")
    shutil.copy(small.real[0][1], config / "reference" / "train.jsonl")
    (config / "reference" / "dev.jsonl").write_text("", encoding="utf-8")
    for split in ("reference", "corpus"):  # short test splits: this checks the plumbing
        test = config / split / "test.jsonl"
        test.write_text("\n".join(test.read_text("utf-8").splitlines()[::20]) + "\n", "utf-8")
    monkeypatch.setenv("TIEQUAN_CONFIG_DIR", str(config))
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    monkeypatch.setenv("TIEQUAN_MODEL_DIR", str(tmp_path / "models"))
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    LabelStore(db).record_many([_label("L1", "confirm", True, "1", "喝了就瘦，一个月瘦二十斤", t0)])
    assert main(["train", "--seed", "3", "--by", "ana"]) == 0
    out = capsys.readouterr().out
    registry = Registry(db, tmp_path / "models")
    version = registry.alias(CANDIDATE)
    assert version is not None and version in out and registry.alias(LIVE) is None
    record = registry.get(version)
    assert record.seed == 3 and record.trained_by == "ana" and record.sources["decision"] == 1
    assert {"reference_test", "corpus_test"} <= set(record.metrics)
    assert ("decision", "p:1") in {(e.source, e.id) for e in record.manifest}
    assert registry.load(version).model_version_ == version
