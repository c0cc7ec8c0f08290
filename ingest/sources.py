"""Reading sources — files, directories, URLs, stdin, link lists — into documents or failures."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urldefrag

from ingest.document import Document, IngestError
from ingest.fetch import FetchLimits, fetch
from ingest.linklist import parse_link_list
from ingest.parse import FORMATS_BY_EXTENSION, decode, parse_document


@dataclass(frozen=True)
class Failure:
    source: str
    error: str


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str


Item = Document | Failure | Skipped


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def read_sources(
    sources: list[str],
    *,
    limits: FetchLimits,
    kind: str | None = None,
    link_list: bool = False,
    stdin: BinaryIO | None = None,
) -> Iterator[Item]:
    """Yield a Document for each readable source, a Failure or Skipped for the rest.

    Nothing raises for a bad source: each problem becomes a one-line Failure, so the rest of
    a batch goes on.
    """
    for source in sources:
        if source == "-":
            yield from _guard("stdin", lambda: _from_stdin(stdin, limits, kind, link_list))
        elif is_url(source):
            yield from _guard(source, lambda s=source: _from_url(s, limits, kind, link_list))
        else:
            path = Path(source)
            if path.is_dir():
                yield from _walk(path, limits, kind, link_list)
            elif path.exists():
                yield from _guard(str(path), lambda p=path: _from_file(p, limits, kind, link_list))
            else:
                yield Failure(source, "no such file, directory or URL")


def _guard(source: str, produce) -> Iterator[Item]:
    try:
        yield from produce()
    except IngestError as exc:
        yield Failure(source, str(exc))
    except OSError as exc:
        yield Failure(source, exc.strerror or str(exc))


def _walk(root: Path, limits: FetchLimits, kind: str | None, link_list: bool) -> Iterator[Item]:
    for dirpath, dirnames, filenames in os.walk(root):
        hidden = sorted(d for d in dirnames if d.startswith("."))
        for name in hidden:
            yield Skipped(str(Path(dirpath, name)), "hidden directory")
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            if name.startswith("."):
                yield Skipped(str(path), "hidden file")
            elif path.suffix.lower() not in FORMATS_BY_EXTENSION:
                if _looks_binary(path):
                    yield Failure(str(path), "binary file; only text formats are ingested")
                else:
                    yield Skipped(str(path), f"unsupported file type {path.suffix or '(none)'}")
            else:
                yield from _guard(str(path), lambda p=path: _from_file(p, limits, kind, link_list))


def _looks_binary(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return b"\x00" in handle.read(8192)
    except OSError:
        return False


def _from_file(
    path: Path, limits: FetchLimits, kind: str | None, link_list: bool
) -> Iterator[Item]:
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise IngestError(f"file is {size} bytes, over the cap of {limits.max_bytes}")
    data = path.read_bytes()
    source = str(path.resolve())
    if link_list:
        yield from parse_link_list(decode(data), source=source)
        return
    fmt = FORMATS_BY_EXTENSION.get(path.suffix.lower())
    yield parse_document(data, source=source, fmt=fmt, kind=kind)


def _from_url(url: str, limits: FetchLimits, kind: str | None, link_list: bool) -> Iterator[Item]:
    url = urldefrag(url).url
    fetched = fetch(url, limits)
    if link_list:
        yield from parse_link_list(decode(fetched.data), source=url)
        return
    yield parse_document(fetched.data, source=url, fmt=fetched.format, kind=kind, url=fetched.url)


def _from_stdin(
    stream: BinaryIO | None, limits: FetchLimits, kind: str | None, link_list: bool
) -> Iterator[Item]:
    handle = stream if stream is not None else sys.stdin.buffer
    data = handle.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise IngestError(f"input is over the cap of {limits.max_bytes} bytes")
    source = "stdin:" + hashlib.sha256(data).hexdigest()[:16]
    if link_list:
        yield from parse_link_list(decode(data), source=source)
        return
    yield parse_document(data, source=source, kind=kind)
