"""How many workers and machines a night of 1, 5 and 20 million listings needs.

Usage: .venv/bin/python bench/capacity.py [--rates bench/results/scale.json]
       [--listings 1e6 5e6 2e7] [--sites 40] [--site-rate 2.0] [--hours 8]
       [--cores 2 8]

The rates are what ``bench/scale.py`` measured on this machine: pages/s of one crawl worker
and listings/s of one detection worker, each taken from the two-worker runs (two workers
sharing two cores with Redis and the database is the conservative figure). The model:

* pages a night = listings x pages per listing (the sandbox mall's measured ratio);
* politeness caps each site at ``--site-rate`` pages/s (the default profile's
  DOWNLOAD_DELAY 0.5 s with AutoThrottle: about 2 requests/s per domain), so the night
  needs at least pages / (sites x site-rate) seconds however many workers run;
* crawl workers = pages/s needed / pages/s per crawl worker, detection workers =
  listings/s needed / listings/s per detection worker (rounded up), one core each;
* machines = workers / cores per machine, plus one core each for Redis and the database
  on the first machine;
* Redis holds one run's duplicate filter: pages x bytes per fingerprint (bench/dedup.py).

The crawl rates are CPU-bound rates against the local sandbox (no network latency): on real
platforms a worker waits on the network, so its CONCURRENT_REQUESTS (16) spread over many
sites keeps it near that rate only while it has enough sites; politeness, not CPU, is the
limit a county or provincial night meets first.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RATES = ROOT / "bench" / "results" / "scale.json"
SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class Rates:
    """Measured per-worker rates (bench/scale.py) and the sizes the model multiplies."""

    crawl_pages_s: float  # one crawl worker
    detect_listings_s: float  # one detection worker
    pages_per_listing: float
    dedup_bytes_per_page: float
    measured: str  # when and where, for the table's caption

    @classmethod
    def load(cls, path: Path) -> Rates:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            sys.exit(f"{path}: no measured rates; run bench/scale.py first")
        except json.JSONDecodeError as exc:
            sys.exit(f"{path}: not JSON ({exc})")
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            sys.exit(f"{path}: missing or bad field {exc}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rates:
        """The rates as bench/scale.py writes them (bench/results/scale.json)."""
        return cls(
            crawl_pages_s=float(data["per_worker"]["crawl_pages_s"]),
            detect_listings_s=float(data["per_worker"]["detect_listings_s"]),
            pages_per_listing=float(data["pages_per_listing"]),
            dedup_bytes_per_page=float(data.get("dedup_bytes_per_page") or 100.0),
            measured=str(data.get("measured", "?")),
        )


@dataclass(frozen=True)
class Night:
    listings: int
    sites: int
    site_rate: float  # pages/s per site (politeness)
    hours: float


@dataclass(frozen=True)
class Plan:
    night: Night
    pages: int
    polite_hours: float  # the shortest night politeness allows
    crawl_workers: int
    detect_workers: int
    redis_mb: float

    @property
    def fits(self) -> bool:
        return self.polite_hours <= self.night.hours

    def machines(self, cores: int) -> int:
        # Redis and the database take a core between them on the first machine.
        return math.ceil((self.crawl_workers + self.detect_workers + 1) / cores)


def plan(rates: Rates, night: Night) -> Plan:
    pages = round(night.listings * rates.pages_per_listing)
    seconds = night.hours * SECONDS_PER_HOUR
    polite_hours = pages / (night.sites * night.site_rate) / SECONDS_PER_HOUR
    # When politeness makes the night longer than the window, the workers only need to
    # keep up with the sites' pace over the longer night.
    span = max(seconds, polite_hours * SECONDS_PER_HOUR)
    return Plan(
        night=night,
        pages=pages,
        polite_hours=polite_hours,
        crawl_workers=math.ceil(pages / span / rates.crawl_pages_s),
        detect_workers=math.ceil(night.listings / span / rates.detect_listings_s),
        redis_mb=pages * rates.dedup_bytes_per_page / 2**20,
    )


def table(rates: Rates, plans: list[Plan], cores: list[int]) -> str:
    heads = ["listings", "pages", "sites x pages/s", "shortest polite night (h)",
             "fits the window", "crawl workers", "detection workers",
             *(f"machines of {c} cores" for c in cores), "Redis dedup (MB)"]  # fmt: skip
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for p in plans:
        n = p.night
        fits = "yes" if p.fits else f"no: needs {n.hours:g} h x {p.polite_hours / n.hours:.1f}"
        cells = [f"{n.listings:,}", f"{p.pages:,}", f"{n.sites} x {n.site_rate:g}",
                 f"{p.polite_hours:.1f}", fits, str(p.crawl_workers), str(p.detect_workers),
                 *(str(p.machines(c)) for c in cores), f"{p.redis_mb:,.0f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    caption = (
        f"Per-worker rates ({rates.measured}): crawl {rates.crawl_pages_s:.1f} pages/s, "
        f"detection {rates.detect_listings_s:.1f} listings/s; "
        f"{rates.pages_per_listing:.2f} pages per listing; "
        f"{rates.dedup_bytes_per_page:.0f} bytes of Redis per fingerprint."
    )
    return caption + "\n\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", type=Path, default=RATES)
    parser.add_argument("--listings", type=float, nargs="+", default=[1e6, 5e6, 2e7])
    parser.add_argument("--sites", type=int, default=40, help="sites the listings spread over")
    parser.add_argument("--site-rate", type=float, default=2.0, help="polite pages/s per site")
    parser.add_argument("--hours", type=float, default=8.0, help="the night's window")
    parser.add_argument("--cores", type=int, nargs="+", default=[2, 8])
    args = parser.parse_args(argv)
    if args.sites < 1 or args.site_rate <= 0 or args.hours <= 0:
        parser.error("--sites, --site-rate and --hours must be positive")
    rates = Rates.load(args.rates)
    plans = [plan(rates, Night(round(n), args.sites, args.site_rate, args.hours))
             for n in args.listings]  # fmt: skip
    print(table(rates, plans, args.cores))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
