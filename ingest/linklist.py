"""Markdown link lists (like the public postmortem lists): one entry per linked incident."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ingest.document import Document, IngestError, Section
from ingest.parse import find_date

_md = MarkdownIt("commonmark", {"html": False})
_YEAR = re.compile(r"\b(19[89]\d|20\d\d)\b")


def parse_link_list(text: str, *, source: str) -> list[Document]:
    """Each list item or paragraph with an http(s) link becomes one postmortem summary.

    The first link's text names the organisation (and the title when it is descriptive);
    the item's whole text is the summary; the nearest heading above is kept as ``category``.
    """
    tokens = _md.parse(text)
    documents: list[Document] = []
    seen: set[str] = set()
    category: str | None = None
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            category = tokens[i + 1].content.strip() or None
            continue
        if tok.type != "inline" or (i > 0 and tokens[i - 1].type == "heading_open"):
            continue
        link = _first_link(tok)
        if link is None:
            continue
        url, label = link
        if url in seen:
            continue
        summary = _plain(tok)
        if len(summary) <= len(label) + 3:
            continue  # a bare link with nothing said about it is not an entry
        seen.add(url)
        title = label if len(label.split()) >= 4 else f"{label}: {_clip_sentence(summary, label)}"
        year = _YEAR.search(summary)
        meta = (
            {"category": category, "list_source": source} if category else {"list_source": source}
        )
        documents.append(
            Document(
                title=title,
                body=summary,
                source=url,
                kind="postmortem",
                format="markdown",
                org=label if len(label.split()) <= 3 else None,
                url=url,
                date=find_date(summary),
                sections=[Section(kind="summary", heading="Summary", text=summary)],
                meta=meta | ({"year": int(year.group(1))} if year else {}),
            )
        )
    if not documents:
        raise IngestError("no linked entries found (expected list items or paragraphs with links)")
    return documents


def _first_link(tok: Token) -> tuple[str, str] | None:
    children = tok.children or []
    for j, child in enumerate(children):
        if child.type == "link_open":
            href = str(child.attrs.get("href", ""))
            if not href.startswith(("http://", "https://")):
                continue
            label_parts = []
            for inner in children[j + 1 :]:
                if inner.type == "link_close":
                    break
                label_parts.append(inner.content)
            return href, "".join(label_parts).strip() or href
    return None


def _plain(tok: Token) -> str:
    parts = []
    for child in tok.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def _clip_sentence(summary: str, label: str) -> str:
    rest = summary[len(label) :].lstrip(" .:-—") if summary.startswith(label) else summary
    first = re.split(r"(?<=[.!?])\s", rest, maxsplit=1)[0].rstrip(".")
    return first if len(first) <= 90 else first[:89].rstrip() + "…"
