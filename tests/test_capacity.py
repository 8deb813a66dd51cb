"""The capacity model of bench/capacity.py: workers from measured rates, politeness limits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench.capacity import Night, Rates, main, plan

RATES = Rates(crawl_pages_s=50.0, detect_listings_s=100.0, pages_per_listing=1.3,
              dedup_bytes_per_page=100.0, measured="test")  # fmt: skip


def test_workers_follow_the_measured_rates_over_the_window() -> None:
    p = plan(RATES, Night(listings=1_000_000, sites=40, site_rate=2.0, hours=8))
    assert p.pages == 1_300_000
    assert p.fits and p.polite_hours == pytest.approx(1_300_000 / 80 / 3600)
    assert p.crawl_workers == 1  # 45 pages/s needed, 50 per worker
    assert p.detect_workers == 1
    assert p.machines(2) == 2 and p.machines(8) == 1  # Redis and the database take a core
    assert p.redis_mb == pytest.approx(1_300_000 * 100 / 2**20)


def test_politeness_not_workers_bounds_a_big_night() -> None:
    p = plan(RATES, Night(listings=20_000_000, sites=40, site_rate=2.0, hours=8))
    assert not p.fits and p.polite_hours > 8
    # Workers only need to keep pace with the sites over the longer night: 80 pages/s.
    assert p.crawl_workers == 2


def test_a_missing_rates_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=re.escape("run bench/scale.py first")):
        main(["--rates", str(tmp_path / "none.json")])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"per_worker": {"crawl_pages_s": 1}}), encoding="utf-8")
    with pytest.raises(SystemExit, match="missing or bad field 'detect_listings_s'"):
        main(["--rates", str(bad)])
