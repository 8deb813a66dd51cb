"""`tiequan serve`: the review workbench on http://HOST:PORT (behind HTTPS in production)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

log = logging.getLogger("tiequan.web")


DEFAULT_PORT = 8800


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="线索研判工作台（网页）")
    parser.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1）")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"端口（默认 {DEFAULT_PORT}）"
    )
    parser.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="信任其 X-Forwarded-Proto 的反向代理地址（HTTPS 由代理终结时，会话 Cookie 带 Secure）",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="演示：建立（或重置）研判账户 demo，并打印地址和一次性密码（仅限本机地址）",
    )
    parser.set_defaults(func=_serve)


DEMO_USER = "demo"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def demo_login(accounts: Any) -> str:
    """Create the demo reviewer, or give it a new password; returns that password.

    A fresh random password each time: a printed, fixed one would outlive the demo.
    """
    import secrets

    from tiequan.web.accounts import ROLE_REVIEWER

    password = secrets.token_urlsafe(12)
    if accounts.users.find_one({"username": DEMO_USER}) is None:
        accounts.add(
            DEMO_USER, ROLE_REVIEWER, password, display_name="演示研判员", by="serve --demo"
        )
    else:
        accounts.set_password(DEMO_USER, password, by="serve --demo")
    return password


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from tiequan.cli.exit_codes import EXIT_USAGE

    if args.demo and args.host not in _LOOPBACK:
        print(
            f"--demo 只能用于本机地址（{'、'.join(_LOOPBACK)}），不能用于 {args.host}",
            file=sys.stderr,
        )
        return EXIT_USAGE

    from tiequan.storage.connect import open_database
    from tiequan.web.app import create_app
    from tiequan.web.workbench import WorkbenchConfigError

    with open_database() as db:
        from tiequan.leads.queue import LeadQueue

        queue = LeadQueue(db)
        queue.ensure_indexes()
        try:
            app = create_app(db, queue=queue)
        except WorkbenchConfigError as exc:
            print(f"工作台配置有误：{exc}", file=sys.stderr)
            return EXIT_USAGE
        address = f"http://{args.host}:{args.port}/"
        if args.demo:
            from tiequan.web.accounts import Accounts

            password = demo_login(Accounts(db))
            print(f"工作台地址：{address}\n演示账户：{DEMO_USER}  密码：{password}", flush=True)
        log.info("工作台地址 %s", address)
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            proxy_headers=args.forwarded_allow_ips is not None,
            forwarded_allow_ips=args.forwarded_allow_ips,
        )
    return 0
