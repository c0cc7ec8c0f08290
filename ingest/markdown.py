"""Markdown (with optional YAML front matter) into sections of plain text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import frontmatter
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from ingest.document import IngestError, Section
from ingest.sections import classify_heading

_md = MarkdownIt("commonmark", {"html": False}).enable("table")
_CHECKBOX = re.compile(r"^\[[ xX]\]\s+")
_FIELD = re.compile(r"^([A-Za-z_][\w -]{0,30}):\s*(.*)$", re.S)


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """Return (metadata, body); a malformed front matter block is an IngestError."""
    if not text.startswith("---"):
        return {}, text
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # the mark counts lines inside the YAML block, which starts on the file's second line
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise IngestError(f"malformed front matter{where}: {problem}") from exc
    if not isinstance(post.metadata, dict):
        raise IngestError("malformed front matter: expected a mapping of keys to values")
    return dict(post.metadata), post.content


@dataclass
class _Block:
    heading: str | None
    level: int
    lines: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)


def parse_markdown(body: str, doc_kind: str = "postmortem") -> tuple[str | None, list[Section]]:
    """Parse Markdown into (first H1 title or None, sections).

    Headings of level 1–3 start sections; text before the first heading becomes a summary.
    List items are kept as "- item" lines; top-level items of each section are also collected
    as ``items`` (with ``key: value`` sub-bullets parsed into fields, as checklists use).
    """
    tokens = _md.parse(body)
    title: str | None = None
    blocks: list[_Block] = [_Block(None, 0)]
    list_depth = 0
    item_stack: list[dict[str, Any]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            text = _inline_text(tokens[i + 1])
            if level == 1 and title is None and not _has_text(blocks):
                title = text
            elif level <= 3:
                blocks.append(_Block(text, level))
            else:
                blocks[-1].lines.append(text)
            i += 3
            continue
        if tok.type in ("bullet_list_open", "ordered_list_open"):
            list_depth += 1
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
        elif tok.type == "list_item_open":
            item_stack.append({"text": None, "fields": {}})
        elif tok.type == "list_item_close":
            item = item_stack.pop()
            if item["text"] is not None:
                if item_stack:
                    _attach_field(item_stack[-1], item["text"])
                else:
                    blocks[-1].items.append(_flatten_item(item))
        elif tok.type == "inline":
            text = _inline_text(tok)
            indent = "  " * max(list_depth - 1, 0)
            if item_stack and item_stack[-1]["text"] is None:
                text = _CHECKBOX.sub("", text)
                item_stack[-1]["text"] = text
                blocks[-1].lines.append(f"{indent}- {text}")
            else:
                blocks[-1].lines.append(indent + text if list_depth else text)
        elif tok.type in ("fence", "code_block"):
            blocks[-1].lines.append(tok.content.rstrip("\n"))
        i += 1
    sections = [
        Section(
            kind=classify_heading(b.heading, doc_kind) if b.heading else "summary",
            heading=b.heading or "Summary",
            text=_join(b.lines),
            items=b.items,
        )
        for b in blocks
        if b.heading is not None or b.lines
    ]
    return title, sections


def _has_text(blocks: list[_Block]) -> bool:
    return any(b.lines or b.heading for b in blocks)


def _inline_text(tok: Token) -> str:
    parts: list[str] = []
    for child in tok.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n" if child.type == "hardbreak" else " ")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts).strip()


def _attach_field(parent: dict[str, Any], text: str) -> None:
    match = _FIELD.match(text)
    if match:
        parent["fields"][match.group(1).strip().lower()] = match.group(2).strip()
    else:
        parent["fields"].setdefault("notes", []).append(text)


def _flatten_item(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"text": item["text"]}
    for key, value in item["fields"].items():
        if key == "modes" and isinstance(value, str):
            out[key] = [m.strip() for m in re.split(r"[,\s]+", value) if m.strip()]
        else:
            out[key] = value
    return out


def _join(lines: list[str]) -> str:
    out: list[str] = []
    for line in lines:
        is_item = line.lstrip().startswith("- ")
        if out and not (is_item and out[-1].lstrip().startswith("- ")):
            out.append("")
        out.append(line)
    return "\n".join(out).strip()
