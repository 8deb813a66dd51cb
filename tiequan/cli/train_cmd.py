"""`tiequan train`: fit a detector model from the corpora and the officers' decisions.

    tiequan train [--since YYYY-MM-DD] [--seed N] [--by NAME]

The result is registered (tiequan.models.registry) and becomes the ``candidate``; it goes
live only through `tiequan models promote`.
"""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from tiequan.cli.exit_codes import EXIT_USAGE
from tiequan.cli.labels_cmd import since_of
from tiequan.cli.leads_cmd import fail


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("train", help="训练检测模型（语料库 + 研判决定），登记为候选模型")
    p.add_argument("--since", metavar="YYYY-MM-DD", help="只用该日（北京时间）起的研判决定")
    p.add_argument(
        "--seed", type=int, default=0, help="随机种子（默认 0；同样数据同样种子得到同样模型）"
    )
    p.add_argument("--by", help="训练人（默认：当前系统用户）")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tiequan.cli.models_actions import summary
    from tiequan.leads.labels import LabelDocError
    from tiequan.models.gate import ModelsConfigError
    from tiequan.models.training import train_from_database
    from tiequan.storage.connect import open_database

    try:
        since = since_of(args.since)
    except ValueError as exc:
        return fail(f"参数有误：{exc}", EXIT_USAGE)
    with open_database() as db:
        try:
            record = train_from_database(
                db, trained_by=args.by or getpass.getuser(), since=since, seed=args.seed
            )
        except ModelsConfigError as exc:
            return fail(f"配置有误：{exc}", EXIT_USAGE)
        except LabelDocError as exc:
            return fail(f"标注记录无法读取：{exc}")
    print(f"已训练并登记为候选模型（candidate）：{record.version}")
    print("\n".join(summary(record)))
    print(f"上线：tiequan models promote {record.version} --by 账号")
    return 0
