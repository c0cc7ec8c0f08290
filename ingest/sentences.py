"""Sentence splitting with character offsets, shared by chunking and tag evidence."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? (optionally followed by a quote or bracket) before white space and
# a capital, digit or opening mark; list items and paragraphs (newlines) also end one.
_BOUNDARY = re.compile(
    r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(\[`*])|\n\s*\n|\n(?=\s*(?:[-*+]|\d+\.)\s)"
)
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "approx.", "incl.", "no.", "mr.", "ms.", "dr.")


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    end: int


def split_sentences(text: str) -> list[Sentence]:
    """Split text into sentences, keeping each one's offsets into ``text``."""
    sentences: list[Sentence] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        candidate = text[start : match.start()]
        if candidate.rstrip().lower().endswith(_ABBREVIATIONS):
            continue
        _append(sentences, text, start, match.start())
        start = match.end()
    _append(sentences, text, start, len(text))
    return sentences


def _append(out: list[Sentence], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    lead = len(piece) - len(piece.lstrip())
    begin = start + lead
    out.append(Sentence(stripped, begin, begin + len(stripped)))
