"""The options tiequan starts its embedded server with are the ones in effect."""

from __future__ import annotations

import uuid
from typing import Any

from pymongo import MongoClient

from tiequan.storage.embedded import EmbeddedServer


def test_embedded_server_keeps_no_oplog_after_many_writes(mongo_server: EmbeddedServer) -> None:
    # More writes than the server's prune interval (1,000), where a kept oplog was pruned.
    client: MongoClient[dict[str, Any]] = MongoClient(
        mongo_server.uri, serverSelectionTimeoutMS=5000
    )
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        coll = client[name]["writes"]
        coll.insert_many([{"n": n} for n in range(1500)])
        coll.update_many({}, {"$set": {"seen": True}})
        assert coll.count_documents({"seen": True}) == 1500
        assert "setName" not in client.admin.command("hello")
        assert "oplog.rs" not in client["local"].list_collection_names()
    finally:
        client.drop_database(name)
        client.close()
