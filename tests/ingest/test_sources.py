"""Directories, stdin and URLs: each bad source is a one-line failure, the rest goes on."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from ingest.document import Document
from ingest.fetch import FetchLimits
from ingest.sources import Failure, Skipped, read_sources

OPEN = FetchLimits(timeout=3, max_bytes=2000, max_redirects=2, allow_private=True)


def _by_type(items):  # type: ignore[no-untyped-def]
    docs = [i for i in items if isinstance(i, Document)]
    failed = {Path(i.source).name: i.error for i in items if isinstance(i, Failure)}
    skipped = {Path(i.source).name: i.reason for i in items if isinstance(i, Skipped)}
    return docs, failed, skipped


def test_directory_walk_reports_every_bad_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "good.md").write_text("# Good\n\nA disk filled up.")
    (tmp_path / "sub" / "nested.txt").write_text("Nested\n\nA certificate expired.")
    (tmp_path / "blob.md").write_bytes(b"\x89PNG\x00\x00binary")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "latin1.md").write_bytes(b"caf\xe9")
    (tmp_path / "empty.md").write_text("")
    (tmp_path / "huge.md").write_text("x" * 3000)
    (tmp_path / "bad-front.md").write_text("---\ntitle: [oops\n---\ntext")
    (tmp_path / ".hidden.md").write_text("# secret")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.md").write_text("# repo internals")
    (tmp_path / "notes.json").write_text("{}")
    docs, failed, skipped = _by_type(list(read_sources([str(tmp_path)], limits=OPEN)))
    assert sorted(d.title for d in docs) == ["Good", "Nested"]
    assert failed == {
        "blob.md": "binary file (contains NUL bytes); only text formats are ingested",
        "image.png": "binary file; only text formats are ingested",
        "latin1.md": "invalid UTF-8 at byte 3",
        "empty.md": "empty document",
        "huge.md": "file is 3000 bytes, over the cap of 2000",
        "bad-front.md": failed["bad-front.md"],
    }
    assert failed["bad-front.md"].startswith("malformed front matter at line ")
    assert all("\n" not in e for e in failed.values())
    assert skipped == {
        ".hidden.md": "hidden file",
        ".git": "hidden directory",
        "notes.json": "unsupported file type .json",
    }


def test_missing_path_is_a_failure() -> None:
    items = list(read_sources(["/no/such/place.md"], limits=OPEN))
    assert items == [Failure("/no/such/place.md", "no such file, directory or URL")]


def test_stdin_is_read_and_identified_by_content() -> None:
    items = list(read_sources(["-"], limits=OPEN, stdin=io.BytesIO(b"# From stdin\n\nText.")))
    assert isinstance(items[0], Document)
    assert items[0].title == "From stdin" and items[0].source.startswith("stdin:")


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b"missing"))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_urls_fetch_follow_and_refuse(server: str) -> None:
    html = (
        b"<html><head><title>T</title></head><body><article><h1>Outage</h1><p>"
        + (b"The primary database ran out of connections during the evening peak. " * 3)
        + b"</p></article></body></html>"
    )
    _Handler.routes = {
        "/pm": (200, {"Content-Type": "text/html; charset=utf-8"}, html),
        "/md": (200, {"Content-Type": "text/markdown"}, b"# MD\n\nA router failed."),
        "/hop": (302, {"Location": "/pm"}, b""),
        "/loop": (302, {"Location": "/loop"}, b""),
        "/pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4"),
        "/big": (200, {"Content-Type": "text/plain"}, b"y" * 5000),
    }
    urls = [server + p for p in ("/pm", "/md", "/hop", "/loop", "/pdf", "/big", "/gone")]
    items = list(read_sources(urls, limits=OPEN))
    docs = [i for i in items if isinstance(i, Document)]
    failed = {i.source.removeprefix(server): i.error for i in items if isinstance(i, Failure)}
    assert [d.title for d in docs] == ["Outage", "MD", "Outage"]
    assert docs[0].url == server + "/pm" and docs[0].source == server + "/pm"
    assert docs[2].source == server + "/hop"  # the URL asked for is the identity
    assert failed == {
        "/loop": "more than 2 redirects",
        "/pdf": "unsupported content type 'application/pdf' (expected HTML, Markdown or plain text)",
        "/big": "response is 5000 bytes, over the cap of 2000",
        "/gone": f"HTTP 404 from {server}/gone",
    }


def test_private_addresses_are_refused_by_default(server: str) -> None:
    closed = FetchLimits(timeout=3, max_bytes=2000)
    items = list(read_sources([server + "/pm", "http://localhost:9/x"], limits=closed))
    assert all(isinstance(i, Failure) for i in items)
    assert "resolves to the non-public address 127.0.0.1; refused" in items[0].error  # type: ignore[union-attr]
    assert "non-public address" in items[1].error  # type: ignore[union-attr]


def test_unreachable_url_is_a_failure() -> None:
    items = list(read_sources(["http://127.0.0.1:9/nothing"], limits=OPEN))
    assert isinstance(items[0], Failure)
    assert items[0].error.startswith("cannot fetch http://127.0.0.1:9/nothing:")
    items = list(read_sources(["https://no-such-host.invalid/x"], limits=OPEN))
    assert isinstance(items[0], Failure) and "cannot resolve host" in items[0].error
