"""Storage: pymongo against a real MongoDB or the embedded SecantusDB subprocess."""

from __future__ import annotations

from tiequan.storage.connect import StorageError, open_database, redact_uri
from tiequan.storage.embedded import EmbeddedServer, EmbeddedServerError
from tiequan.storage.store import Store, new_run_id

__all__ = [
    "EmbeddedServer",
    "EmbeddedServerError",
    "StorageError",
    "Store",
    "new_run_id",
    "open_database",
    "redact_uri",
]
