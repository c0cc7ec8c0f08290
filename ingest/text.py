"""Plain text: headings recognised by their words, underlines or capitals."""

from __future__ import annotations

import re

from ingest.document import Section
from ingest.sections import classify_heading, is_known_heading

_UNDERLINE = re.compile(r"^\s*(=+|-+)\s*$")
_INLINE_HEADING = re.compile(r"^\s*([A-Za-z][A-Za-z /&'-]{2,40}):\s+(\S.*)$")


def _is_caps_heading(line: str) -> bool:
    stripped = line.strip().rstrip(":")
    return 3 <= len(stripped) <= 60 and stripped.isupper() and any(c.isalpha() for c in stripped)


def parse_text(text: str, doc_kind: str = "postmortem") -> tuple[str | None, list[Section]]:
    """Parse plain text into (title or None, sections)."""
    lines = text.splitlines()
    title: str | None = None
    sections: list[tuple[str | None, list[str]]] = [(None, [])]
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        inline = _INLINE_HEADING.match(line)
        if stripped and _UNDERLINE.match(nxt) and len(stripped) <= 80:
            heading = stripped
            i += 2
        elif (
            stripped
            and len(stripped) <= 60
            and (is_known_heading(stripped.rstrip(":")) or _is_caps_heading(stripped))
        ):
            heading = stripped.rstrip(":")
            i += 1
        elif inline and is_known_heading(inline.group(1)):
            sections.append((inline.group(1), [inline.group(2)]))
            i += 1
            continue
        else:
            if (
                title is None
                and stripped
                and not any(s[1] for s in sections)
                and len(sections) == 1
                and len(stripped) <= 120
                and not stripped.endswith(".")
            ):
                title = stripped
            else:
                sections[-1][1].append(line)
            i += 1
            continue
        if (
            title is None
            and not any(s[1] for s in sections)
            and len(sections) == 1
            and not (is_known_heading(heading))
        ):
            title = heading
        else:
            sections.append((heading, []))
    out = []
    for name, body in sections:
        content = "\n".join(body).strip()
        content = re.sub(r"\n{3,}", "\n\n", content)
        if name is None and not content:
            continue
        out.append(
            Section(
                kind=classify_heading(name, doc_kind) if name else "summary",
                heading=name or "Summary",
                text=content,
                items=_items(content),
            )
        )
    return title, out


def _items(content: str) -> list[dict[str, str]]:
    items = []
    for line in content.splitlines():
        match = re.match(r"^\s*(?:[-*+•]|\d+[.)])\s+(.*\S)", line)
        if match:
            items.append({"text": match.group(1)})
    return items
