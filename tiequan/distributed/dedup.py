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

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import redis

from tiequan.settings import DistributedSettings, bloom_bits, bloom_hashes

SET = "set"
BLOOM = "bloom"

# KEYS: the bit array, its entry counter; ARGV[1]: the array's last bit (allocated at once,
# so its memory is what it will be), then the bit positions of one entry. Returns the
# number of entries after the call, negated when the entry was already there.
BLOOM_ADD = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SETBIT', KEYS[1], ARGV[1], 0) end
local new = 0
for i = 2, #ARGV do
  if redis.call('SETBIT', KEYS[1], ARGV[i], 1) == 0 then new = 1 end
end
if new == 1 then return redis.call('INCR', KEYS[2]) end
return -tonumber(redis.call('GET', KEYS[2]) or '0')
"""
# KEYS: the bit array; ARGV: the bit positions of one entry. 1 when all are set.
BLOOM_HAS = """
for i = 1, #ARGV do
  if redis.call('GETBIT', KEYS[1], ARGV[i]) == 0 then return 0 end
end
return 1
"""


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

    def positions(self, fingerprint: str) -> list[int]:
        """The filter's bits of one fingerprint, by double hashing (Kirsch and Mitzenmacher:
        two 64-bit hashes give all k positions without losing accuracy)."""
        digest = hashlib.blake2b(fingerprint.encode(), digest_size=16).digest()
        h1 = int.from_bytes(digest[:8], "little")
        h2 = int.from_bytes(digest[8:], "little") | 1
        return [(h1 + i * h2) % self.bits for i in range(self.hashes)]


class RedisBloom:
    """A Bloom filter in one Redis string (SETBIT), with a counter of its entries."""

    def __init__(self, server: redis.Redis, key: str, count_key: str, plan: DedupPlan) -> None:
        if plan.kind != BLOOM:
            raise ValueError(f"a Bloom filter needs a bloom plan, got kind {plan.kind!r}")
        self.server = server
        self.key = key
        self.count_key = count_key
        self.plan = plan
        self.script = server.register_script(BLOOM_ADD)
        self.has_script = server.register_script(BLOOM_HAS)
        self.entries = 0  # as of this client's last add

    def add(self, fingerprint: str) -> bool:
        """Add a fingerprint; False when it was (or looks) already there."""
        args = [self.plan.bits - 1, *self.plan.positions(fingerprint)]
        count = int(self.script(keys=[self.key, self.count_key], args=args))
        self.entries = abs(count)
        return count > 0

    def add_many(self, fingerprints: list[str]) -> list[bool]:
        """``add`` for many, in one round trip (a pipeline)."""
        pipe = self.server.pipeline(transaction=False)
        for fingerprint in fingerprints:
            args = [self.plan.bits - 1, *self.plan.positions(fingerprint)]
            self.script(keys=[self.key, self.count_key], args=args, client=pipe)
        counts = [int(c) for c in pipe.execute()]
        if counts:
            self.entries = abs(counts[-1])
        return [c > 0 for c in counts]

    def contains_many(self, fingerprints: list[str]) -> list[bool]:
        """Whether each fingerprint is (or looks) in the filter; adds nothing."""
        pipe = self.server.pipeline(transaction=False)
        for fingerprint in fingerprints:
            self.has_script(keys=[self.key], args=self.plan.positions(fingerprint), client=pipe)
        return [bool(r) for r in pipe.execute()]

    def count(self) -> int:
        return int(self.server.get(self.count_key) or 0)
