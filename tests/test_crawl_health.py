"""Crawl health (crawlers.health): Spidermon monitors, their run record and their alerts."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from pymongo import MongoClient
from scrapy import Spider
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector

from crawlers.health.actions import HEALTH_STAT
from crawlers.health.config import coverage_rules, health_settings
from crawlers.health.extension import AlertLevelRunner
from crawlers.profiles import ProfileError, load_profile, load_profiles
from pipelines.health import CrawlHealthSuite
from tests.conftest import TrainedModel
from tests.fixtures_mongo import cli_env
from tests.fixtures_sandbox import SANDBOX_SEED
from tiequan.sandbox.html_mall import PRICE_MOVED, STANDARD
from tiequan.sandbox.server import SandboxServer
from tiequan.settings import AlertSettings, SettingError

REPO = Path(__file__).resolve().parents[1]
SITE = "sandbox_mall"
FAST = {
    "DOWNLOAD_DELAY": "0",
    "AUTOTHROTTLE_ENABLED": "False",
    "RETRY_BACKOFF_BASE": "0.05",
    "RETRY_BACKOFF_MAX": "0.3",
    "TIEQUAN_EVIDENCE_SCREENSHOTS": "False",
    "TIEQUAN_OCR_ENABLED": "False",
}


class Hooks:
    """A webhook receiver and a minimal SMTP server on 127.0.0.1, recording what arrives."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.mails: list[bytes] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hooks.posts.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.smtp = socket.create_server(("127.0.0.1", 0))
        for target in (self.http.serve_forever, self._smtp_loop):
            threading.Thread(target=target, daemon=True).start()

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/alerts"

    @property
    def smtp_address(self) -> str:
        return f"127.0.0.1:{self.smtp.getsockname()[1]}"

    def _smtp_loop(self) -> None:
        while True:
            try:
                conn, _ = self.smtp.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as lines:
                self._smtp_session(conn, lines)

    def _smtp_session(self, conn: socket.socket, lines: Any) -> None:
        conn.sendall(b"220 test ESMTP\r\n")
        for raw in lines:
            verb = raw.decode("ascii", "replace").strip().upper()
            if verb.startswith("DATA"):
                conn.sendall(b"354 go on\r\n")
                data = b"".join(iter(lambda: lines.readline(), b".\r\n"))
                self.mails.append(data)
                conn.sendall(b"250 queued\r\n")
            elif verb.startswith("QUIT"):
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.smtp.close()


@pytest.fixture(scope="module")
def hooks() -> Iterator[Hooks]:
    server = Hooks()
    yield server
    server.close()


@pytest.fixture(scope="module")
def mall() -> Iterator[SandboxServer]:
    """A sandbox of our own: its layout changes, which would disturb the shared one."""
    with SandboxServer(seed=SANDBOX_SEED, scale=0.1) as server:
        yield server


@pytest.fixture(scope="module")
def health_env(
    mongo_uri: str,
    hooks: Hooks,
    tmp_path_factory: pytest.TempPathFactory,
    trained_model: TrainedModel,
) -> Iterator[dict[str, str]]:
    sites = tmp_path_factory.mktemp("sites")
    profile = yaml.safe_load((REPO / "config" / "sites" / f"{SITE}.yaml").read_text("utf-8"))
    profile["start_paths"] = ["/mall/search?q=health&page=1", "/mall/search?q=beauty&page=1"]
    (sites / f"{SITE}.yaml").write_text(yaml.safe_dump(profile, allow_unicode=True), "utf-8")
    name = f"t_health_{uuid.uuid4().hex[:8]}"
    trained_model.promote_at(mongo_uri, name)
    trained_model.promote_at(mongo_uri, f"{name}_drop")
    env = cli_env(
        mongo_uri,
        name,
        tmp_path_factory.mktemp("home"),
        TIEQUAN_SITES_DIR=str(sites),
        TIEQUAN_ALERT_WEBHOOK=hooks.webhook,
        TIEQUAN_ALERT_SMTP=hooks.smtp_address,
        TIEQUAN_ALERT_TO="duty@example.org",
    )
    yield env
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    client.drop_database(name)
    client.close()


def sweep(env: dict[str, str], base_url: str, report: Path) -> tuple[dict[str, Any], str]:
    settings = [arg for k, v in FAST.items() for arg in ("-s", f"{k}={v}")]
    cmd = [sys.executable, "-m", "tiequan", "sweep", "--site", SITE, "--base-url", base_url,
           "--report", str(report), *settings]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(report.read_text(encoding="utf-8")), done.stdout + done.stderr


def failed(report: dict[str, Any]) -> list[str]:
    return [a["check"] for a in report["health_alerts"]]


def test_a_normal_sweep_raises_no_alert(
    mall: SandboxServer, health_env: dict[str, str], hooks: Hooks, tmp_path: Path
) -> None:
    mall.layout = STANDARD
    report, _ = sweep(health_env, mall.base_url, tmp_path / "run.json")
    health = report["sites"][SITE]["health"]
    assert [h["check"] for h in health] == [
        "item_count", "field_coverage", "error_rate", "retry_rate", "http_429",
        "robots_blocked", "finish_reason",
    ]  # fmt: skip
    assert all(h["passed"] for h in health), health
    assert health[0]["status"] == "skipped"  # no earlier run of the site to compare with
    assert report["health_alerts"] == [] and report["totals"]["errors"] == 0
    assert hooks.posts == [] and hooks.mails == []


def test_a_moved_price_raises_the_field_coverage_alert(
    mall: SandboxServer,
    health_env: dict[str, str],
    hooks: Hooks,
    mongo_client: MongoClient[dict[str, Any]],
    tmp_path: Path,
) -> None:
    hooks.posts.clear()
    hooks.mails.clear()
    mall.layout = PRICE_MOVED
    try:
        report, output = sweep(health_env, mall.base_url, tmp_path / "run.json")
    finally:
        mall.layout = STANDARD
    assert failed(report) == ["field_coverage"]
    alert = report["health_alerts"][0]
    assert alert["site"] == SITE and "价格" in alert["message"] and "标题" not in alert["message"]
    assert "健康告警 1 项" in output and "巡查健康告警 · 字段覆盖率" in output
    # The alert is a health finding, not a crawl error.
    assert report["totals"]["errors"] == 0 and report["status"] == "ok"
    record = mongo_client[health_env["TIEQUAN_DB"]].runs.find_one({"_id": report["run_id"]})
    assert record is not None
    coverage = [h for h in record["sites"][SITE]["health"] if h["check"] == "field_coverage"]
    assert coverage[0]["passed"] is False and coverage[0]["label"] == "字段覆盖率"
    assert len(hooks.posts) == 1
    post = hooks.posts[0]
    assert post["site"] == SITE and post["run_id"] == report["run_id"]
    assert [a["check"] for a in post["alerts"]] == ["field_coverage"]
    assert "价格" in post["text"]
    assert len(hooks.mails) == 1
    mail = message_from_bytes(hooks.mails[0], policy=default_policy)
    assert "健康告警 1 项" in str(mail["Subject"]) and mail["To"] == "duty@example.org"
    assert report["sites"][SITE]["alerts_delivered"] == {"webhook_sent": 1, "mail_sent": 1}


def test_an_item_count_drop_against_recent_runs_alerts_without_failing_the_sweep(
    mall: SandboxServer,
    health_env: dict[str, str],
    mongo_client: MongoClient[dict[str, Any]],
    tmp_path: Path,
) -> None:
    closed = socket.create_server(("127.0.0.1", 0))
    dead_hook = f"http://127.0.0.1:{closed.getsockname()[1]}/alerts"
    closed.close()  # nothing listens there any more: delivery fails, the sweep must not
    env = {**health_env, "TIEQUAN_DB": f"{health_env['TIEQUAN_DB']}_drop",
           "TIEQUAN_ALERT_WEBHOOK": dead_hook, "TIEQUAN_ALERT_SMTP": ""}  # fmt: skip
    db = mongo_client[env["TIEQUAN_DB"]]
    now = datetime.now(UTC)

    def run(run_id: str, days_ago: int, items: int, reason: str) -> dict[str, Any]:
        started = (now - timedelta(days=days_ago)).isoformat()
        return {"_id": run_id, "started_at": started,
                "sites": {SITE: {"items": items, "finish_reason": reason}}}  # fmt: skip

    seeded = [run(f"seed{k}", k, 1000 + k, "finished") for k in range(1, 6)]
    # The newest one did not finish normally: no yardstick.
    db.runs.insert_many([*seeded, run("seed_killed", 0, 1, "shutdown")])
    try:
        report, output = sweep(env, mall.base_url, tmp_path / "run.json")
    finally:
        mongo_client.drop_database(env["TIEQUAN_DB"])
    assert failed(report) == ["item_count"]
    message = report["health_alerts"][0]["message"]
    assert "近 5 次正常运行的中位数 1003" in message, message
    assert report["sites"][SITE]["alerts_delivered"] == {"webhook_failed": 1}
    assert "告警未能发送到 webhook" in output


# ---- the suite on given stats, without a crawl ----------------------------------------


def suite_stats(stats: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """The crawl stats after CrawlHealthSuite ran on ``stats``, as at a spider's close."""
    crawler = SimpleNamespace(
        settings=Settings(
            {
                "SPIDERMON_ADD_FIELD_COVERAGE": True,
                "SPIDERMON_FIELD_COVERAGE_SKIP_IF_NO_ITEM": True,
                "SPIDERMON_EXPECTED_FINISH_REASONS": ["finished"],
                "TIEQUAN_RUN_ID": "r1",
                **settings,
            }
        )
    )
    crawler.stats = MemoryStatsCollector(crawler)  # type: ignore[arg-type]
    spider = Spider(name="site_x")
    data = {"stats": stats, "crawler": crawler, "spider": spider, "stats_history": [], "job": None}
    AlertLevelRunner(spider=spider).run(CrawlHealthSuite(crawler=crawler), **data)
    result: dict[str, Any] = crawler.stats.get_stats()
    return result


def run_suite(stats: dict[str, Any], **settings: Any) -> dict[str, dict[str, Any]]:
    return {h["check"]: h for h in suite_stats(stats, **settings)[HEALTH_STAT]}


HEALTHY = {
    "finish_reason": "finished",
    "item_scraped_count": 100,
    "downloader/request_count": 200,
    "downloader/response_count": 200,
    "retry/count": 10,
    "downloader/response_status_count/429": 2,
    "robotstxt/forbidden": 20,
}


def test_healthy_stats_pass_every_check() -> None:
    results = run_suite(HEALTHY)
    assert all(r["passed"] for r in results.values()), results
    assert results["item_count"]["status"] == "skipped"  # no database configured


@pytest.mark.parametrize(
    ("change", "check", "words"),
    [
        ({"finish_reason": "closespider_timeout"}, "finish_reason", "closespider_timeout"),
        ({"downloader/response_status_count/429": 30}, "http_429", "15.0%"),
        ({"robotstxt/forbidden": 600}, "robots_blocked", "75.0%"),
        ({"retry/count": 90}, "retry_rate", "45.0%"),
        ({"log_count/ERROR": 20}, "error_rate", "10.0%"),
    ],
)
def test_each_check_alerts_on_its_own_stat(change: dict[str, Any], check: str, words: str) -> None:
    results = run_suite({**HEALTHY, **change})
    assert [c for c, r in results.items() if not r["passed"]] == [check]
    assert words in results[check]["message"]


def test_a_few_events_on_a_small_site_are_not_an_alert() -> None:
    small = {**HEALTHY, "downloader/request_count": 10, "downloader/response_count": 10,
             "downloader/response_status_count/429": 2}  # fmt: skip
    assert run_suite(small)["http_429"]["passed"]


def test_the_webhook_gets_the_alerts_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = Hooks()
    monkeypatch.setenv("TIEQUAN_ALERT_WEBHOOK", receiver.webhook)
    try:
        stats = suite_stats({**HEALTHY, "finish_reason": "shutdown"})
    finally:
        receiver.close()
    assert stats["tiequan/alerts/webhook_sent"] == 1
    [post] = receiver.posts
    assert (post["source"], post["site"], post["run_id"]) == ("tiequan", "site_x", "r1")
    assert [a["check"] for a in post["alerts"]] == ["finish_reason"]
    assert len(post["health"]) == 7 and "结束原因为 shutdown" in post["text"]


def test_a_webhook_that_never_answers_times_out_and_only_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # listens, never accepts or answers
    monkeypatch.setenv("TIEQUAN_ALERT_WEBHOOK", f"http://127.0.0.1:{silent.getsockname()[1]}/")
    monkeypatch.setenv("TIEQUAN_ALERT_TIMEOUT", "0.2")
    try:
        stats = suite_stats({**HEALTHY, "finish_reason": "shutdown"})
    finally:
        silent.close()
    assert stats["tiequan/alerts/webhook_failed"] == 1
    assert "告警未能发送到 webhook" in caplog.text


def test_thresholds_are_settings() -> None:
    results = run_suite(HEALTHY, TIEQUAN_HEALTH_MAX_RETRY_RATE=0.01)
    assert not results["retry_rate"]["passed"]


def test_field_coverage_below_its_rule_alerts_in_chinese() -> None:
    stats = {**HEALTHY, "spidermon_field_coverage/Listing/price": 0.7,
             "spidermon_field_coverage/Listing/title": 1.0}  # fmt: skip
    rules = {"Listing/price": 0.9, "Listing/title": 0.95}
    result = run_suite(stats, SPIDERMON_FIELD_COVERAGE_RULES=rules)["field_coverage"]
    assert result["passed"] is False
    assert result["message"].endswith("价格 70%（下限 90%）")


# ---- per-profile rules and politeness ---------------------------------------------------


def test_coverage_rules_default_per_profile_and_the_profile_overrides_them(
    tmp_path: Path,
) -> None:
    profiles = load_profiles(REPO / "config" / "sites")
    assert coverage_rules(profiles["sandbox_mall"])["price"] == 0.9
    assert "price" not in coverage_rules(profiles["sandbox_social"])  # posts have no price
    data = yaml.safe_load((REPO / "config" / "sites" / f"{SITE}.yaml").read_text("utf-8"))
    data["health"] = {"field_coverage": {"price": 0.5, "licence": 0, "sales": 0.8}}
    path = tmp_path / f"{SITE}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    rules = health_settings(load_profile(path))["SPIDERMON_FIELD_COVERAGE_RULES"]
    assert rules["Listing/price"] == 0.5 and rules["Listing/sales"] == 0.8
    assert "Listing/licence/credit_code" not in rules
    data["health"] = {"field_coverage": {"colour": 0.5}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    with pytest.raises(ProfileError, match=r"health\.field_coverage.*colour"):
        load_profile(path)


def test_real_platforms_get_safe_politeness_and_the_sandbox_keeps_its_fast_one(
    tmp_path: Path,
) -> None:
    project = Settings()
    project.setmodule("crawlers.settings")
    assert project.getbool("ROBOTSTXT_OBEY") and project.getbool("AUTOTHROTTLE_ENABLED")
    assert project.getint("CONCURRENT_REQUESTS_PER_DOMAIN") <= 4
    assert project.getfloat("DOWNLOAD_DELAY") >= 0.5
    mall = load_profiles(REPO / "config" / "sites")[SITE].politeness.scrapy_settings()
    assert mall["AUTOTHROTTLE_ENABLED"] is False and mall["DOWNLOAD_DELAY"] == 0
    data = yaml.safe_load((REPO / "config" / "sites" / f"{SITE}.yaml").read_text("utf-8"))
    data["politeness"] = {"autothrottle_target_concurrency": 0.5, "autothrottle_max_delay": 60}
    path = tmp_path / f"{SITE}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    assert load_profile(path).politeness.scrapy_settings() == {
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 0.5,
        "AUTOTHROTTLE_MAX_DELAY": 60,
    }


def test_alert_settings_are_checked() -> None:
    cfg = AlertSettings.from_env({"TIEQUAN_ALERT_SMTP": "mail.example.org:2525",
                                  "TIEQUAN_ALERT_TO": "a@x.org, b@x.org"})  # fmt: skip
    assert (cfg.smtp_host, cfg.smtp_port, cfg.to) == (
        "mail.example.org",
        2525,
        ("a@x.org", "b@x.org"),
    )
    with pytest.raises(SettingError, match="TIEQUAN_ALERT_TO"):
        AlertSettings.from_env({"TIEQUAN_ALERT_SMTP": "mail.example.org"})
    with pytest.raises(SettingError, match="TIEQUAN_ALERT_WEBHOOK"):
        AlertSettings.from_env({"TIEQUAN_ALERT_WEBHOOK": "ftp://x"})


def test_the_sandbox_refuses_an_unknown_layout(mall: SandboxServer) -> None:
    with pytest.raises(ValueError, match="price_moved"):
        mall.layout = "upside_down"
    assert mall.layout == STANDARD
