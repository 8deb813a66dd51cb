"""`tiequan serve`: the review workbench on http://HOST:PORT (behind HTTPS in production)."""

from __future__ import annotations

import argparse
import logging
from typing import Any

log = logging.getLogger("tiequan.web")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="线索研判工作台（网页）")
    parser.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1）")
    parser.add_argument("--port", type=int, default=8800, help="端口（默认 8800）")
    parser.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="信任其 X-Forwarded-Proto 的反向代理地址（HTTPS 由代理终结时，会话 Cookie 带 Secure）",
    )
    parser.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from tiequan.storage.connect import open_database
    from tiequan.web.app import create_app

    with open_database() as db:
        from tiequan.leads.queue import LeadQueue

        queue = LeadQueue(db)
        queue.ensure_indexes()
        app = create_app(db, queue=queue)
        log.info("工作台地址 http://%s:%d/", args.host, args.port)
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            proxy_headers=args.forwarded_allow_ips is not None,
            forwarded_allow_ips=args.forwarded_allow_ips,
        )
    return 0
