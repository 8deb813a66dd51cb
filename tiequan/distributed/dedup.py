"""A run's duplicate filter: scrapy-redis's exact set, or a Bloom filter of bounded size.

scrapy-redis keeps one 40-character hex fingerprint per URL in a Redis set: about 90 bytes
an entry, unbounded (``bench/dedup.py``). The Bloom filter here takes a fixed
``-ln(p) / ln(2)**2`` bits an entry (under 4 bytes at p = 1e-6), sized once when the run is
seeded, at the price of false positives: a URL never seen can be taken for a seen one, and
its page is then not crawled in this run (docs/distributed.md, "Deduplication").

Written by hand over Redis bit arrays: RedisBloom (``BF.ADD``) is not in Debian, and the
Python Bloom filters over Redis on PyPI are unmaintained. One Lua script sets a URL's bits
and says whether all were set already, so two workers adding the same URL at once agree on
which of them saw it first, as ``SADD`` does for the set.

Nothing here imports Scrapy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import redis

from tiequan.settings import DistributedSettings, bloom_bits, bloom_hashes

SET = "set"
BLOOM = "bloom"

# The k bit positions of a fingerprint by double hashing (Kirsch and Mitzenmacher: h1 + i·h2
# mod m loses no accuracy against k independent hashes) of SHA-1(salt .. fingerprint),
# computed here rather than sent: packing k numbers per URL was most of the client's time.
# The salt is the run's id, so the URLs one run takes for seen ones are not the next run's.
# h1 has 52 bits and h2 44, so h1 + i·h2 stays exact in Lua's doubles for i < 256, and
# math.fmod is exact on them. ARGV: bits (m), hashes (k), the fingerprint, the salt.
POSITIONS = """
local m = tonumber(ARGV[1])
local hex = redis.sha1hex(ARGV[4] .. ARGV[3])
local h1 = tonumber(string.sub(hex, 1, 13), 16)
local h2 = tonumber(string.sub(hex, 14, 24), 16)
if h2 % 2 == 0 then h2 = h2 + 1 end
local ops = {}
for i = 0, tonumber(ARGV[2]) - 1 do
  local at = #ops
  ops[at + 1] = OP
  ops[at + 2] = 'u1'
  ops[at + 3] = math.fmod(h1 + i * h2, m)
  if OP == 'SET' then ops[at + 4] = 1 end
end
"""
# KEYS: the bit array, its entry counter. The array is allocated whole by its first add, so
# its memory is what it will be. One BITFIELD sets the k bits and returns their old values
# (one redis.call rather than k SETBITs). Returns the number of entries after the call,
# negated when the fingerprint was (or looks) already there.
BLOOM_ADD = (
    "local OP = 'SET'\n"
    + POSITIONS
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SETBIT', KEYS[1], m - 1, 0) end
for _, old in ipairs(redis.call('BITFIELD', KEYS[1], unpack(ops))) do
  if old == 0 then return redis.call('INCR', KEYS[2]) end
end
return -tonumber(redis.call('GET', KEYS[2]) or '0')
"""
)
# KEYS: the bit array. 1 when all the fingerprint's bits are set.
BLOOM_HAS = (
    "local OP = 'GET'\n"
    + POSITIONS
    + """
for _, bit in ipairs(redis.call('BITFIELD_RO', KEYS[1], unpack(ops))) do
  if bit == 0 then return 0 end
end
return 1
"""
)


@dataclass(frozen=True)
class DedupPlan:
    """How a run deduplicates, fixed when it is seeded: every worker must use the same
    bit count and hash count, or their positions for one URL would differ."""

    kind: str = SET
    capacity: int = 0  # bloom: entries per site the filter is sized for
    error_rate: float = 0.0  # bloom: false-positive rate once ``capacity`` entries are in
    bits: int = 0
    hashes: int = 0

    @classmethod
    def sized(cls, config: DistributedSettings, estimate: int = 0) -> DedupPlan:
        """The plan for a run; a bloom filter holds twice ``estimate`` (the largest site's
        pages in its last recorded run) when that is more than the configured capacity."""
        if config.dedup != BLOOM:
            return cls()
        capacity = max(config.dedup_capacity, 2 * estimate)
        bits = min(bloom_bits(capacity, config.dedup_error_rate), 2**32)
        return cls(BLOOM, capacity, config.dedup_error_rate, bits, bloom_hashes(capacity, bits))

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> DedupPlan:
        return cls(**raw) if raw else cls()

    def false_positive_rate(self, entries: int) -> float:
        """The chance that a new URL is taken for a seen one, with ``entries`` in the filter."""
        if self.kind != BLOOM or entries <= 0:
            return 0.0
        return float((1 - math.exp(-self.hashes * entries / self.bits)) ** self.hashes)


class RedisBloom:
    """A Bloom filter in one Redis string (SETBIT), with a counter of its entries."""

    def __init__(
        self, server: redis.Redis, key: str, count_key: str, plan: DedupPlan, salt: str = ""
    ) -> None:
        if plan.kind != BLOOM:
            raise ValueError(f"a Bloom filter needs a bloom plan, got kind {plan.kind!r}")
        self.server = server
        self.key = key
        self.count_key = count_key
        self.plan = plan
        self.salt = salt
        self.script = server.register_script(BLOOM_ADD)
        self.has_script = server.register_script(BLOOM_HAS)
        self.entries = 0  # as of this client's last add

    def args(self, fingerprint: str) -> list[str | int]:
        return [self.plan.bits, self.plan.hashes, fingerprint, self.salt]

    def add(self, fingerprint: str) -> bool:
        """Add a fingerprint; False when it was (or looks) already there."""
        count = int(self.script(keys=[self.key, self.count_key], args=self.args(fingerprint)))
        self.entries = abs(count)
        return count > 0

    def add_many(self, fingerprints: list[str]) -> list[bool]:
        """``add`` for many, in one round trip (a pipeline)."""
        pipe = self.server.pipeline(transaction=False)
        for fingerprint in fingerprints:
            self.script(keys=[self.key, self.count_key], args=self.args(fingerprint), client=pipe)
        counts = [int(c) for c in pipe.execute()]
        if counts:
            self.entries = abs(counts[-1])
        return [c > 0 for c in counts]

    def contains_many(self, fingerprints: list[str]) -> list[bool]:
        """Whether each fingerprint is (or looks) in the filter; adds nothing."""
        pipe = self.server.pipeline(transaction=False)
        for fingerprint in fingerprints:
            self.has_script(keys=[self.key], args=self.args(fingerprint), client=pipe)
        return [bool(r) for r in pipe.execute()]

    def count(self) -> int:
        return int(self.server.get(self.count_key) or 0)
