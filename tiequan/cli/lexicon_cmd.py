"""`tiequan lexicon`: the analysts' lexicon terms on top of config/lexicons.

    tiequan lexicon list [--category C]
    tiequan lexicon add --category C --term T --by USER --reason TEXT [--weight W]
                        [--article A] [--severity S] [--variant V ...] [--exception E ...]
    tiequan lexicon remove --category C --term T --by USER --reason TEXT
    tiequan lexicon test TEXT
    tiequan lexicon suggest [--days N] [--limit N]
    tiequan lexicon suggest --accept PHRASE --category C --by USER
    tiequan lexicon suggest --reject PHRASE --category C --by USER [--reason TEXT]
    tiequan lexicon history [--limit N]

Adding and removing go through the model gate (tiequan.models.lexicon_gate) and are
applied only if it passes (``--force`` overrides it, with the figures kept in the
history); only analyst and admin accounts may change the lexicon. Running sweeps pick the
change up at their next live-model re-check.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("lexicon", help="词库：分析人员增删词条、测试、挖掘新词")
    sub = parser.add_subparsers(dest="lexicon_command", required=True)
    p = sub.add_parser("list", help="列出分析人员增删的词条（--category：该类别全部词条）")
    p.add_argument("--category", default="", help="类别 id")
    p.set_defaults(func=_run, action="list")
    for name, text in (("add", "新增词条（经上线门槛）"), ("remove", "删除词条（经上线门槛）")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--category", required=True, help="类别 id，如 miracle_drug")
        p.add_argument("--term", required=True, help="词条")
        p.add_argument("--by", required=True, help="操作账号（须为数据分析人员或系统管理员）")
        p.add_argument("--reason", required=True, help="理由")
        p.add_argument("--force", action="store_true", help="门槛不通过也修改（记入历史）")
        if name == "add":
            p.add_argument("--weight", type=float, default=0.6, help="权重（默认 0.6）")
            p.add_argument("--article", default="", help="法条（默认：该类别最常用的）")
            p.add_argument("--severity", default="", help="处置等级（默认：该类别最常用的）")
            p.add_argument("--variant", action="append", default=[], help="变体写法，可重复")
            p.add_argument("--exception", action="append", default=[], help="例外短语，可重复")
        p.set_defaults(func=_run, action=name)
    p = sub.add_parser("test", help="显示一段文字命中的词条")
    p.add_argument("text", help="要测试的文字")
    p.set_defaults(func=_run, action="test")
    p = sub.add_parser("suggest", help="从近期确认的漏检线索中挖掘候选词，采纳或不采纳")
    p.add_argument("--days", type=int, default=90, help="看最近多少天的研判（默认 90）")
    p.add_argument("--limit", type=int, default=20, help="最多显示几条（默认 20）")
    p.add_argument("--accept", default="", metavar="PHRASE", help="采纳：作为词条加入词库")
    p.add_argument("--reject", default="", metavar="PHRASE", help="不采纳：以后不再建议")
    p.add_argument("--category", default="", help="采纳或不采纳的类别 id")
    p.add_argument("--by", default="", help="操作账号（采纳、不采纳时必填）")
    p.add_argument("--reason", default="", help="理由")
    p.add_argument("--force", action="store_true", help="采纳时门槛不通过也加入")
    p.set_defaults(func=_run, action="suggest")
    p = sub.add_parser("history", help="词库修改历史（最新在前）")
    p.add_argument("--limit", type=int, default=50, help="最多显示几条（默认 50）")
    p.set_defaults(func=_run, action="history")


def _run(args: argparse.Namespace) -> int:
    from tiequan.cli.lexicon_actions import run  # the detectors load only when needed

    return run(args)
