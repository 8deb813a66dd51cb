"""Every TIEQUAN_* setting and its default, declared once (as Scrapy's default_settings.py).

Two kinds:

* ``PROCESS`` settings say where things are (data directory, database, configuration,
  models, evidence). They are read from the environment once, by ``environment()``, into
  an ``Environment`` that is passed down; no other module reads them from ``os.environ``.
  (``detectors`` may not import this package: callers hand it the directories; its
  own fallbacks for library use read the same names.)
* ``CRAWL`` settings tune the sweep's components. They are Scrapy settings:
  ``crawlers/settings.py`` takes their defaults from here, ``tiequan sweep --set NAME=VALUE``
  overrides them, and each component parses them in ``from_crawler``
  (``pipelines.config.PipelineConfig``, ``OcrConfig``, ``EvidenceConfig``) with
  ``int_setting``/``float_setting``, whose errors name the setting and the value.

``tests/test_settings.py`` checks that every TIEQUAN_* name used in the code is declared.
"""

from __future__ import annotations

import functools
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The shipped configuration. detectors.config names it too: that layer imports nothing
# of tiequan, and this module may import no detector (tiequan.storage uses it).
REPO_CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
DEFAULT_DB = "tiequan"
LEASE = "TIEQUAN_CLAIM_LEASE_MINUTES"
EVIDENCE_STORES = ("dir", "gridfs")


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


PROCESS = (
    Setting("TIEQUAN_HOME", "./var", "data directory: embedded database, evidence, runs, spool"),
    Setting("TIEQUAN_MONGO_URI", None, "a MongoDB server to use instead of the embedded one"),
    Setting("TIEQUAN_DB", DEFAULT_DB, "database name"),
    Setting("TIEQUAN_CONFIG_DIR", None, "configuration directory (default: the shipped config/)"),
    Setting("TIEQUAN_SITES_DIR", None, "site profiles, os.pathsep-joined (default: config/sites)"),
    Setting("TIEQUAN_MODEL_DIR", None, "trained-model cache (default: $TIEQUAN_HOME/models)"),
    Setting("TIEQUAN_EVIDENCE_DIR", None, "evidence files (default: $TIEQUAN_HOME/evidence)"),
    Setting(
        "TIEQUAN_EVIDENCE_STORE",
        "dir",
        "where evidence files go: dir (the evidence directory) or gridfs (GridFS in the database)",
    ),
    Setting("TIEQUAN_CHROMIUM", None, "the Chromium binary (default: Debian's, found on PATH)"),
    Setting("TIEQUAN_CONTACT", None, "the bureau's URL or e-mail, added to the user agent"),
    Setting(
        "TIEQUAN_CLAIM_LEASE_MINUTES", 30, "minutes a reviewer's claim on a lead holds (1–1440)"
    ),
    Setting("TIEQUAN_DB_CACHE", "16M", "the embedded server's WiredTiger cache (e.g. 16M, 1G)"),
)

CRAWL = (
    Setting("TIEQUAN_RUN_ID", "adhoc", "the sweep's run id (set by the sweep runner)"),
    Setting("TIEQUAN_BATCH_SIZE", 200, "records per database write (1–10000)"),
    Setting("TIEQUAN_FLUSH_SECONDS", 5.0, "timed flush of the batch buffers (0: off)"),
    Setting("TIEQUAN_MIN_SCORE", 0.5, "findings below this score are dropped (0–1)"),
    Setting(
        "TIEQUAN_MODEL_RECHECK_SECONDS", 30.0, "how often a sweep re-reads the live model alias"
    ),
    Setting("TIEQUAN_MAX_FIELD_CHARS", 1_000_000, "longer text fields are cut (stage 100)"),
    Setting("TIEQUAN_DB_TIMEOUT", 2.0, "seconds a write waits before it counts as an outage"),
    Setting("TIEQUAN_DB_PROBE_SECONDS", 5.0, "how often an outage is probed"),
    Setting("TIEQUAN_PROGRESS_INTERVAL", 0, "seconds between progress lines (0: off)"),
    Setting("TIEQUAN_FOLLOWUP_FILE", None, "takedown follow-up plan (written by the runner)"),
    Setting("TIEQUAN_FOLLOWUP_NOT_SEEN", True, "record plan listings the crawl missed (stage 650)"),
    Setting("TIEQUAN_RECRAWL", True, "skip unchanged pages and listings (pipelines.recrawl)"),
    Setting("TIEQUAN_OCR_ENABLED", True, "read the text in product images (stage 350)"),
    Setting("TIEQUAN_OCR_MAX_IMAGES", 4, "images read per listing"),
    Setting("TIEQUAN_OCR_CACHE_DIR", None, "OCR results by image hash (default: under home)"),
    Setting("TIEQUAN_OCR_THREADS", 2, "OCR worker threads"),
    Setting("TIEQUAN_OCR_MIN_CONFIDENCE", 0.5, "OCR lines below this confidence are dropped"),
    Setting("TIEQUAN_OCR_MAX_BYTES", 12_000_000, "larger images are not read"),
    Setting("TIEQUAN_EVIDENCE_SCREENSHOTS", True, "full-page screenshots of flagged pages"),
    Setting("TIEQUAN_EVIDENCE_SCREENSHOT_CONCURRENCY", 2, "screenshots taken at once"),
    Setting("TIEQUAN_EVIDENCE_SCREENSHOT_WAIT", "load", "live screenshots wait for: load, …"),
    Setting("TIEQUAN_EVIDENCE_LIVE_SCREENSHOT", False, "also screenshot the page fetched again"),
    Setting("TIEQUAN_PRICE_HISTORY", "auto", "price-fraud checks: auto, true or false"),
    Setting("TIEQUAN_PRICE_HISTORY_DAYS", 30.0, "days of earlier captures compared"),
    Setting("TIEQUAN_PRICE_HISTORY_MAX_LISTINGS", 200_000, "listings whose history is held"),
    Setting("TIEQUAN_HISTORY_UNTIL", None, "price history ends here (ISO 8601; default: now)"),
    Setting("TIEQUAN_LIVE_MODEL_VERSION", None, "live model of a crawl detected elsewhere"),
    Setting("TIEQUAN_TRACEMALLOC", None, "write where memory grew to this file (slow; memtrace)"),
    # Crawl health (crawlers.health): thresholds of the Spidermon monitors run at spider close.
    Setting("TIEQUAN_HEALTH_RUNS_COMPARED", 5, "finished runs of the site the item count meets"),
    Setting("TIEQUAN_HEALTH_MIN_ITEMS_RATIO", 0.5, "alert below this share of their median"),
    Setting("TIEQUAN_HEALTH_MAX_ERROR_RATE", 0.05, "alert above this many errors per request"),
    Setting("TIEQUAN_HEALTH_MAX_RETRY_RATE", 0.2, "alert above this many retries per request"),
    Setting("TIEQUAN_HEALTH_MAX_429_RATE", 0.05, "alert above this share of 429 responses"),
    Setting("TIEQUAN_HEALTH_MAX_ROBOTS_SHARE", 0.5, "alert above this share of robots.txt blocks"),
    # pipelines.frontier: the request queue and seen-set in the database (resumable)
    Setting("TIEQUAN_DURABLE_FRONTIER", False, "keep the crawl frontier in the database"),
    Setting("TIEQUAN_FRONTIER_RESUME", False, "continue the site's unfinished crawl"),
    Setting("TIEQUAN_FRONTIER_LEASE_SECONDS", 300.0, "a taken request's lease (1–86400)"),
    Setting("TIEQUAN_FRONTIER_MAX_AGE_HOURS", 20.0, "an older unfinished crawl starts afresh"),
)

# `tiequan scheduler run` (tiequan.scheduling), read by ``scheduler_settings()``.
SCHEDULER = (
    Setting("TIEQUAN_SCHEDULER_TIMEZONE", "Asia/Shanghai", "time zone of the cron schedules"),
    Setting("TIEQUAN_SCHEDULER_DEFAULT_CRON", "0 2 * * *", "schedule of a profile without one"),
    Setting("TIEQUAN_SCHEDULER_MISFIRE_HOURS", 6.0, "a run missed by less is still started"),
    Setting("TIEQUAN_SCHEDULER_SWEEP_LIMIT", 14_400.0, "seconds before a sweep is killed"),
    Setting("TIEQUAN_SCHEDULER_LEASE_SECONDS", 60.0, "lease length; a standby takes over after"),
    Setting("TIEQUAN_SCHEDULER_HEARTBEAT", 10.0, "seconds between lease renewals and job reads"),
    Setting("TIEQUAN_SCHEDULER_WORKERS", 2, "sweeps (child processes) run at once"),
    Setting(
        "TIEQUAN_SCHEDULER_SWEEP_COMMAND",
        "{python} -m tiequan sweep --site {site} --run-id {run_id} --report {report} --resume",
        "child command; placeholders {python} {site} {run_id} {report}",
    ),
)

# How every command logs (tiequan.logs), read by ``log_format()``; ``--log-json`` also sets it.
LOGGING = (Setting("TIEQUAN_LOG_FORMAT", "text", "log lines: text, or json (one object per line)"),)
LOG_FORMATS = ("text", "json")

# Where crawl-health alerts go (crawlers.health.actions), read by ``alert_settings()``.
ALERTS = (
    Setting("TIEQUAN_ALERT_WEBHOOK", None, "URL that alerts are POSTed to as JSON"),
    Setting("TIEQUAN_ALERT_SMTP", None, "host:port of the SMTP server that mails alerts"),
    Setting("TIEQUAN_ALERT_TO", None, "comma-separated e-mail addresses of the alerts"),
    Setting("TIEQUAN_ALERT_FROM", "tiequan@localhost", "sender address of alert e-mails"),
    Setting("TIEQUAN_ALERT_TIMEOUT", 5.0, "seconds a webhook or SMTP delivery may take"),
)

# Distributed crawling (tiequan.distributed): `tiequan sweep --distributed` and `tiequan worker`,
# read by ``distributed_settings()``; a worker hands them to its crawlers as Scrapy settings.
DISTRIBUTED = (
    Setting("TIEQUAN_REDIS_URL", "redis://127.0.0.1:6379/0", "the Redis of distributed runs"),
    Setting("TIEQUAN_WORKER_ID", None, "this worker's name in a run (default: host:pid:random)"),
    Setting(
        "TIEQUAN_WORKER_LEASE_SECONDS", 60.0, "a silent worker's requests return after (1–3600)"
    ),
    Setting("TIEQUAN_REDIS_OUTAGE_SECONDS", 120.0, "how long a worker waits for Redis (1–3600)"),
    Setting("TIEQUAN_RUN_KEYS_HOURS", 48.0, "an idle or finished run's Redis keys expire after"),
    Setting("TIEQUAN_DEDUP", "set", "a run's duplicate filter: set (exact) or bloom (bounded)"),
    Setting(
        "TIEQUAN_DEDUP_CAPACITY", 2_000_000, "bloom: URLs per site per run it is sized for (1000–)"
    ),
    Setting(
        "TIEQUAN_DEDUP_ERROR_RATE", 1e-6, "bloom: false-positive rate at capacity (1e-12–0.01)"
    ),
    Setting(
        "TIEQUAN_DETECTION",
        "workers",
        "where a distributed run detects: workers (tiequan detect-worker) or inline",
    ),
    Setting("TIEQUAN_DETECT_BATCH", 50, "listings a detection worker takes at once (1–1000)"),
)
DEDUP_KINDS = ("set", "bloom")
# A Redis string holds at most 2**32 bits (512 MB): the largest Bloom filter of one key.
MAX_BLOOM_BITS = 2**32
DETECTION_MODES = ("workers", "inline")

SETTINGS = {s.name: s for s in (*PROCESS, *CRAWL, *SCHEDULER, *LOGGING, *ALERTS, *DISTRIBUTED)}
CRAWL_DEFAULTS = {s.name: s.default for s in CRAWL}


def default(name: str) -> Any:
    return SETTINGS[name].default


class SettingError(ValueError):
    """A setting has a value it cannot take; the message names both."""


def _number(raw: Any, name: str, kind: type[int] | type[float], lo: float, hi: float) -> Any:
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = kind(raw)
        if kind is float and value != value:  # NaN
            raise ValueError
    except (TypeError, ValueError):
        value = None
    if value is None or not lo <= value <= hi:
        what = "a whole number" if kind is int else "a number"
        raise SettingError(f"{name} must be {what} between {lo:g} and {hi:g}, got {raw!r}")
    return value


def int_setting(settings: Any, name: str, lo: int, hi: int) -> int:
    """An int Scrapy setting within [lo, hi], its declared default when unset."""
    raw = settings.get(name)
    return int(_number(default(name) if raw is None else raw, name, int, lo, hi))


def float_setting(settings: Any, name: str, lo: float, hi: float) -> float:
    """A float Scrapy setting within [lo, hi], its declared default when unset."""
    raw = settings.get(name)
    return float(_number(default(name) if raw is None else raw, name, float, lo, hi))


@dataclass(frozen=True)
class Environment:
    """The process settings, resolved and checked once."""

    home: Path
    mongo_uri: str | None
    db_name: str
    config_dir: Path
    sites_dirs: tuple[Path, ...]
    model_dir: Path
    evidence_dir: Path
    chromium: str | None
    contact: str | None
    claim_lease_minutes: int = 30
    # The embedded server's cache: its memory grows to about this much as data is written.
    db_cache: str = "16M"
    evidence_store: str = "dir"  # one of EVIDENCE_STORES (tiequan.evidence.files)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Environment:
        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        home = Path(get("TIEQUAN_HOME") or default("TIEQUAN_HOME"))
        config = get("TIEQUAN_CONFIG_DIR")
        config_dir = Path(config) if config else REPO_CONFIG_DIR
        if not config_dir.is_dir():
            raise SettingError(f"TIEQUAN_CONFIG_DIR is not a directory: {config!r}")
        sites = get("TIEQUAN_SITES_DIR")
        sites_dirs = (
            tuple(Path(p) for p in sites.split(os.pathsep) if p)
            if sites
            else (REPO_CONFIG_DIR / "sites",)
        )
        db_name = get("TIEQUAN_DB") or DEFAULT_DB
        if any(c in db_name for c in '/\\. "$') or len(db_name) > 63:
            raise SettingError(f"TIEQUAN_DB is not a usable database name: {db_name!r}")
        db_cache = (get("TIEQUAN_DB_CACHE") or default("TIEQUAN_DB_CACHE")).upper()
        if not re.fullmatch(r"[1-9][0-9]{0,5}[MG]", db_cache):
            raise SettingError(
                f"TIEQUAN_DB_CACHE must be a size such as 128M or 1G, got {db_cache!r}"
            )
        model = get("TIEQUAN_MODEL_DIR")
        evidence = get("TIEQUAN_EVIDENCE_DIR")
        store = (get("TIEQUAN_EVIDENCE_STORE") or default("TIEQUAN_EVIDENCE_STORE")).lower()
        if store not in EVIDENCE_STORES:
            raise SettingError(
                f"TIEQUAN_EVIDENCE_STORE must be one of {', '.join(EVIDENCE_STORES)}, got {store!r}"
            )
        lease = get(LEASE) or default(LEASE)
        return cls(
            home=home,
            mongo_uri=get("TIEQUAN_MONGO_URI"),
            db_name=db_name,
            config_dir=config_dir,
            sites_dirs=sites_dirs,
            model_dir=Path(model) if model else home / "models",
            evidence_dir=Path(evidence) if evidence else home / "evidence",
            chromium=get("TIEQUAN_CHROMIUM"),
            contact=get("TIEQUAN_CONTACT"),
            claim_lease_minutes=int(_number(lease, LEASE, int, 1, 1440)),
            db_cache=db_cache,
            evidence_store=store,
        )


def environment() -> Environment:
    """The process settings of the current environment (parsed once per distinct value)."""
    return _parse(tuple(os.environ.get(s.name, "") for s in PROCESS))


@functools.lru_cache(maxsize=16)
def _parse(values: tuple[str, ...]) -> Environment:
    return Environment.from_env({s.name: v for s, v in zip(PROCESS, values, strict=True)})


@dataclass(frozen=True)
class SchedulerSettings:
    """The TIEQUAN_SCHEDULER_* settings, checked once (errors name the setting and value)."""

    timezone: str
    default_cron: str
    misfire_grace_s: int
    sweep_limit_s: float
    lease_s: float
    heartbeat_s: float
    workers: int
    sweep_command: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SchedulerSettings:
        def get(name: str) -> Any:
            value = env.get(name, "").strip()
            return value or default(name)

        def num(name: str, kind: type[int] | type[float], lo: float, hi: float) -> Any:
            return _number(get(name), name, kind, lo, hi)

        lease = num("TIEQUAN_SCHEDULER_LEASE_SECONDS", float, 1, 3600)
        hours = num("TIEQUAN_SCHEDULER_MISFIRE_HOURS", float, 0, 168)
        return cls(
            timezone=str(get("TIEQUAN_SCHEDULER_TIMEZONE")),
            default_cron=str(get("TIEQUAN_SCHEDULER_DEFAULT_CRON")),
            misfire_grace_s=max(1, round(hours * 3600)),
            sweep_limit_s=num("TIEQUAN_SCHEDULER_SWEEP_LIMIT", float, 0.1, 7 * 86400),
            lease_s=lease,
            # Renewed at least twice per lease length, so one slow renewal loses nothing.
            heartbeat_s=num("TIEQUAN_SCHEDULER_HEARTBEAT", float, 0.05, lease / 2),
            workers=num("TIEQUAN_SCHEDULER_WORKERS", int, 1, 64),
            sweep_command=str(get("TIEQUAN_SCHEDULER_SWEEP_COMMAND")),
        )


def scheduler_settings() -> SchedulerSettings:
    """The scheduler settings of the current environment."""
    return SchedulerSettings.from_env({s.name: os.environ.get(s.name, "") for s in SCHEDULER})


def child_environment(overrides: Mapping[str, str], drop: Iterable[str] = ()) -> dict[str, str]:
    """This process's environment without ``drop`` and with ``overrides``: what a child
    command is given."""
    dropped = frozenset(drop)
    return {**{k: v for k, v in os.environ.items() if k not in dropped}, **overrides}


def log_format(env: Mapping[str, str] | None = None) -> str:
    """TIEQUAN_LOG_FORMAT: ``text`` or ``json``."""
    raw = (os.environ if env is None else env).get("TIEQUAN_LOG_FORMAT", "").strip().lower()
    value = raw or str(default("TIEQUAN_LOG_FORMAT"))
    if value not in LOG_FORMATS:
        raise SettingError(f"TIEQUAN_LOG_FORMAT must be text or json, got {raw!r}")
    return value


@dataclass(frozen=True)
class AlertSettings:
    """The TIEQUAN_ALERT_* settings: where crawl-health alerts are delivered."""

    webhook: str | None
    smtp_host: str | None
    smtp_port: int
    to: tuple[str, ...]
    sender: str
    timeout_s: float

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AlertSettings:
        def get(name: str) -> Any:
            value = env.get(name, "").strip()
            return value or default(name)

        webhook = get("TIEQUAN_ALERT_WEBHOOK")
        if webhook and not str(webhook).startswith(("http://", "https://")):
            raise SettingError(f"TIEQUAN_ALERT_WEBHOOK must be an http(s) URL, got {webhook!r}")
        smtp, host, port = get("TIEQUAN_ALERT_SMTP"), None, 25
        if smtp:
            host, _, raw_port = str(smtp).rpartition(":")
            if not host:
                host, raw_port = raw_port, "25"
            port = _number(raw_port, "TIEQUAN_ALERT_SMTP port", int, 1, 65535)
        to = tuple(a.strip() for a in str(get("TIEQUAN_ALERT_TO") or "").split(",") if a.strip())
        if smtp and not to:
            raise SettingError("TIEQUAN_ALERT_SMTP is set but TIEQUAN_ALERT_TO is empty")
        return cls(
            webhook=webhook or None,
            smtp_host=host,
            smtp_port=port,
            to=to,
            sender=str(get("TIEQUAN_ALERT_FROM")),
            timeout_s=_number(
                get("TIEQUAN_ALERT_TIMEOUT"), "TIEQUAN_ALERT_TIMEOUT", float, 0.1, 60
            ),
        )


def alert_settings() -> AlertSettings:
    """The alert settings of the current environment."""
    return AlertSettings.from_env({s.name: os.environ.get(s.name, "") for s in ALERTS})


@dataclass(frozen=True)
class DistributedSettings:
    """The settings of distributed runs (``DISTRIBUTED``), checked once."""

    redis_url: str
    worker_id: str | None
    lease_s: float
    outage_s: float
    keys_ttl_s: int
    dedup: str = "set"
    dedup_capacity: int = 2_000_000
    dedup_error_rate: float = 1e-6
    detection: str = "workers"  # DETECTION_MODES
    detect_batch: int = 50

    @classmethod
    def from_env(cls, env: Mapping[str, Any]) -> DistributedSettings:
        def get(name: str) -> Any:
            value = str(env.get(name) or "").strip()
            return value or default(name)

        url = str(get("TIEQUAN_REDIS_URL"))
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingError(f"TIEQUAN_REDIS_URL must be a redis:// URL, got {url!r}")
        hours = _number(get("TIEQUAN_RUN_KEYS_HOURS"), "TIEQUAN_RUN_KEYS_HOURS", float, 0.01, 8760)
        dedup = str(get("TIEQUAN_DEDUP")).lower()
        if dedup not in DEDUP_KINDS:
            raise SettingError(
                f"TIEQUAN_DEDUP must be one of {', '.join(DEDUP_KINDS)}, got {dedup!r}"
            )
        capacity = _number(
            get("TIEQUAN_DEDUP_CAPACITY"), "TIEQUAN_DEDUP_CAPACITY", int, 1000, 10**9
        )
        rate = _number(
            get("TIEQUAN_DEDUP_ERROR_RATE"), "TIEQUAN_DEDUP_ERROR_RATE", float, 1e-12, 0.01
        )
        if dedup == "bloom" and bloom_bits(capacity, rate) > MAX_BLOOM_BITS:
            raise SettingError(
                "TIEQUAN_DEDUP_CAPACITY × TIEQUAN_DEDUP_ERROR_RATE need more than a Redis string's "
                f"2**32 bits, got {capacity!r} and {rate!r}"
            )
        detection = str(get("TIEQUAN_DETECTION")).lower()
        if detection not in DETECTION_MODES:
            raise SettingError(
                f"TIEQUAN_DETECTION must be one of {', '.join(DETECTION_MODES)}, got {detection!r}"
            )
        return cls(
            redis_url=url,
            worker_id=get("TIEQUAN_WORKER_ID"),
            lease_s=_number(
                get("TIEQUAN_WORKER_LEASE_SECONDS"), "TIEQUAN_WORKER_LEASE_SECONDS", float, 1, 3600
            ),
            outage_s=_number(
                get("TIEQUAN_REDIS_OUTAGE_SECONDS"), "TIEQUAN_REDIS_OUTAGE_SECONDS", float, 1, 3600
            ),
            keys_ttl_s=max(1, round(hours * 3600)),
            dedup=dedup,
            dedup_capacity=capacity,
            dedup_error_rate=rate,
            detection=detection,
            detect_batch=_number(get("TIEQUAN_DETECT_BATCH"), "TIEQUAN_DETECT_BATCH", int, 1, 1000),
        )

    def as_scrapy(self) -> dict[str, Any]:
        """The same values as Scrapy settings (a worker's crawlers read them back)."""
        return {
            "TIEQUAN_REDIS_URL": self.redis_url,
            "TIEQUAN_WORKER_ID": self.worker_id,
            "TIEQUAN_WORKER_LEASE_SECONDS": self.lease_s,
            "TIEQUAN_REDIS_OUTAGE_SECONDS": self.outage_s,
            "TIEQUAN_RUN_KEYS_HOURS": self.keys_ttl_s / 3600,
            "TIEQUAN_DEDUP": self.dedup,
            "TIEQUAN_DEDUP_CAPACITY": self.dedup_capacity,
            "TIEQUAN_DEDUP_ERROR_RATE": self.dedup_error_rate,
            "TIEQUAN_DETECTION": self.detection,
            "TIEQUAN_DETECT_BATCH": self.detect_batch,
        }


def bloom_bits(capacity: int, error_rate: float) -> int:
    """Bits of a Bloom filter holding ``capacity`` entries at ``error_rate`` (optimal k)."""
    return math.ceil(-capacity * math.log(error_rate) / math.log(2) ** 2)


def bloom_hashes(capacity: int, bits: int) -> int:
    """The number of hash functions that minimises the false-positive rate."""
    return max(1, round(bits / capacity * math.log(2)))


def distributed_settings() -> DistributedSettings:
    """The distributed-run settings of the current environment."""
    return DistributedSettings.from_env({s.name: os.environ.get(s.name, "") for s in DISTRIBUTED})
