"""`tiequan evidence verify --orphans [--prune]`: files no record points at."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from tiequan.cli.main import main
from tiequan.evidence.artefacts import ArtefactStore
from tiequan.evidence.orphans import find_orphans, prune_orphans
from tiequan.storage.store import EVIDENCE, LEADS, LISTINGS

HOUR = 3600.0


def _put(store: ArtefactStore, data: bytes, *, age: float = 2 * HOUR) -> str:
    sha = store.put(data, kind="html", media_type="text/html", name="page.html").sha256
    then = time.time() - age
    os.utime(store.path(sha), (then, then))
    return sha


@pytest.fixture
def world(
    tmp_path: Path, mongo_uri: str, db: Database[Any], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", db.name)
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path))
    store = ArtefactStore(tmp_path / "evidence")
    sha = {name: _put(store, name.encode()) for name in (
        "evidence", "manifest", "listing", "import", "spooled", "old", "young",
    )}  # fmt: skip
    os.utime(store.path(sha["young"]))  # written just now
    db[EVIDENCE].insert_one({"_id": "EV1", "artefacts": [{"sha256": sha["evidence"]}]})
    cut = {"field": "内容", "sha256": sha["import"]}
    db[LEADS].insert_one({
        "_id": "XS0000000001", "manifest": {"sha256": sha["manifest"]},
        "imports": [{"row": 2}, {"row": 3, "originals": [cut]}],
    })  # fmt: skip
    db[LISTINGS].insert_one(
        {"_id": "p:1", "originals": [{"field": "text", "sha256": sha["listing"]}]}
    )
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "R1-evidence.jsonl").write_text(
        f'{{"_id": "EV2", "artefacts": [{{"sha256": "{sha["spooled"]}"}}]}}\n', "utf-8"
    )
    leftover = store.path(sha["old"]).parent / ".tmp-abc123"
    leftover.write_bytes(b"half a file")
    os.utime(leftover, (time.time() - HOUR, time.time() - HOUR))
    return {"store": store, "sha": sha, "leftover": leftover}


def test_orphans_are_listed_and_nothing_is_removed(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    store, sha = world["store"], world["sha"]
    assert main(["evidence", "verify", "--orphans"]) == 1
    out = capsys.readouterr().out
    listed = {line.split("：", 1)[1].split("（")[0] for line in out.splitlines() if "：" in line}
    assert str(store.path(sha["old"])) in listed and str(store.path(sha["young"])) in listed
    assert str(world["leftover"]) in listed and "未写完的临时文件" in out
    for name in ("evidence", "manifest", "listing", "import", "spooled"):
        assert str(store.path(sha[name])) not in out
    assert "8 个文件，其中 3 个无记录引用" in out and "--prune" in out
    assert all(store.path(s).exists() for s in sha.values()) and world["leftover"].exists()


def test_prune_removes_old_orphans_only(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    store, sha = world["store"], world["sha"]
    assert main(["evidence", "verify", "--orphans", "--prune"]) == 1  # the young one is left
    out = capsys.readouterr().out
    assert "已删除 2 个" in out and "写入不足 15 分钟" in out
    assert not store.path(sha["old"]).exists() and not world["leftover"].exists()
    assert store.path(sha["young"]).exists()
    for name in ("evidence", "manifest", "listing", "import", "spooled"):
        assert store.check(sha[name]) == "ok", name
    assert main(["evidence", "verify", "--orphans", "--prune", "--min-age", "0"]) == 0
    assert not store.path(sha["young"]).exists()
    assert main(["evidence", "verify", "--orphans"]) == 0
    assert "5 个文件，其中 0 个无记录引用" in capsys.readouterr().out


def test_a_file_referenced_after_the_scan_is_kept(world: dict[str, Any], db: Database[Any]) -> None:
    store, sha = world["store"], world["sha"]
    scan = find_orphans(db, store)
    db[EVIDENCE].insert_one({"_id": "EV3", "artefacts": [{"sha256": sha["old"]}]})
    prune_orphans(db, scan)
    assert [o.sha256 for o in scan.kept_referenced] == [sha["old"]]
    assert store.check(sha["old"]) == "ok"


def test_putting_an_existing_file_again_makes_it_young(world: dict[str, Any]) -> None:
    store, sha = world["store"], world["sha"]
    assert time.time() - store.path(sha["old"]).stat().st_mtime > HOUR
    store.put(b"old", kind="html", media_type="text/html", name="page.html")
    assert time.time() - store.path(sha["old"]).stat().st_mtime < 60


def test_unknown_files_are_listed_never_removed(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    stray = world["store"].root / "sha256" / "notes.txt"
    stray.write_text("an officer's note")
    assert main(["evidence", "verify", "--orphans", "--prune", "--min-age", "0"]) == 1
    assert f"不明文件（不会删除）：{stray}" in capsys.readouterr().out and stray.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--prune"], "--prune 须与 --orphans 同用"),
        (["--orphans", "XS0000000001"], "不能指定线索"),
        (["--orphans", "--min-age", "-1"], "--min-age"),
    ],
)
def test_usage_errors(
    world: dict[str, Any], argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evidence", "verify", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert all(world["store"].path(s).exists() for s in world["sha"].values())
