"""`tiequan evaluate`: a model's quality on three sets, as an HTML report and JSON.

    tiequan evaluate [MODEL] [--out DIR] [--json] [--holdout-since YYYY-MM-DD]

MODEL (default ``live``) is scored on the reference set's sealed test split, the synthetic
corpus's test split and the officers' decisions since --holdout-since (default: the last
14 days); a MODEL other than ``live`` is shown side by side with the live model. The report
goes to DIR (default ``$TIEQUAN_HOME/evaluation/<MODEL>-<time>``): evaluation.html and
evaluation.json. --json prints the JSON to standard output as well. Without a reachable
database the held-out set is reported empty.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tiequan.cli.exit_codes import EXIT_OK, EXIT_USAGE
from tiequan.cli.leads_cmd import fail

log = logging.getLogger(__name__)

LIVE = "live"
HOLDOUT_DAYS = 14

if TYPE_CHECKING:  # the detector is imported when a command runs, not at start-up
    from tiequan.models.evaluate import EvalSet, Model


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("evaluate", help="模型评估：三个数据集上的精确率、召回率与阈值表")
    p.add_argument("model", nargs="?", default=LIVE, metavar="MODEL",
                   help="要评估的模型（默认 live，即现行模型）")  # fmt: skip
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="报告目录（默认 $TIEQUAN_HOME/evaluation/模型-时间）")  # fmt: skip
    p.add_argument("--json", action="store_true", help="同时把评估结果 JSON 输出到标准输出")
    p.add_argument(
        "--holdout-since",
        metavar="YYYY-MM-DD",
        help=f"留出集：该日（北京时间）起的研判决定（默认最近 {HOLDOUT_DAYS} 天）",
    )
    p.set_defaults(func=_evaluate)


def resolve_model(name: str) -> Model:
    """The registry's model called ``name`` (an alias such as live or candidate, or a
    version), its files verified; ValueError (in Chinese) when there is none."""
    from collections import Counter

    from pymongo.errors import PyMongoError

    from tiequan.models.evaluate import TrainingSource, from_detector
    from tiequan.models.registry import Registry, RegistryError
    from tiequan.settings import environment
    from tiequan.storage.connect import StorageError, open_database
    from tiequan.storage.embedded import EmbeddedServerError

    try:
        with open_database() as db:
            registry = Registry(db, environment().model_dir)
            version = registry.alias(name) or name
            record = registry.get(version)
            detector = registry.load_record(record)
    except RegistryError as exc:
        raise ValueError(f"模型 {name}：{exc}") from exc
    except (StorageError, EmbeddedServerError, PyMongoError) as exc:
        raise ValueError(f"无法读取模型登记（数据库）：{exc}") from exc
    # What the model saw, per manifest source (the manifest's hash stands for all of them).
    counts = Counter(entry.source for entry in record.manifest)
    training = tuple(
        TrainingSource(source, n, record.data_hash) for source, n in sorted(counts.items())
    )
    return from_detector(detector, version=record.version, training=training)


def holdout(since: datetime) -> EvalSet:
    """The decisions since ``since``; an empty set, saying why, when they cannot be read."""
    from pymongo.errors import PyMongoError

    from tiequan.leads.labels import LabelDocError, LabelStore
    from tiequan.models.evaluate import EvalSet, holdout_set
    from tiequan.storage.connect import StorageError, open_database
    from tiequan.storage.embedded import EmbeddedServerError

    try:
        with open_database() as db:
            return holdout_set(list(LabelStore(db).iter(since=since)), since)
    except (StorageError, EmbeddedServerError, PyMongoError) as exc:
        log.warning("held-out decisions unavailable: %s", exc)
        return EvalSet("holdout", (), f"数据库不可用（{str(exc)[:120]}）")
    except LabelDocError as exc:
        return EvalSet("holdout", (), f"标注记录无法读取（{exc}）")


def _evaluate(args: argparse.Namespace) -> int:
    from tiequan.cli.detect_cmd import category_names
    from tiequan.cli.leads_export_cmd import parse_day
    from tiequan.models.evaluate import evaluate, reference_set, synthetic_set
    from tiequan.models.report import JSON_NAME, SET_TITLES, write_report
    from tiequan.settings import environment
    from tiequan.storage.store import utcnow
    from tiequan.timefmt import shanghai

    now = utcnow()
    try:
        day = parse_day(args.holdout_since, "--holdout-since")
        since = (
            datetime.combine(day, time.min, tzinfo=shanghai())
            if day
            else now - timedelta(days=HOLDOUT_DAYS)
        )
        models = {args.model: resolve_model(args.model)}
        if args.model != LIVE:
            models[LIVE] = resolve_model(LIVE)
    except ValueError as exc:
        return fail(f"参数有误：{exc}", EXIT_USAGE)
    settings = environment()
    out: Path = args.out or settings.home / "evaluation" / f"{args.model}-{now:%Y%m%d-%H%M%S}"
    if out.exists() and not out.is_dir():
        return fail(f"参数有误：--out {out} 不是目录", EXIT_USAGE)
    config = settings.config_dir
    sets = [reference_set(config), synthetic_set(config), holdout(since)]
    evaluation = evaluate(models, sets, holdout_since=since, now=now)
    try:
        html = write_report(evaluation, out, category_names())
    except OSError as exc:
        return fail(f"无法写入报告：{exc}", EXIT_USAGE)
    if args.json:
        print(json.dumps(evaluation.to_json(), ensure_ascii=False, indent=2))
        print(f"评估报告已生成：{html}", file=sys.stderr)
        return EXIT_OK
    for result in evaluation.sets:
        title = SET_TITLES.get(result.set.key, (result.set.key, ""))[0]
        if not result.set.examples:
            print(f"{title}：无样本（{result.set.note}）")
            continue
        for name, res in result.results.items():
            f1 = res.scores.micro(evaluation.core_categories).f1
            print(
                f"{title}：{name}，样本 {len(result.set.examples)} 条，"
                f"核心类别 F1 {f1:.3f}，误报率 {res.scores.fpr():.1%}"
            )
    print(f"评估报告已生成：{html}（JSON：{out / JSON_NAME}）")
    return EXIT_OK
