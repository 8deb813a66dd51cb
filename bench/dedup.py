"""Memory of a distributed run's duplicate filter in Redis: the exact set against a Bloom filter.

Usage: .venv/bin/python bench/dedup.py [--entries 1000000] [--small 200000] [--no-write]

Starts its own redis-server (Debian's) on a free loopback port, without persistence, and fills,
in the same run:

* the baseline: scrapy-redis's RFPDupeFilter set of 40-character hex SHA-1 fingerprints
  (``TIEQUAN_DEDUP=set``), at ``--small`` and ``--entries`` URLs;
* binary 16-byte fingerprints in a set (measured for comparison; not an option);
* tiequan's Bloom filter (``TIEQUAN_DEDUP=bloom``) sized for ``--entries`` at 1e-4 and at
  1e-6 (the default), filled with as many URLs, and its observed false-positive rate on as
  many URLs never added (up to 100 000 probes).

Memory is Redis's own ``MEMORY USAGE key SAMPLES 0`` (every element counted) and the growth of
``INFO memory`` used_memory; 10M is computed from the per-entry size measured at 1M (the set)
or from the filter's size formula checked against the 1M measurement (the Bloom filter).
Writes section "dedup" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench.report import write_section  # noqa: E402
from tiequan.distributed.dedup import DedupPlan, RedisBloom  # noqa: E402
from tiequan.settings import DistributedSettings  # noqa: E402

BATCH = 10_000
TEN_M = 10_000_000
MAX_PROBES = 100_000


@dataclass(frozen=True)
class Measured:
    name: str
    entries: int
    usage: int  # MEMORY USAGE of the key, bytes
    used: int  # growth of used_memory, bytes
    seconds: float  # to add them, pipelined in batches of BATCH

    @property
    def per_entry(self) -> float:
        return self.usage / self.entries


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], redis.Redis]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    cmd = [
        binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
        "--dir", str(directory), "--daemonize", "no",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_connect_timeout=1)
    for _ in range(200):
        try:
            if client.ping():
                return proc, client
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.terminate()
    raise SystemExit("redis-server did not start")


def fingerprints(prefix: str, n: int) -> Iterator[str]:
    """Hex SHA-1 as scrapy-redis's request_fingerprint makes them (here of made-up URLs)."""
    for i in range(n):
        yield hashlib.sha1(f"{prefix}/item/{i}".encode()).hexdigest()


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def key_usage(client: redis.Redis, key: str) -> int:
    return int(client.memory_usage(key, samples=0) or 0)


def fill_set(client: redis.Redis, key: str, n: int, binary: bool) -> Measured:
    client.delete(key)
    before = used_memory(client)
    started = time.perf_counter()
    batch: list[str | bytes] = []
    for fp in fingerprints("https://mall.example", n):
        batch.append(bytes.fromhex(fp)[:16] if binary else fp)
        if len(batch) == BATCH:
            client.sadd(key, *batch)
            batch = []
    if batch:
        client.sadd(key, *batch)
    assert client.scard(key) == n
    name = "set of 16-byte binary fingerprints" if binary else "set of hex fingerprints (today)"
    seconds = time.perf_counter() - started
    measured = Measured(name, n, key_usage(client, key), used_memory(client) - before, seconds)
    client.delete(key)
    return measured


def fill_bloom(client: redis.Redis, n: int, rate: float) -> tuple[Measured, DedupPlan, float]:
    config = DistributedSettings.from_env(
        {"TIEQUAN_DEDUP": "bloom", "TIEQUAN_DEDUP_CAPACITY": str(n),
         "TIEQUAN_DEDUP_ERROR_RATE": str(rate)}
    )  # fmt: skip
    plan = DedupPlan.sized(config)
    key = f"bench:bloom:{rate:g}"
    client.delete(key, key + ":count")
    before = used_memory(client)
    started = time.perf_counter()
    bloom = RedisBloom(client, key, key + ":count", plan)
    batch: list[str] = []
    for fp in fingerprints("https://mall.example", n):
        batch.append(fp)
        if len(batch) == BATCH:
            bloom.add_many(batch)
            batch = []
    if batch:
        bloom.add_many(batch)
    seconds = time.perf_counter() - started
    usage = key_usage(client, key) + key_usage(client, key + ":count")
    name = f"Bloom filter, p = {rate:g} (k = {plan.hashes})"
    measured = Measured(name, n, usage, used_memory(client) - before, seconds)
    probes = min(n, MAX_PROBES)
    seen = 0
    others = list(fingerprints("https://other.example", probes))
    for i in range(0, probes, BATCH):
        seen += sum(bloom.contains_many(others[i : i + BATCH]))
    client.delete(key, key + ":count")
    return measured, plan, seen / probes


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=200_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        proc, client = start_redis(Path(tmp))
        try:
            version = client.info("server")["redis_version"]
            small = fill_set(client, "bench:set:small", args.small, binary=False)
            base = fill_set(client, "bench:set", args.entries, binary=False)
            binary = fill_set(client, "bench:set:bin", args.entries, binary=True)
            blooms = [fill_bloom(client, args.entries, rate) for rate in (1e-4, 1e-6)]
        finally:
            client.close()
            proc.terminate()
            proc.wait(timeout=10)
    elapsed = time.perf_counter() - started
    n = args.entries
    rows = [
        "| duplicate filter | URLs | MEMORY USAGE | bytes / URL | used_memory growth "
        "| × the set | 10M URLs (computed) | µs / add | observed false positives |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in (small, base, binary):
        rows.append(
            f"| {m.name} | {m.entries:,} | {mib(m.usage)} | {m.per_entry:.1f} | {mib(m.used)} "
            f"| {m.usage / (base.per_entry * m.entries):.2f} "
            f"| {mib(m.per_entry * TEN_M)} | {m.seconds / m.entries * 1e6:.1f} | none (exact) |"
        )
    for m, plan, observed in blooms:
        ten = DedupPlan.sized(
            DistributedSettings.from_env(
                {"TIEQUAN_DEDUP": "bloom", "TIEQUAN_DEDUP_CAPACITY": str(TEN_M),
                 "TIEQUAN_DEDUP_ERROR_RATE": str(plan.error_rate)}
            )
        )  # fmt: skip
        rows.append(
            f"| {m.name} | {m.entries:,} | {mib(m.usage)} | {m.per_entry:.2f} | {mib(m.used)} "
            f"| {m.usage / base.usage:.3f} | {mib(ten.bits / 8)} (× the set "
            f"{ten.bits / 8 / (base.per_entry * TEN_M):.3f}) | {m.seconds / m.entries * 1e6:.1f} "
            f"| {observed:.2g} on {min(n, MAX_PROBES):,} new URLs (sized for {plan.error_rate:g}) |"
        )
    body = "\n".join(
        [
            f"Command: `.venv/bin/python bench/dedup.py --entries {n} --small {args.small}`",
            f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python {platform.python_version()}; "
            f"redis-server {version} (Debian), no persistence; {platform.machine()}, "
            f"{os.cpu_count()} cores, load average {load:.1f} at the start; {elapsed:.0f} s.",
            "",
            *rows,
            "",
            "Baseline: scrapy-redis's set of 40-character hex SHA-1 fingerprints, the run's "
            "duplicate filter with `TIEQUAN_DEDUP=set`, in the same run. A set's memory grows "
            "with every URL (bytes / URL moves by about a tenth with how full Redis's hash "
            "table is, its bucket array doubling as it grows); a Bloom filter's is fixed when "
            "the run is seeded "
            "(`TIEQUAN_DEDUP_CAPACITY` URLs per site at `TIEQUAN_DEDUP_ERROR_RATE`), whatever "
            "is added. 10M: the set from its bytes / URL at "
            f"{n:,}; the Bloom filter from its size formula, -n·ln(p)/ln(2)² bits, which the "
            f"{n:,} row measures. µs / add: wall time per URL added from this client, "
            "pipelined, fingerprinting included (a set takes many members per SADD; the Bloom "
            "filter is one Lua script per URL, a SHA-1 and a BITFIELD of k bits in Redis). "
            "The trade-off is in docs/distributed.md (Deduplication).",
        ]
    )
    print(body)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", "dedup", "Deduplication memory in Redis", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
