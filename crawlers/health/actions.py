"""Where crawl-health results go: the run record (via the crawl stats), the log, a webhook
and e-mail.

Spidermon ships no generic webhook action (its notifiers speak Slack, Discord, Telegram
and SNS), and its SendSmtpEmail needs an SMTP login and sends through Scrapy's MailSender,
whose delivery nobody waits for once the spider has closed: the alert would die with the
reactor. The two delivery actions here are small, synchronous and bounded by
TIEQUAN_ALERT_TIMEOUT, and a failed delivery is logged, never raised: it must not fail
the sweep.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any

from spidermon.contrib.scrapy.monitors import FieldCoverageMonitor, FinishReasonMonitor
from spidermon.core.actions import Action
from spidermon.exceptions import SkipAction

from tiequan.settings import AlertSettings, alert_settings

log = logging.getLogger(__name__)

HEALTH_STAT = "tiequan/health"
DELIVERY_STAT = "tiequan/alerts/"
LABELS = {
    "item_count": "条目数量",
    "field_coverage": "字段覆盖率",
    "error_rate": "错误率",
    "retry_rate": "重试率",
    "http_429": "限流（429）",
    "robots_blocked": "robots.txt 拦截",
    "finish_reason": "结束原因",
}
FIELD_LABELS = {
    "title": "标题", "text": "描述", "price": "价格", "original_price": "原价",
    "sales": "销量", "shop_name": "店铺名称", "shop_url": "店铺链接",
    "image_urls": "图片", "licence/credit_code": "营业执照信用代码",
}  # fmt: skip
_STATUS = {"OK": "passed", "SKIPPED": "skipped", "FAIL": "failed", "ERROR": "error"}


@dataclass(frozen=True)
class HealthResult:
    """One monitor's outcome as the run record keeps it (message in Chinese)."""

    check: str
    label: str
    status: str  # passed, skipped, failed or error
    message: str

    @property
    def passed(self) -> bool:
        return self.status in ("passed", "skipped")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _coverage_message(stats: Any, rules: dict[str, float], status: str) -> str:
    if status == "skipped":
        return "没有条目，未检查字段覆盖率"
    parts, low = [], []
    for key, floor in sorted(rules.items()):
        field = key.split("/", 1)[1]
        actual = float(stats.get(f"spidermon_field_coverage/{key}", 0) or 0)
        text = f"{FIELD_LABELS.get(field, field)} {actual * 100:.0f}%"
        parts.append(text)
        if actual < floor:
            low.append(f"{text}（下限 {floor * 100:.0f}%）")
    if low:
        return "字段覆盖率低于下限，页面布局可能已变化：" + "、".join(low)
    return "各字段覆盖率达标：" + ("、".join(parts) or "无规则")


def _describe(result: Any, data: Any) -> HealthResult:
    monitor = result.monitor
    status = _STATUS.get(result.status, "error")
    if isinstance(monitor, FieldCoverageMonitor):
        rules = data.crawler.settings.getdict("SPIDERMON_FIELD_COVERAGE_RULES")
        return HealthResult(
            "field_coverage", LABELS["field_coverage"], status,
            _coverage_message(data.stats, rules, status),
        )  # fmt: skip
    if isinstance(monitor, FinishReasonMonitor):
        reason = data.stats.get("finish_reason", "unknown")
        message = (
            "正常结束（finished）"
            if status == "passed"
            else f"结束原因为 {reason}，不是正常结束（finished）"
        )
        return HealthResult("finish_reason", LABELS["finish_reason"], status, message)
    check = getattr(monitor, "check_id", "") or monitor.monitor_name
    message = getattr(monitor, "summary", "") or str(result.reason or "")
    if status == "error":
        message = f"检查本身出错：{str(result.error).strip().splitlines()[-1]}"
    return HealthResult(check, LABELS.get(check, check), status, message)


def health_results(result: Any, data: Any) -> list[HealthResult]:
    return [_describe(r, data) for r in result.monitor_results]


def alert_text(site: str, platform: str, run_id: str, alerts: list[HealthResult]) -> str:
    lines = [f"巡查批次 {run_id}，站点 {platform}（{site}）有 {len(alerts)} 项健康告警："]
    lines += [f"  {a.label}：{a.message}" for a in alerts]
    return "\n".join(lines)


class HealthAction(Action):
    """Shared context of the actions: the site, the run and the monitors' results."""

    def __init__(self, settings: AlertSettings) -> None:
        super().__init__()
        self.alerts_to = settings

    @classmethod
    def from_crawler_kwargs(cls, crawler: Any) -> dict[str, Any]:
        return {"settings": alert_settings()}

    @property
    def site(self) -> str:
        return str(self.data.spider.name)

    @property
    def platform(self) -> str:
        profile = getattr(self.data.spider, "profile", None)
        return str(profile.platform) if profile is not None else self.site

    @property
    def run_id(self) -> str:
        return str(self.data.crawler.settings.get("TIEQUAN_RUN_ID") or "")

    def results(self) -> list[HealthResult]:
        return health_results(self.result, self.data)

    def alerts(self) -> list[HealthResult]:
        return [r for r in self.results() if not r.passed]

    def payload(self) -> dict[str, Any]:
        alerts = self.alerts()
        return {
            "source": "tiequan",
            "run_id": self.run_id,
            "site": self.site,
            "platform": self.platform,
            "alerts": [a.to_dict() for a in alerts],
            "health": [r.to_dict() for r in self.results()],
            "text": alert_text(self.site, self.platform, self.run_id, alerts),
        }

    def delivered(self, channel: str, ok: bool) -> None:
        self.data.crawler.stats.inc_value(f"{DELIVERY_STAT}{channel}_{'sent' if ok else 'failed'}")


class RecordHealth(HealthAction):
    """Puts every result in the crawl stats (the run report's ``health``) and logs alerts."""

    def run_action(self) -> None:
        results = self.results()
        self.data.crawler.stats.set_value(HEALTH_STAT, [r.to_dict() for r in results])
        for r in results:
            if not r.passed:
                log.warning("[%s] 巡查健康告警 · %s：%s", self.site, r.label, r.message)


class PostAlerts(HealthAction):
    """POSTs the alerts as JSON to TIEQUAN_ALERT_WEBHOOK."""

    def run_action(self) -> None:
        url = self.alerts_to.webhook
        if not url:
            raise SkipAction("TIEQUAN_ALERT_WEBHOOK is not set")
        body = json.dumps(self.payload(), ensure_ascii=False).encode("utf-8")
        # The URL is checked to be http(s) by AlertSettings.
        request = urllib.request.Request(
            url, data=body, method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=self.alerts_to.timeout_s):  # nosec B310
                pass
        except OSError as exc:
            log.warning("[%s] 告警未能发送到 webhook %s：%s", self.site, url, exc)
            self.delivered("webhook", False)
            return
        self.delivered("webhook", True)


class MailAlerts(HealthAction):
    """Mails the alerts through TIEQUAN_ALERT_SMTP to TIEQUAN_ALERT_TO."""

    def run_action(self) -> None:
        cfg = self.alerts_to
        if not cfg.smtp_host:
            raise SkipAction("TIEQUAN_ALERT_SMTP is not set")
        alerts = self.alerts()
        message = EmailMessage()
        message["Subject"] = f"【铁拳巡查】{self.platform} 健康告警 {len(alerts)} 项"
        message["From"] = cfg.sender
        message["To"] = ", ".join(cfg.to)
        message.set_content(alert_text(self.site, self.platform, self.run_id, alerts))
        try:
            with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=cfg.timeout_s) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning(
                "[%s] 告警邮件未能发送（%s:%s）：%s", self.site, cfg.smtp_host, cfg.smtp_port, exc
            )
            self.delivered("mail", False)
            return
        self.delivered("mail", True)
