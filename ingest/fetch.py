"""Fetching http(s) URLs safely: public addresses only, bounded size, time and redirects."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urljoin, urlparse

from ingest.document import IngestError

ACCEPTED_TYPES = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
}
USER_AGENT = "Hindsight/0.1 (+postmortem ingest)"


@dataclass(frozen=True)
class FetchLimits:
    timeout: float = 10.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    allow_private: bool = False


@dataclass(frozen=True)
class Fetched:
    url: str  # final URL after redirects
    data: bytes
    format: str


def fetch(url: str, limits: FetchLimits) -> Fetched:
    """GET ``url`` following at most ``limits.max_redirects`` redirects, each hop checked."""
    current = url
    for _ in range(limits.max_redirects + 1):
        status, headers, body = _get_once(current, limits)
        if status in (301, 302, 303, 307, 308):
            location = headers.get("location")
            if not location:
                raise IngestError(f"HTTP {status} redirect without a Location header")
            current = urljoin(current, location)
            continue
        if status != 200:
            raise IngestError(f"HTTP {status} from {current}")
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        fmt = ACCEPTED_TYPES.get(content_type)
        if fmt is None:
            raise IngestError(
                f"unsupported content type {content_type or 'none'!r} "
                "(expected HTML, Markdown or plain text)"
            )
        if fmt == "text" and urlparse(current).path.lower().endswith((".md", ".markdown")):
            fmt = "markdown"
        return Fetched(current, body, fmt)
    raise IngestError(f"more than {limits.max_redirects} redirects")


def resolve_public(host: str, port: int, allow_private: bool) -> str:
    """Resolve ``host`` and return an address to connect to, refusing non-public ones."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise IngestError(f"cannot resolve host {host!r}: {exc.strerror}") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not ip.is_global or ip.is_multicast:
                raise IngestError(
                    f"{host} resolves to the non-public address {address}; refused "
                    "(set HINDSIGHT_ALLOW_PRIVATE_URLS=true to allow)"
                )
    return addresses[0]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        # Connect to the address we checked, so a second DNS answer cannot swap it.
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _get_once(url: str, limits: FetchLimits) -> tuple[int, dict[str, str], bytes]:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise IngestError(f"not an http(s) URL: {url}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    address = resolve_public(parsed.hostname, port, limits.allow_private)
    cls = _PinnedHTTPSConnection if parsed.scheme == "https" else _PinnedHTTPConnection
    conn = cls(parsed.hostname, port, address, limits.timeout)
    path = parsed.path or "/"
    if parsed.query:
        path += "?" + parsed.query
    try:
        conn.request(
            "GET",
            path,
            headers={
                "User-Agent": USER_AGENT,
                "Accept": "text/html, text/markdown, text/plain;q=0.9",
            },
        )
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > limits.max_bytes:
            raise IngestError(
                f"response is {int(length)} bytes, over the cap of {limits.max_bytes}"
            )
        body = response.read(limits.max_bytes + 1) if response.status == 200 else b""
        if len(body) > limits.max_bytes:
            raise IngestError(f"response is over the cap of {limits.max_bytes} bytes")
        return response.status, headers, body
    except (OSError, http.client.HTTPException) as exc:
        reason = str(exc) or type(exc).__name__
        raise IngestError(f"cannot fetch {url}: {reason}") from exc
    finally:
        conn.close()
