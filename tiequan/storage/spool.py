"""The spool: records a stage could not write to the database, kept until they are replayed.

Files live in ``<home>/spool``, one per run and stage: ``<run_id>-<stage>.jsonl``, one
record a line in MongoDB extended JSON (bson.json_util, relaxed), so dates and ids come
back as they went in. Appends hold an fcntl lock on the file.

A replay takes a file over by renaming it to ``.replaying`` (writers that still append
open a new file), writes it in chunks through the stage's writer and, after each chunk,
records the byte offset reached in ``.offset``: an interrupted replay resumes there.
The stage writers are idempotent, so the one chunk an interruption may repeat is harmless.
Lines that do not parse, and records the database refuses, are moved to ``.bad`` beside
the file with one log line naming the file and line; ``.bad`` files are never deleted.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bson import json_util
from bson.errors import BSONError
from pymongo.errors import ConnectionFailure, PyMongoError

from tiequan.storage.connect import resolve_home

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
REPLAYING = ".replaying"
OFFSET = ".offset"
BAD = ".bad"
_LOCK = ".replay.lock"
_ENCODE = json_util.RELAXED_JSON_OPTIONS
_DECODE = json_util.RELAXED_JSON_OPTIONS.with_options(tz_aware=True, tzinfo=UTC)
# What a stage writer raises for a record it cannot store (as opposed to an outage).
REFUSED = (PyMongoError, BSONError, KeyError, TypeError, ValueError)

# Writes ``records`` of run ``run_id`` for one stage; raises ConnectionFailure on an outage.
StageWriter = Callable[[str, list[Any]], None]


def spool_dir(home: Path | None = None) -> Path:
    return resolve_home(home) / "spool"


def spool_path(home: Path | None, run_id: str, stage: str) -> Path:
    return spool_dir(home) / f"{run_id}-{stage}{SUFFIX}"


def split_name(name: str) -> tuple[str, str]:
    """``R20240601T021500-3fa2-store.jsonl`` → (run id, stage)."""
    stem = name.split(SUFFIX, 1)[0]
    run_id, _, stage = stem.rpartition("-")
    return run_id, stage


def encode(record: Any) -> str:
    text: str = json_util.dumps(record, json_options=_ENCODE, ensure_ascii=False, default=str)
    return text


def decode(line: str) -> Any:
    return json_util.loads(line, json_options=_DECODE)


@contextmanager
def _flocked(fh: IO[Any]) -> Iterator[None]:
    fcntl.flock(fh, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fh, fcntl.LOCK_UN)


def append(path: Path, records: Iterable[Any]) -> int:
    """Append ``records`` to the spool file ``path`` (fsynced); returns how many."""
    lines = [encode(r) + "\n" for r in records]
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        with path.open("a", encoding="utf-8") as fh, _flocked(fh):
            try:
                same = os.fstat(fh.fileno()).st_ino == path.stat().st_ino
            except FileNotFoundError:
                same = False
            if not same:
                continue  # a replay took the file over while we waited: open the new one
            fh.writelines(lines)
            fh.flush()
            os.fsync(fh.fileno())
            return len(lines)


@dataclass(frozen=True)
class SpoolFile:
    path: Path
    run_id: str
    stage: str
    records: int  # records still to replay
    oldest: datetime  # the start of its run (from the run id), else the file's last change
    replaying: bool  # an interrupted replay left it half done
    bad: int  # lines kept aside in its .bad file


def _count_lines(path: Path, start: int = 0) -> int:
    with path.open("rb") as fh:
        fh.seek(start)
        return sum(1 for line in fh if line.strip())


def _read_offset(path: Path) -> tuple[int, int]:
    """(byte offset, line number) a replay of ``path`` reached, (0, 0) if none."""
    try:
        data = json.loads(Path(str(path) + OFFSET).read_text(encoding="utf-8"))
        return int(data["offset"]), int(data["line"])
    except FileNotFoundError:
        return 0, 0
    except (OSError, ValueError, KeyError, TypeError) as exc:
        # Starting over is safe: the writers are idempotent.
        log.warning("%s%s unreadable (%s); replaying %s from its start", path, OFFSET, exc, path)
        return 0, 0


def _write_offset(path: Path, offset: int, line: int) -> None:
    target = Path(str(path) + OFFSET)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps({"offset": offset, "line": line}), encoding="utf-8")
    os.replace(tmp, target)


def _base_name(path: Path) -> str:
    return path.name.removesuffix(REPLAYING)


def pending(home: Path | None = None) -> list[Path]:
    """Spool files to replay, interrupted replays first, then by run and stage order."""
    root = spool_dir(home)
    if not root.is_dir():
        return []
    files = [*root.glob(f"*{SUFFIX}{REPLAYING}"), *root.glob(f"*{SUFFIX}")]
    return sorted(files, key=lambda p: (not p.name.endswith(REPLAYING), _base_name(p)))


def status(home: Path | None = None) -> list[SpoolFile]:
    out = []
    for path in pending(home):
        run_id, stage = split_name(path.name)
        replaying = path.name.endswith(REPLAYING)
        start = _read_offset(path)[0] if replaying else 0
        bad = path.with_name(_base_name(path) + BAD)
        changed = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        out.append(
            SpoolFile(
                path=path,
                run_id=run_id,
                stage=stage,
                records=_count_lines(path, start),
                oldest=min(changed, _run_start(run_id) or changed),
                replaying=replaying,
                bad=_count_lines(bad) if bad.exists() else 0,
            )
        )
    return out


def _run_start(run_id: str) -> datetime | None:
    """When a run started, from its id (``R20240601T021500-3fa2``, UTC)."""
    try:
        return datetime.strptime(run_id[1:16], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def bad_files(home: Path | None = None) -> list[Path]:
    root = spool_dir(home)
    return sorted(root.glob(f"*{SUFFIX}{BAD}")) if root.is_dir() else []


@dataclass
class ReplayResult:
    files: int = 0  # files replayed completely
    records: int = 0
    bad: int = 0
    busy: bool = False  # another process holds the replay lock
    unknown: list[Path] = field(default_factory=list)  # no writer for their stage


def replay(
    writers: Mapping[str, StageWriter],
    home: Path | None = None,
    *,
    order: Sequence[str] = (),
    chunk: int = 200,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Replay every spool file through ``writers[stage]``; stops at an outage (resumable).

    ``order``: stages of one run in the order they must be written (others after them).
    ``progress``: called with the number of lines of each chunk handled.
    Raises ConnectionFailure when the database went away; what was written stays written.
    """
    result = ReplayResult()
    root = spool_dir(home)
    if not root.is_dir():
        return result
    with open(root / _LOCK, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            result.busy = True
            return result
        try:
            rank = {stage: i for i, stage in enumerate(order)}

            def key(path: Path) -> tuple[str, int, bool]:
                run_id, stage = split_name(path.name)
                return run_id, rank.get(stage, len(rank)), not path.name.endswith(REPLAYING)

            for path in sorted(pending(home), key=key):
                _run_id, stage = split_name(path.name)
                writer = writers.get(stage)
                if writer is None:
                    log.warning("%s: no writer for stage %r; file left in place", path, stage)
                    result.unknown.append(path)
                    continue
                _replay_file(path, writer, chunk, result, progress)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return result


def _replay_file(
    path: Path,
    writer: StageWriter,
    chunk: int,
    result: ReplayResult,
    progress: Callable[[int], None] | None = None,
) -> None:
    if not path.name.endswith(REPLAYING):
        taken = path.with_name(path.name + REPLAYING)
        if taken.exists():
            return  # an earlier file of this name is half replayed: it goes first, next time
        os.replace(path, taken)
        path = taken
    run_id, _stage = split_name(path.name)
    shown = path.with_name(_base_name(path))  # the name an officer knows it by
    bad_path = path.with_name(_base_name(path) + BAD)
    offset, line_no = _read_offset(path)
    written = 0
    with path.open("rb") as fh, _flocked(fh):  # waits out an append already under way
        fh.seek(offset)
        batch: list[tuple[int, bytes, Any]] = []
        while True:
            raw = fh.readline()
            if raw:
                line_no += 1
                if raw.strip():
                    try:
                        batch.append((line_no, raw, decode(raw.decode("utf-8"))))
                    except (ValueError, UnicodeDecodeError) as exc:
                        _keep_aside(bad_path, raw, f"{shown} line {line_no}: unreadable ({exc})")
                        result.bad += 1
            if batch and (len(batch) >= chunk or not raw):
                written += _write_chunk(shown, bad_path, writer, run_id, batch, result)
                if progress is not None:
                    progress(len(batch))
                batch = []
            if not raw:
                break
            if not batch:
                _write_offset(path, fh.tell(), line_no)
    Path(str(path) + OFFSET).unlink(missing_ok=True)
    path.unlink()
    result.files += 1
    result.records += written
    log.info("暂存区 %s 已补写入数据库：%d 条", shown.name, written)


def _write_chunk(
    shown: Path,
    bad_path: Path,
    writer: StageWriter,
    run_id: str,
    batch: list[tuple[int, bytes, Any]],
    result: ReplayResult,
) -> int:
    try:
        writer(run_id, [record for _, _, record in batch])
        return len(batch)
    except ConnectionFailure:
        raise
    except REFUSED:
        pass  # one record spoils the chunk: find it
    done = 0
    for line_no, raw, record in batch:
        try:
            writer(run_id, [record])
            done += 1
        except ConnectionFailure:
            raise
        except REFUSED as exc:
            message = f"{shown} line {line_no}: refused by the database ({str(exc)[:200]})"
            _keep_aside(bad_path, raw, message)
            result.bad += 1
    return done


def _keep_aside(bad_path: Path, raw: bytes, message: str) -> None:
    log.error("%s; kept in %s", message, bad_path)
    with bad_path.open("ab") as fh:
        fh.write(raw if raw.endswith(b"\n") else raw + b"\n")
