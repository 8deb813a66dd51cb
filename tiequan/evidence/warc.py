"""One gzipped WARC file per evidence set: the page's HTTP exchange and what came with it.

Records: ``warcinfo`` (software, run, operator), ``request`` and ``response`` for the page,
a ``resource`` with the rendered DOM for browser-rendered pages, and a ``resource`` per
image that carried a finding. Scrapy hands us decompressed bodies, so the response drops
Content-Encoding and Transfer-Encoding, gets a recomputed Content-Length, and says so in
a ``Tiequan-Payload-Note`` header.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawlers.items import RawCapture

SOFTWARE = "tiequan (铁拳网络交易监测)"
OPERATOR = "tiequan 网络监测"
WARC_MEDIA_TYPE = "application/warc"
PAYLOAD_NOTE = (
    "body as decoded by the crawler (Scrapy): Content-Encoding and Transfer-Encoding "
    "removed, Content-Length recomputed"
)
RENDERED_NOTE = "body as serialised by the browser (Chromium) after the page loaded"
DOM_NOTE = "DOM after scripts ran and the page was scrolled, serialised by the browser"
_DROPPED = frozenset({"content-encoding", "transfer-encoding", "content-length"})


@dataclass(frozen=True)
class WarcImage:
    url: str
    data: bytes
    media_type: str


LICENCE_ROLE = "the shop's licence page (主体资质公示)"


def sniff_image_type(data: bytes) -> str:
    """The image media type from its magic bytes (application/octet-stream if unknown)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.lstrip()[:5] in (b"<svg ", b"<?xml"):
        return "image/svg+xml"
    return "application/octet-stream"


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _request_target(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return target, parts.netloc


def _headers(pairs: Iterable[tuple[str, str]], drop: frozenset[str]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in pairs if k.lower() not in drop]


def _content_type(pairs: list[tuple[str, str]]) -> str | None:
    for name, value in pairs:
        if name.lower() == "content-type":
            return value
    return None


def build_warc(
    raw: RawCapture,
    *,
    run_id: str,
    evidence_id: str,
    images: Iterable[WarcImage] = (),
    related: Iterable[RawCapture] = (),
) -> bytes:
    """The WARC (.warc.gz, gzip per record) of one evidence set; ``related``: the shop's
    licence page, when one was fetched for the listing."""
    out = BytesIO()  # not BufferWARCWriter: its spooled temp file is never closed
    writer = WARCWriter(out, gzip=True)
    filename = f"{evidence_id}.warc.gz"
    info: dict[str, Any] = {
        "software": SOFTWARE,
        "format": "WARC File Format 1.0",
        "operator": OPERATOR,
        "isPartOf": run_id,
        "description": f"电子数据固定 evidence set {evidence_id}, run {run_id}",
    }
    warcinfo = writer.create_warcinfo_record(filename, info)
    writer.write_record(warcinfo)
    info_id = warcinfo.rec_headers.get_header("WARC-Record-ID")
    date = _warc_date(raw.fetched_at)
    common = {"WARC-Warcinfo-ID": info_id, "WARC-Date": date}

    response_id = _write_exchange(writer, raw, common)
    for page in related:
        own = {"WARC-Date": _warc_date(page.fetched_at), "Tiequan-Role": LICENCE_ROLE}
        _write_exchange(writer, page, {**common, **own})

    if raw.dom is not None:
        dom = writer.create_warc_record(
            raw.response_url,
            "resource",
            payload=BytesIO(raw.dom),
            length=len(raw.dom),
            warc_content_type="text/html; charset=utf-8",
            warc_headers_dict={
                **common,
                "WARC-Concurrent-To": response_id,
                "Tiequan-Payload-Note": DOM_NOTE,
            },
        )
        writer.write_record(dom)
    for image in images:
        record = writer.create_warc_record(
            image.url,
            "resource",
            payload=BytesIO(image.data),
            length=len(image.data),
            warc_content_type=image.media_type,
            warc_headers_dict={**common, "Tiequan-Role": "image carrying a finding"},
        )
        writer.write_record(record)
    return out.getvalue()


def _write_exchange(writer: WARCWriter, raw: RawCapture, common: dict[str, str]) -> str:
    """The request and response records of one exchange; returns the response's record id."""
    target, host = _request_target(raw.request_url)
    req_headers = _headers(raw.request_headers, frozenset({"host"}))
    if host:
        req_headers.insert(0, ("Host", host))
    request = writer.create_warc_record(
        raw.request_url,
        "request",
        payload=BytesIO(b""),
        length=0,
        http_headers=StatusAndHeaders(
            f"{raw.method} {target} HTTP/1.1", req_headers, is_http_request=True
        ),
        warc_headers_dict=dict(common),
    )
    resp_headers = _headers(raw.response_headers, _DROPPED)
    resp_headers.append(("Content-Length", str(len(raw.body))))
    response = writer.create_warc_record(
        raw.response_url,
        "response",
        payload=BytesIO(raw.body),
        length=len(raw.body),
        http_headers=StatusAndHeaders(
            f"{raw.status} {_reason(raw.status)}", resp_headers, protocol="HTTP/1.1"
        ),
        warc_headers_dict={
            **common,
            "Tiequan-Payload-Note": RENDERED_NOTE if raw.rendered else PAYLOAD_NOTE,
            "Tiequan-Requested-URI": raw.requested_url,
        },
    )
    # Written as a linked pair by hand: warcio's pair writer would give the request the
    # response's URI, which is wrong after a redirect.
    response_id = response.rec_headers.get_header("WARC-Record-ID")
    request.rec_headers.add_header("WARC-Concurrent-To", response_id)
    writer.write_record(response)
    writer.write_record(request)
    return str(response_id)


def _warc_date(iso: str) -> str:
    """WARC-Date form (UTC, second precision, trailing Z) of an ISO 8601 time."""
    text = iso.strip()
    if text.endswith("+00:00"):
        text = text[: -len("+00:00")]
    text = text.rstrip("Z")
    return text.split(".")[0] + "Z"
