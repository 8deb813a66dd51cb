from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError

from tiequan.storage.connect import StorageError, open_database, redact_uri, write_concern_for
from tiequan.storage.embedded import STATE_FILE, EmbeddedServer
from tiequan.storage.listings import ListingWrite, write_listings
from tiequan.storage.process import pid_alive
from tiequan.storage.store import INDEXES, Store, new_run_id, utcnow


def _reachable(uri: str, timeout_ms: int = 2000) -> bool:
    client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms)
    try:
        return client.admin.command("ping")["ok"] == 1
    except PyMongoError:
        return False
    finally:
        client.close()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound on 127.0.0.1 but not listening: connections are refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def _listing(item_id: str, title: str = "标题", price: float = 10.0) -> dict[str, Any]:
    return {
        "platform": "demo_shop",
        "kind": "product",
        "url": f"https://shop.example/item/{item_id}",
        "item_id": item_id,
        "title": title,
        "text": "",
        "price": price,
        "licence": None,
        "captured_at": "2024-06-01T02:00:00+08:00",
    }


def test_start_ping_stop_and_persist_across_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "db"
    server = EmbeddedServer(data_dir)
    uri = server.start()
    pid = server.pid
    assert server.owner and server.port > 0 and pid is not None
    client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=3000)
    client.keep.things.insert_one({"_id": "k", "v": "保留"})
    client.close()
    state = json.loads((data_dir / STATE_FILE).read_text())
    assert state["pid"] == pid and state["port"] == server.port
    server.stop()
    assert not pid_alive(pid)
    assert not (data_dir / STATE_FILE).exists()
    assert not _reachable(uri, timeout_ms=300)

    with EmbeddedServer(data_dir) as again:
        client = MongoClient(again.uri, serverSelectionTimeoutMS=3000)
        assert client.keep.things.find_one({"_id": "k"}) == {"_id": "k", "v": "保留"}
        client.close()


def test_second_server_on_same_dir_joins_running_one(mongo_server: EmbeddedServer) -> None:
    second = EmbeddedServer(mongo_server.data_dir)
    uri = second.start()
    assert not second.owner
    assert (second.pid, second.port) == (mongo_server.pid, mongo_server.port)
    assert len(json.loads((mongo_server.data_dir / STATE_FILE).read_text())["clients"]) == 2
    second.stop()
    # The joiner leaving must not stop the server the session still uses.
    assert _reachable(uri)
    assert len(json.loads((mongo_server.data_dir / STATE_FILE).read_text())["clients"]) == 1


def test_stale_state_file_is_replaced(tmp_path: Path, closed_port: int) -> None:
    data_dir = tmp_path / "db"
    data_dir.mkdir()
    stale = {"pid": _dead_pid(), "port": closed_port, "clients": ["1:x"]}
    (data_dir / STATE_FILE).write_text(json.dumps(stale))
    with EmbeddedServer(data_dir) as server:
        assert server.owner and server.pid != stale["pid"] and server.port != closed_port
        assert _reachable(server.uri)
        state = json.loads((data_dir / STATE_FILE).read_text())
        assert state["pid"] == server.pid and len(state["clients"]) == 1


def test_unreachable_uri_names_redacted_uri(closed_port: int) -> None:
    uri = f"mongodb://officer:s3cret@127.0.0.1:{closed_port}/?directConnection=true"
    with pytest.raises(StorageError) as err, open_database(uri, timeout_ms=300):
        pass
    message = str(err.value)
    assert f"127.0.0.1:{closed_port}" in message and "officer:***@" in message
    assert "s3cret" not in message


def test_redact_uri() -> None:
    assert redact_uri("mongodb://u:p@h:1/db") == "mongodb://u:***@h:1/db"
    assert redact_uri("mongodb://h:1/?tlsCertificateKeyFilePassword=x&w=1") == (
        "mongodb://h:1/?tlsCertificateKeyFilePassword=***&w=1"
    )
    assert redact_uri("mongodb://h:1/db") == "mongodb://h:1/db"


def test_open_database_uses_env(monkeypatch: pytest.MonkeyPatch, mongo_uri: str) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    monkeypatch.setenv("TIEQUAN_DB", "t_env_named")
    with open_database() as db:
        assert db.name == "t_env_named"
        assert db.client.admin.command("ping")["ok"] == 1
        db.client.drop_database("t_env_named")


def test_write_concern_is_majority_only_on_a_replica_set() -> None:
    member = {"isWritablePrimary": True, "setName": "rs0", "hosts": ["127.0.0.1:27017"]}
    concern = write_concern_for(member, embedded=False)
    assert concern is not None and concern.document == {"w": "majority"}
    assert write_concern_for({"isWritablePrimary": True}, embedded=False) is None
    assert write_concern_for({"setName": None}, embedded=False) is None
    # The embedded server keeps the server's default even if it ever advertised a set.
    assert write_concern_for(member, embedded=True) is None


def test_open_database_keeps_default_write_concern_on_a_standalone_server(
    monkeypatch: pytest.MonkeyPatch, mongo_uri: str, tmp_path: Path
) -> None:
    monkeypatch.setenv("TIEQUAN_MONGO_URI", mongo_uri)
    with open_database(db_name="t_concern") as db:
        assert "setName" not in db.client.admin.command("hello")
        assert db.write_concern.document == {}
    monkeypatch.delenv("TIEQUAN_MONGO_URI")
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path / "home"))
    with open_database() as db:
        assert db.write_concern.document == {}


def test_open_database_without_uri_runs_embedded_in_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIEQUAN_MONGO_URI", raising=False)
    monkeypatch.setenv("TIEQUAN_HOME", str(tmp_path / "home"))
    with open_database() as db:
        db.notes.insert_one({"_id": 1})
        state = json.loads((tmp_path / "home" / "db" / STATE_FILE).read_text())
        assert db.client.address == ("127.0.0.1", state["port"])
    assert not pid_alive(state["pid"])


def test_ensure_indexes_are_named(db: Database[dict[str, Any]]) -> None:
    Store(db).ensure_indexes()
    Store(db).ensure_indexes()  # idempotent
    for coll, models in INDEXES.items():
        info = db[coll].index_information()
        for model in models:
            assert model.document["name"] in info
    assert db["leads"].index_information()["lead_case_key"].get("unique") is True


def test_record_listings_writes_changes_and_one_capture_per_sighting(
    db: Database[dict[str, Any]],
) -> None:
    store = Store(db)
    store.ensure_indexes()
    assert store.record_listings([_listing("1"), _listing("2")], run_id="R1") == ListingWrite(new=2)
    first = store.get_listing("demo_shop", "1")
    assert first is not None and first["first_run_id"] == "R1"
    batch = [_listing("1"), _listing("2", title="新标题", price=8.5), _listing("3"), _listing("3")]
    for record in batch:
        record["run_id"] = "R2"  # as the store pipeline tags its records
        record["captured_at"] = "2024-06-02T02:00:00+08:00"  # a new night, same content
    assert store.record_listings(batch) == ListingWrite(new=1, changed=1, unchanged=1)
    two = store.get_listing("demo_shop", "2")
    assert two is not None
    assert (two["title"], two["price"]) == ("新标题", 8.5)
    assert (two["first_run_id"], two["last_changed_run_id"]) == ("R1", "R2")
    assert two["first_seen_at"] <= two["last_changed_at"]
    unchanged = store.get_listing("demo_shop", "1")
    assert unchanged is not None and unchanged["last_changed_run_id"] == "R1"
    assert db.listings.count_documents({}) == 3 and "run_id" not in two
    captures = {(c["item_id"], c["run_id"]): c for c in db.captures.find()}
    assert len(captures) == 5  # 2 in R1, 3 in R2 (the duplicate "3" counted once)
    assert captures[("1", "R2")]["change"] == "unchanged"
    assert captures[("2", "R2")]["change"] == "changed"
    assert captures[("3", "R2")]["change"] == "new"
    assert captures[("1", "R2")]["captured_at"] == "2024-06-02T02:00:00+08:00"
    assert store.record_listings([]) == ListingWrite()


def test_record_listings_survives_a_racing_insert(db: Database[dict[str, Any]]) -> None:
    store = Store(db)
    store.ensure_indexes()
    # Another writer inserted the listing between our lookup and our insert.
    racer = _listing("9")
    db.listings.insert_one({"_id": "demo_shop:9", **racer, "content_sha256": "other"})
    result = write_listings(
        _HidingCollection(db.listings, hide="demo_shop:9"), db.captures, [_listing("9")],
        run_id="R1", now=utcnow(), schema=1,
    )  # fmt: skip
    assert result == ListingWrite(changed=1)
    assert db.listings.count_documents({}) == 1


class _HidingCollection:
    """A listings collection whose lookup misses one id, as if read before a racing insert."""

    def __init__(self, coll: Any, hide: str) -> None:
        self._coll = coll
        self._hide = hide

    def find(self, query: dict[str, Any], projection: dict[str, Any]) -> list[dict[str, Any]]:
        return [d for d in self._coll.find(query, projection) if d["_id"] != self._hide]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._coll, name)


def test_runs_saved_and_listed_newest_first(db: Database[dict[str, Any]]) -> None:
    store = Store(db)
    first = store.save_run({"pages": 10, "leads": 2})
    time.sleep(0.01)  # distinct created_at (millisecond resolution)
    second = store.save_run({"run_id": new_run_id(), "pages": 5})
    assert first != second and first.startswith("R")
    store.save_run({"run_id": second, "pages": 6, "finished": True})
    runs = store.runs()
    assert [r["run_id"] for r in runs] == [second, first]
    assert runs[0]["pages"] == 6 and runs[0]["finished"] is True
    assert all(r["run_id"] == r["_id"] for r in runs)
    assert store.get_run(first) is not None and store.get_run("nope") is None
