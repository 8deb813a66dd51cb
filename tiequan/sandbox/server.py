"""The sandbox HTTP server: one local imitation of four platforms, for crawls and tests."""

from __future__ import annotations

import hashlib
import logging
import sys
import threading
import time
from collections import Counter
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tiequan.sandbox.html_mall import LAYOUTS, STANDARD
from tiequan.sandbox.routes import Response, SandboxApp
from tiequan.sandbox.world import World, get_world

log = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    server_version = "TalaMall/2.3"
    protocol_version = "HTTP/1.1"
    sandbox: SandboxServer  # set on the per-server subclass

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def _serve(self, send_body: bool) -> None:
        parts = urlsplit(self.path)
        try:
            response = self.sandbox.respond(parts.path, parse_qs(parts.query))
        except Exception:  # a bug in a page must not kill the connection silently
            log.exception("sandbox failed on %s", self.path)
            response = Response(500, "服务器内部错误".encode(), "text/plain; charset=utf-8")
        if response.status == 200 and self.sandbox.validators:
            response = self.sandbox.validate(self.path, response, self.headers)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if send_body and response.status != 304:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A crawler that gave up on a slow page closes the socket: not a server fault.
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("client %s went away", client_address)
            return
        super().handle_error(request, client_address)


class SandboxServer:
    """Serves the four sandbox sites on one port.

    ``__init__`` only stores its arguments; ``start`` generates the world, binds
    (port 0 picks a free port) and serves from a daemon thread.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 20220101,
        scale: float = 1.0,
        night: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.seed = seed
        self.scale = scale
        self._night = night
        self._layout = STANDARD
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._attempts: Counter[str] = Counter()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._app: SandboxApp | None = None
        # Page validators (ETag, Last-Modified) and 304s to conditional requests; a test
        # switches them off to see a site that sends none.
        self.validators = True
        self._modified: dict[str, float] = {}  # when a test last edited a page
        self._since = time.time()
        self.not_modified = 0  # 304s answered

    @property
    def world(self) -> World:
        if self._app is None:
            raise RuntimeError("SandboxServer not started")
        return self._app.world

    @property
    def night(self) -> int:
        """The night being served: the price-watch listings change their prices by night."""
        return self._night

    @night.setter
    def night(self, value: int) -> None:
        if value < 0:
            raise ValueError(f"night must be 0 or more, got {value!r}")
        self._night = value
        if self._app is not None:
            self._app.night = value

    @property
    def layout(self) -> str:
        """The mall's item-page layout (tiequan.sandbox.html_mall.LAYOUTS)."""
        return self._layout

    @layout.setter
    def layout(self, value: str) -> None:
        if value not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {value!r}")
        self._layout = value
        if self._app is not None:
            self._app.layout = value

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("SandboxServer not started")
        return f"http://{self.host}:{self._httpd.server_address[1]}"

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        world = get_world(self.seed, self.scale)
        self._app = SandboxApp(world, night=self._night, layout=self._layout)
        handler = type("SandboxHandler", (_Handler,), {"sandbox": self})
        self._httpd = _Server((self.host, self.port), handler)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"sandbox:{self.port}", daemon=True
        )
        self._thread.start()
        log.info("sandbox serving on %s (seed=%s scale=%s)", self.base_url, self.seed, self.scale)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def edit_text(self, item_id: str, text: str) -> None:
        """Rewrite a mall item's description (its page changes, its ETag and Last-Modified too)."""
        if self._app is None:
            raise RuntimeError("SandboxServer not started")
        if self.world.find("mall", item_id) is None:
            raise KeyError(f"no mall item {item_id!r}")
        self._app.edited[item_id] = text
        self._modified[f"/mall/item/{item_id}"] = time.time()

    def validate(self, target: str, response: Response, request_headers: Any) -> Response:
        """Add ETag and Last-Modified to a 200; answer 304 when the client's copy is current.

        If-None-Match wins over If-Modified-Since, as RFC 9110 says.
        """
        path = urlsplit(target).path
        etag = '"' + hashlib.sha256(response.body).hexdigest()[:20] + '"'
        modified = int(self._modified.get(path, self._since))
        headers = {
            **response.headers,
            "ETag": etag,
            "Last-Modified": formatdate(modified, usegmt=True),
        }
        current = False
        if_none_match = request_headers.get("If-None-Match")
        if if_none_match is not None:
            current = etag in {t.strip() for t in if_none_match.split(",")} or if_none_match == "*"
        elif request_headers.get("If-Modified-Since"):
            try:
                since = parsedate_to_datetime(request_headers["If-Modified-Since"]).timestamp()
            except (TypeError, ValueError):
                since = -1.0
            current = modified <= since
        if current:
            with self._lock:
                self.not_modified += 1
            return Response(304, b"", response.content_type, headers)
        return Response(response.status, response.body, response.content_type, headers)

    def reset_counters(self) -> None:
        """Forget hits and fault attempts (faulty paths fail once more afterwards)."""
        with self._lock:
            self.hits.clear()
            self._attempts.clear()

    def respond(self, path: str, query: dict[str, list[str]]) -> Response:
        """Count the hit, inject the planned fault or delay, then route."""
        if self._app is None:
            raise RuntimeError("SandboxServer not started")
        world = self._app.world
        with self._lock:
            self.hits[path] += 1
            self._attempts[path] += 1
            first = self._attempts[path] == 1
        status = world.faults.get(path)
        if status is not None and first:
            headers = {"Retry-After": "1"} if status == 429 else {}
            body = "请求过于频繁，请稍后再试" if status == 429 else "服务暂时不可用"
            return Response(status, body.encode("utf-8"), "text/plain; charset=utf-8", headers)
        delay = world.slow.get(path)
        if delay:
            time.sleep(delay)
        return self._app.handle(path, query)
