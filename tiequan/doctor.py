"""`tiequan doctor`: is this installation able to sweep, and if not, what to fix.

Each check returns one ``Check``: a level (ok, warning, error), what was found and, when
something is wrong, the fix. Checks read and probe: a missing directory is fine when it
can be created where it will be, and nothing is created, except that the embedded database
server starts (in ``$TIEQUAN_HOME/db``) as it does for any command.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pymongo.errors import PyMongoError

from crawlers.browser import CHROMIUM_ARGS, CHROMIUM_CANDIDATES, BrowserNotFound, find_chromium
from tiequan.documents.charts import CJK_FONT_FILES  # the files `make system-deps` installs
from tiequan.settings import Environment, SchedulerSettings
from tiequan.timefmt import shanghai

OK = "ok"
WARNING = "warning"
ERROR = "error"
LEVEL_LABELS = {OK: "正常", WARNING: "警告", ERROR: "错误"}

INSTALL_SYSTEM = "make system-deps（或 apt-get install chromium fonts-wqy-microhei）"
DEFAULT_MIN_FREE_GB = 5.0
MAX_CLOCK_SKEW_S = 30.0  # the scheduler's lease expiry is read against each machine's clock
EARLIEST_SANE = datetime(2025, 1, 1, tzinfo=UTC)
LATEST_SANE = datetime(2100, 1, 1, tzinfo=UTC)
TRAIN_COMMAND = "tiequan train"


@dataclass(frozen=True)
class Check:
    name: str
    level: str
    message: str
    fix: str = ""

    def line(self) -> str:
        text = f"[{LEVEL_LABELS[self.level]}] {self.name}：{self.message}"
        return f"{text}。修复：{self.fix}" if self.fix else text


def check_browser(env: Environment, *, launch: bool = True, timeout_s: float = 30.0) -> Check:
    """The Chromium the crawlers drive (TIEQUAN_CHROMIUM, else Debian's), started headless."""
    name = "浏览器"
    override = {"TIEQUAN_CHROMIUM": env.chromium} if env.chromium else {}
    try:
        path = find_chromium(override)
    except BrowserNotFound:
        return Check(
            name,
            ERROR,
            f"TIEQUAN_CHROMIUM={env.chromium!r} 不是可执行文件",
            f"改正或删去 TIEQUAN_CHROMIUM，使用 Debian 的 chromium：{INSTALL_SYSTEM}",
        )
    if path is None:
        return Check(
            name,
            ERROR,
            f"没有找到 Chromium（查找了 {'、'.join(CHROMIUM_CANDIDATES)}）",
            INSTALL_SYSTEM,
        )
    if not launch:
        return Check(name, OK, f"{path}（未试启动）")
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(path),
                args=list(CHROMIUM_ARGS),
                headless=True,
                timeout=timeout_s * 1000,
            )
            version = browser.version
            browser.close()
    except PlaywrightError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return Check(
            name,
            ERROR,
            f"{path} 无法以无界面模式启动：{first}",
            f"用 {path} --headless --no-sandbox --dump-dom about:blank 查看原因；{INSTALL_SYSTEM}",
        )
    return Check(name, OK, f"{path}，版本 {version}，无界面模式可以启动")


def check_fonts(files: tuple[Path, ...] = CJK_FONT_FILES) -> Check:
    found = [str(f) for f in files if f.is_file()]
    if found:
        return Check("中文字体", OK, "、".join(found))
    return Check(
        "中文字体",
        ERROR,
        f"没有中文字体（{'、'.join(str(f) for f in files)} 都不存在），"
        "截图与报告图表中的中文无法显示",
        "apt-get install fonts-wqy-microhei（make system-deps）",
    )


def database_checks(env: Environment, timeout_ms: int = 5000) -> list[Check]:
    """Reachability and server version, pending migrations, and the server's clock."""
    from tiequan.storage import migrations
    from tiequan.storage.connect import StorageError, open_database, redact_uri
    from tiequan.storage.embedded import EmbeddedServerError

    where = redact_uri(env.mongo_uri) if env.mongo_uri else f"内置服务器（{env.home / 'db'}）"
    fix = (
        "检查 TIEQUAN_MONGO_URI 指向的服务器是否运行、地址与口令是否正确"
        if env.mongo_uri
        else f"检查 {env.home / 'db'} 是否可写、磁盘是否已满；加 -v 查看内置服务器的输出"
    )
    try:
        with open_database(timeout_ms=timeout_ms) as db:
            info = db.client.server_info()
            hello = db.client.admin.command("hello")
            states = migrations.status(db)
    except (StorageError, EmbeddedServerError, PyMongoError) as exc:
        return [Check("数据库", ERROR, f"{where} 无法使用：{str(exc)[:300]}", fix)]
    kind = "副本集 " + str(hello["setName"]) if hello.get("setName") else "单机"
    checks = [Check("数据库", OK, f"{where}，版本 {info.get('version', '?')}，{kind}")]
    blocking = [s for s in states if not s.applied and s.would_change]
    unrecorded = sum(not s.applied for s in states)
    if blocking:
        which = "，".join(f"{s.migration.id}（{s.would_change} 条文档）" for s in blocking)
        checks.append(
            Check(
                "结构迁移",
                ERROR,
                f"{len(blocking)} 项迁移待执行：{which}；巡查和工作台会拒绝启动",
                "tiequan migrate（可先 tiequan migrate --dry-run）",
            )
        )
    elif unrecorded:
        checks.append(
            Check("结构迁移", OK, f"没有需要迁移的文档（{unrecorded} 项迁移尚未记录为已执行）")
        )
    else:
        checks.append(Check("结构迁移", OK, f"已是最新（{len(states)} 项迁移均已执行）"))
    server_time = hello.get("localTime")
    if isinstance(server_time, datetime):
        skew = (datetime.now(UTC) - _aware(server_time)).total_seconds()
        if abs(skew) > MAX_CLOCK_SKEW_S:
            checks.append(
                Check(
                    "数据库时钟",
                    WARNING,
                    f"本机时钟与数据库服务器相差 {skew:+.0f} 秒",
                    "两台机器都启用时间同步（timedatectl set-ntp true 或 chrony）",
                )
            )
    return checks


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def check_ocr() -> Check:
    """rapidocr-onnxruntime and the models its wheel ships (read from its config.yaml)."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    reinstall = "重新安装依赖：.venv/bin/pip install --require-hashes -r requirements.lock"
    if spec is None or spec.origin is None:
        return Check("OCR 模型", ERROR, "没有安装 rapidocr-onnxruntime", reinstall)
    root = Path(spec.origin).parent
    try:
        config = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        return Check("OCR 模型", ERROR, f"{root / 'config.yaml'} 无法读取：{exc}", reinstall)
    models = sorted(
        root / str(v) for v in _values(config, "model_path") if str(v).endswith(".onnx")
    )
    missing = [m for m in models if not m.is_file() or m.stat().st_size == 0]
    if not models or missing:
        gone = "、".join(m.name for m in missing) or "config.yaml 未列出模型"
        return Check("OCR 模型", ERROR, f"{root} 缺少模型：{gone}", reinstall)
    return Check("OCR 模型", OK, f"{len(models)} 个模型（{'、'.join(m.name for m in models)}）")


def _values(node: Any, key: str) -> Iterator[Any]:
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k == key:
                yield v
            else:
                yield from _values(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _values(item, key)


def check_model(env: Environment, timeout_ms: int = 5000) -> Check:
    """The registry's live model, its files verified: what every sweep loads (and never
    trains)."""
    from tiequan.models.live import NoLiveModel, verify_live
    from tiequan.models.registry import Registry, RegistryError
    from tiequan.storage.connect import StorageError, open_database
    from tiequan.storage.embedded import EmbeddedServerError

    try:
        with open_database(timeout_ms=timeout_ms) as db:
            record = verify_live(Registry(db, env.model_dir))
    except NoLiveModel:
        return Check(
            "检测模型",
            ERROR,
            "没有在用的检测模型，巡查会拒绝启动",
            f"{TRAIN_COMMAND}，再 tiequan models promote --by 账号（或 tiequan demo）",
        )
    except RegistryError as exc:  # a file missing or changed since it was registered
        return Check(
            "检测模型", ERROR, str(exc), f"重新训练：{TRAIN_COMMAND}，或 tiequan models rollback"
        )
    except (StorageError, EmbeddedServerError, PyMongoError):
        return Check(
            "检测模型", WARNING, "数据库不可用，无法查看在用模型", "先解决上面的数据库问题"
        )
    trained = record.trained_at.astimezone(shanghai()).strftime("%Y-%m-%d %H:%M")
    return Check(
        "检测模型",
        OK,
        f"在用模型 {record.version}（{trained} 由 {record.trained_by} 训练），文件校验无误",
    )


def check_disk(home: Path, min_free_gb: float = DEFAULT_MIN_FREE_GB) -> Check:
    where = existing_ancestor(home)
    free_gb = shutil.disk_usage(where).free / 1024**3
    text = f"{home} 所在磁盘可用 {free_gb:.1f} GB"
    if free_gb >= min_free_gb:
        return Check("磁盘空间", OK, text)
    level = ERROR if free_gb < min_free_gb / 10 else WARNING
    return Check(
        "磁盘空间",
        level,
        f"{text}，低于 {min_free_gb:g} GB",
        "清理 exports/ 与旧的 runs/ 日志，或把 TIEQUAN_HOME 移到更大的磁盘",
    )


def time_checks(scheduler: SchedulerSettings, now: datetime | None = None) -> list[Check]:
    """The system clock is plausible; the scheduler's time zone (and Asia/Shanghai) loads."""
    now = now or datetime.now(UTC)
    checks = []
    if EARLIEST_SANE <= now < LATEST_SANE:
        checks.append(Check("系统时钟", OK, f"{now:%Y-%m-%d %H:%M:%S} UTC"))
    else:
        checks.append(
            Check(
                "系统时钟",
                ERROR,
                f"系统时间 {now:%Y-%m-%d %H:%M:%S} UTC 不合理",
                "校正时间并启用时间同步（timedatectl set-ntp true）",
            )
        )
    zones = dict.fromkeys(("Asia/Shanghai", scheduler.timezone))
    for zone in zones:
        try:
            local = now.astimezone(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            checks.append(
                Check(
                    "时区",
                    ERROR,
                    f"时区 {zone} 无法加载，调度与北京时间显示会出错",
                    "apt-get install tzdata（或在虚拟环境中 pip install tzdata）",
                )
            )
            continue
        checks.append(Check("时区", OK, f"{zone}：{local:%Y-%m-%d %H:%M}"))
    return checks


def existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(label: str, path: Path, setting: str) -> Check:
    """``path`` is a writable directory, or can be created as one (tried with a temp file)."""
    name = f"目录（{label}）"
    fix = f"把 {path} 改为本用户可写（chown/chmod），或将 {setting} 指向可写的目录"
    if path.exists() and not path.is_dir():
        return Check(name, ERROR, f"{path} 不是目录", fix)
    probe = existing_ancestor(path)
    if not probe.is_dir():
        return Check(name, ERROR, f"{path} 无法创建：{probe} 不是目录", fix)
    try:
        with tempfile.TemporaryFile(dir=probe, prefix=".tiequan-doctor-"):
            pass
    except OSError as exc:
        return Check(name, ERROR, f"{probe} 不可写：{exc.strerror or exc}", fix)
    return Check(name, OK, f"{path}" + ("" if path.exists() else "（首次使用时创建）"))


def directory_checks(env: Environment) -> list[Check]:
    return [
        check_writable("数据", env.home, "TIEQUAN_HOME"),
        check_writable("证据", env.evidence_dir, "TIEQUAN_EVIDENCE_DIR"),
        check_writable("暂存区", env.home / "spool", "TIEQUAN_HOME"),
        check_writable("模型", env.model_dir, "TIEQUAN_MODEL_DIR"),
    ]


def run_checks(
    env: Environment,
    scheduler: SchedulerSettings,
    *,
    min_free_gb: float = DEFAULT_MIN_FREE_GB,
    launch_browser: bool = True,
) -> Iterator[Check]:
    """Every check, in the order an operator fixes things (system, data, then models)."""
    yield check_browser(env, launch=launch_browser)
    yield check_fonts()
    yield from time_checks(scheduler)
    yield from directory_checks(env)
    yield check_disk(env.home, min_free_gb)
    yield from database_checks(env)
    yield check_ocr()
    yield check_model(env)


def exit_code(checks: list[Check]) -> int:
    """0 all ok, 1 warnings only, 2 an error."""
    levels = {c.level for c in checks}
    return 2 if ERROR in levels else 1 if WARNING in levels else 0
