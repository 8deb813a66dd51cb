"""`tiequan users add|passwd|disable`: workbench accounts, the first admin included.

Passwords are read with getpass (asked twice) or, with --password-stdin, from the first line
of standard input; never from the command line, where other users and the shell history
would see them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from tiequan.cli.exit_codes import EXIT_USAGE


def register(subparsers: Any) -> None:
    from tiequan.web.accounts import ROLES  # light: no database, no web framework

    parser = subparsers.add_parser("users", help="工作台账户：新增、改密码、停用")
    sub = parser.add_subparsers(dest="users_command", required=True)
    p = sub.add_parser("add", help="新增账户")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=sorted(ROLES), help="角色")
    p.add_argument("--name", dest="display_name", help="显示的姓名")
    p.add_argument("--unit", dest="unit_key", help="承办单位代码（承办单位人员）")
    p.add_argument("--bureau", dest="bureau_key", help="属地局代码（承办单位人员）")
    p.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码")
    p.set_defaults(func=_add)
    p = sub.add_parser("passwd", help="修改密码（同时注销该用户的所有会话）")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码")
    p.set_defaults(func=_passwd)
    p = sub.add_parser("disable", help="停用账户（同时注销该用户的所有会话）")
    p.add_argument("username")
    p.set_defaults(func=_disable)


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("密码：")
    if getpass.getpass("再次输入密码：") != first:
        print("两次输入的密码不一致", file=sys.stderr)
        return None
    return first


def _run(args: argparse.Namespace, change: Any) -> int:
    from tiequan.storage.connect import open_database
    from tiequan.storage.store import Store
    from tiequan.web.accounts import AccountError, Accounts
    from tiequan.web.sessions import Sessions

    with open_database() as db:
        Store(db).ensure_indexes()
        try:
            message = change(Accounts(db), Sessions(db))
        except AccountError as exc:
            print(f"tiequan users: {exc}", file=sys.stderr)
            return EXIT_USAGE
    print(message)
    return 0


def _add(args: argparse.Namespace) -> int:
    password = _password(args)
    if password is None:
        return EXIT_USAGE

    def change(accounts: Any, sessions: Any) -> str:
        user = accounts.add(
            args.username,
            args.role,
            password,
            display_name=args.display_name,
            unit_key=args.unit_key,
            bureau_key=args.bureau_key,
        )
        return f"已新增账户 {user.username}（{user.role_label}）"

    return _run(args, change)


def _passwd(args: argparse.Namespace) -> int:
    password = _password(args)
    if password is None:
        return EXIT_USAGE

    def change(accounts: Any, sessions: Any) -> str:
        accounts.set_password(args.username, password)
        sessions.delete_user(args.username)
        return f"已修改 {args.username} 的密码，其登录会话已全部注销"

    return _run(args, change)


def _disable(args: argparse.Namespace) -> int:
    def change(accounts: Any, sessions: Any) -> str:
        accounts.disable(args.username)
        sessions.delete_user(args.username)
        return f"已停用账户 {args.username}，其登录会话已全部注销"

    return _run(args, change)
