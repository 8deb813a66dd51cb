"""The model registry: every trained model version, its evidence, and which one is live.

A version's files (JSON and npz, no pickle) are stored content-addressed under the model
directory (``<model dir>/registry/<sha256[:2]>/<sha256>``); its record (file hashes,
training-data manifest and hash, code and library versions, metrics, who trained it and
when) is a document of the ``models`` collection. The aliases ``live`` and ``candidate``
are an append-only history in ``model_aliases`` (who set them, when, why, and whether the
gate was overridden): the newest entry of an alias is its value, and the history shows
which version was live when.

Loading re-hashes every file against the record and refuses, naming the file, when one
does not match, so a replaced or damaged file never reaches the detector.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from detectors.combine import ListingDetector
from detectors.config import default_config_dir
from detectors.model_store import MODEL_FILES, MODEL_VERSION, build, restore
from tiequan.models.metrics import Scores
from tiequan.storage.store import INDEXES, MODEL_ALIASES, MODELS, utcnow

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")

LIVE = "live"
CANDIDATE = "candidate"
ALIASES = (LIVE, CANDIDATE)
RECORD_SCHEMA = 1
# The splits a record's metrics are computed on (tiequan.models.training).
REFERENCE_TEST = "reference_test"
CORPUS_TEST = "corpus_test"


class RegistryError(RuntimeError):
    """A registry operation that cannot be done; the message is one line for the CLI."""


class ModelIntegrityError(RegistryError):
    """A stored model file is missing or does not match its record's hash."""


@dataclass(frozen=True)
class ManifestEntry:
    """One training example as the manifest records it: where from, which, what label."""

    source: str  # corpus:train, reference:train, reference:dev, decision, tip
    id: str
    text_sha256: str  # of the normalised text, the de-duplication key
    labels: tuple[str, ...]

    def to_doc(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "id": self.id,
            "text_sha256": self.text_sha256,
            "labels": list(self.labels),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> ManifestEntry:
        return cls(
            str(doc["source"]),
            str(doc["id"]),
            str(doc["text_sha256"]),
            tuple(str(x) for x in doc["labels"]),
        )


def manifest_hash(entries: list[ManifestEntry], seed: int) -> str:
    """The hash of the exact training data (entries in order) and the seed."""
    digest = hashlib.sha256(f"seed={seed}\n".encode())
    for e in entries:
        digest.update(f"{e.source}\t{e.id}\t{e.text_sha256}\t{','.join(e.labels)}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelRecord:
    version: str
    files: dict[str, str]  # file name: sha256
    size_bytes: int
    data_hash: str
    manifest: tuple[ManifestEntry, ...]
    seed: int
    code_version: str  # MODEL_VERSION and the package version
    libraries: dict[str, str]
    metrics: dict[str, dict[str, Any]]  # split: Scores.to_json()
    trained_by: str
    trained_at: datetime
    train_seconds: float
    sources: dict[str, int] = field(default_factory=dict)  # examples per manifest source
    schema: int = RECORD_SCHEMA

    def scores(self, split: str) -> Scores:
        if split not in self.metrics:
            raise RegistryError(f"模型 {self.version} 没有 {split} 的评测结果")
        return Scores.from_json(self.metrics[split])

    def to_doc(self) -> dict[str, Any]:
        return {
            "_id": self.version,
            "schema": self.schema,
            "files": self.files,
            "size_bytes": self.size_bytes,
            "data_hash": self.data_hash,
            "manifest": [e.to_doc() for e in self.manifest],
            "seed": self.seed,
            "code_version": self.code_version,
            "libraries": self.libraries,
            "metrics": self.metrics,
            "trained_by": self.trained_by,
            "trained_at": self.trained_at,
            "train_seconds": self.train_seconds,
            "sources": self.sources,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> ModelRecord:
        at: datetime = doc["trained_at"]
        return cls(
            version=str(doc["_id"]),
            files={str(k): str(v) for k, v in doc["files"].items()},
            size_bytes=int(doc["size_bytes"]),
            data_hash=str(doc["data_hash"]),
            manifest=tuple(ManifestEntry.from_doc(e) for e in doc["manifest"]),
            seed=int(doc["seed"]),
            code_version=str(doc["code_version"]),
            libraries={str(k): str(v) for k, v in doc["libraries"].items()},
            metrics=dict(doc["metrics"]),
            trained_by=str(doc["trained_by"]),
            trained_at=at if at.tzinfo else at.replace(tzinfo=UTC),
            train_seconds=float(doc["train_seconds"]),
            sources={str(k): int(v) for k, v in (doc.get("sources") or {}).items()},
            schema=int(doc.get("schema", RECORD_SCHEMA)),
        )


class Unchecked:
    """The type of ``UNCHECKED``: an alias change made whatever the alias points at now."""


UNCHECKED = Unchecked()


@dataclass(frozen=True)
class AliasChange:
    """One setting of an alias: which version, the one before, who, when, why."""

    alias: str
    version: str
    previous: str | None
    by: str
    at: datetime
    reason: str
    forced: bool = False

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> AliasChange:
        at: datetime = doc["at"]
        return cls(
            alias=str(doc["alias"]),
            version=str(doc["version"]),
            previous=doc.get("previous"),
            by=str(doc["by"]),
            at=at if at.tzinfo else at.replace(tzinfo=UTC),
            reason=str(doc.get("reason") or ""),
            forced=bool(doc.get("forced")),
        )


def version_of(files: Mapping[str, str]) -> str:
    """A version id from the file hashes: the same model bytes, the same version."""
    digest = hashlib.sha256("".join(f"{n}={files[n]}\n" for n in sorted(files)).encode())
    return f"v{MODEL_VERSION}-{digest.hexdigest()[:12]}"


class ModelFiles:
    """The content-addressed store of model files under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root / "registry"

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, files: Mapping[str, bytes]) -> dict[str, str]:
        """Store ``files``; their hashes by name. A file already stored is not rewritten."""
        hashes: dict[str, str] = {}
        for name, data in files.items():
            sha = hashlib.sha256(data).hexdigest()
            hashes[name] = sha
            target = self.path(sha)
            if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, staging = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(staging, target)  # atomic: a reader sees the whole file or none
        return hashes

    def read(self, record: ModelRecord) -> dict[str, bytes]:
        """The record's files, each checked against its hash; else ModelIntegrityError."""
        out: dict[str, bytes] = {}
        for name in MODEL_FILES:
            sha = record.files.get(name)
            if sha is None or not _SHA256.fullmatch(sha):
                raise ModelIntegrityError(
                    f"模型 {record.version} 的记录中文件 {name} 的哈希缺失或无效"
                )
            path = self.path(sha)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise ModelIntegrityError(
                    f"模型 {record.version} 的文件 {name} 无法读取（{path}）：{exc.strerror}"
                ) from exc
            actual = hashlib.sha256(data).hexdigest()
            if actual != sha:
                raise ModelIntegrityError(
                    f"模型 {record.version} 的文件 {name}（{path}）与登记的哈希不符"
                    f"（登记 {sha[:12]}…，实际 {actual[:12]}…），拒绝加载"
                )
            out[name] = data
        return out


class Registry:
    """Model records and aliases in ``db``, their files under ``model_dir``."""

    def __init__(self, db: Database[dict[str, Any]], model_dir: Path) -> None:
        self.db = db
        self.records = db[MODELS]
        self.aliases = db[MODEL_ALIASES]
        self.files = ModelFiles(model_dir)

    def ensure_indexes(self) -> None:
        for name in (MODELS, MODEL_ALIASES):
            self.db[name].create_indexes(INDEXES[name])

    def register(self, record: ModelRecord, files: Mapping[str, bytes]) -> ModelRecord:
        """Store ``files`` and ``record`` (the same version again replaces its record)."""
        hashes = self.files.put(files)
        if hashes != record.files:
            raise RegistryError(f"模型 {record.version} 的文件与记录的哈希不一致")
        self.ensure_indexes()
        self.records.replace_one({"_id": record.version}, record.to_doc(), upsert=True)
        return record

    def get(self, version: str) -> ModelRecord:
        doc = self.records.find_one({"_id": version})
        if doc is None:
            raise RegistryError(f"没有模型版本 {version}（tiequan models list 列出已登记的版本）")
        return ModelRecord.from_doc(doc)

    def all(self) -> list[ModelRecord]:
        """Every record, newest first."""
        docs = self.records.find({}, sort=[("trained_at", DESCENDING), ("_id", DESCENDING)])
        return [ModelRecord.from_doc(d) for d in docs]

    def alias(self, name: str) -> str | None:
        """The version ``name`` points at now (None: never set)."""
        doc = self.aliases.find_one(
            {"alias": name}, {"version": 1}, sort=[("at", DESCENDING), ("_id", DESCENDING)]
        )
        return str(doc["version"]) if doc else None

    def history(self, name: str | None = None) -> list[AliasChange]:
        """Alias changes, newest first (of ``name`` only, when given)."""
        query = {"alias": name} if name else {}
        docs = self.aliases.find(query, sort=[("at", DESCENDING), ("_id", DESCENDING)])
        return [AliasChange.from_doc(d) for d in docs]

    def set_alias(
        self,
        name: str,
        version: str,
        *,
        by: str,
        reason: str,
        forced: bool = False,
        expect: str | Unchecked | None = UNCHECKED,
    ) -> AliasChange:
        """Point ``name`` at ``version``. ``expect``: the version the caller judged the
        change against (the gate's live model); if another change came first, refuse.

        Each change's ``_id`` is its alias and sequence number, one past the change it
        follows, so of two changes made against the same head the second fails on the
        unique ``_id`` instead of both naming the same ``previous``."""
        if name not in ALIASES:
            raise RegistryError(f"未知别名 {name}；可选：{'、'.join(ALIASES)}")
        self.get(version)
        self.ensure_indexes()
        head = self.aliases.find_one(
            {"alias": name},
            {"version": 1, "seq": 1},
            sort=[("at", DESCENDING), ("_id", DESCENDING)],
        )
        previous = str(head["version"]) if head else None
        if not isinstance(expect, Unchecked) and expect != previous:
            raise RegistryError(
                f"别名 {name} 已被另一操作改为 {previous or '（空）'}（本次依据的是 "
                f"{expect or '（空）'}），请重新执行"
            )
        seq = int(head.get("seq", 0)) + 1 if head else 1
        change = AliasChange(name, version, previous, by, utcnow(), reason, forced)
        try:
            self.aliases.insert_one(
                {
                    "_id": f"{name}#{seq:06d}",
                    "seq": seq,
                    "alias": change.alias,
                    "version": change.version,
                    "previous": change.previous,
                    "by": change.by,
                    "at": change.at,
                    "reason": change.reason,
                    "forced": change.forced,
                }
            )
        except DuplicateKeyError as exc:
            raise RegistryError(f"别名 {name} 同时被另一操作修改，本次未生效，请重新执行") from exc
        log.info("model alias %s -> %s (by %s)", name, version, by)
        return change

    def load(
        self, version: str, config_dir: Path | None = None, *, like: ListingDetector | None = None
    ) -> ListingDetector:
        """The detector of ``version``, its files verified; ModelIntegrityError if not."""
        return self.load_record(self.get(version), config_dir, like=like)

    def load_record(
        self,
        record: ModelRecord,
        config_dir: Path | None = None,
        *,
        like: ListingDetector | None = None,
    ) -> ListingDetector:
        """``like``: a loaded detector whose rules the new one shares (a reload in a running
        sweep: compiling the rules is most of a load, restoring the model a few ms)."""
        files = self.files.read(record)
        if like is None:
            detector = build(ListingDetector, config_dir or default_config_dir())
        else:
            detector = ListingDetector(
                like.rules, like.model, window=like.window, trigger_words=like.trigger_words,
                max_chars=like.max_chars, short_text=like.short_text,
                articles=like.articles, names=like.names,
            )  # fmt: skip
        try:
            return restore(detector, files, record.version)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelIntegrityError(f"模型 {record.version} 的文件内容无法读取：{exc}") from exc
