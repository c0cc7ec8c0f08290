"""Splitting a document into chunks that fit the embedding model's window, per section."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ingest.document import Document
from ingest.sentences import split_sentences

TokenCounter = Callable[[str], int]


def approximate_tokens(text: str) -> int:
    """A tokenizer-free estimate (words, punctuation, long words split) for when none is given."""
    count = 0
    for piece in re.findall(r"\w+|[^\w\s]", text):
        count += 1 + len(piece) // 8
    return count + 2  # [CLS] and [SEP]


@dataclass(frozen=True)
class ChunkDraft:
    section_index: int
    position: int  # order within the document
    heading: str
    text: str  # the passage itself (shown as a snippet)

    def embed_text(self, title: str) -> str:
        """What the model reads: the passage with its title and heading as context."""
        return f"{title} — {self.heading}: {self.text}"


def chunk_document(
    doc: Document, *, max_tokens: int = 230, count_tokens: TokenCounter = approximate_tokens
) -> list[ChunkDraft]:
    """Pack each section's sentences greedily into chunks of at most ``max_tokens`` tokens,
    counting the title and heading context; a sentence too long alone is split by words."""
    drafts: list[ChunkDraft] = []
    for index, section in enumerate(doc.sections):
        text = section.text.strip()
        if not text:
            continue
        context = count_tokens(f"{doc.title} — {section.heading}: ")
        budget = max(max_tokens - context, 32)
        for piece in _pack(text, budget, count_tokens):
            drafts.append(ChunkDraft(index, len(drafts), section.heading, piece))
    return drafts


def _pack(text: str, budget: int, count: TokenCounter) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    used = 0
    for sentence in split_sentences(text):
        for part in _fit(sentence.text, budget, count):
            cost = count(part) - 2  # special tokens are paid once per chunk
            if current and used + cost > budget:
                pieces.append(" ".join(current))
                current, used = [], 0
            current.append(part)
            used += cost
    if current:
        pieces.append(" ".join(current))
    return pieces


def _fit(sentence: str, budget: int, count: TokenCounter) -> list[str]:
    if count(sentence) - 2 <= budget:
        return [sentence]
    # Too long for one chunk: cut at word boundaries, costing each word on its own so a huge
    # unpunctuated text stays linear.
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for word in sentence.split():
        cost = max(count(word) - 2, 1)
        if current and used + cost > budget:
            parts.append(" ".join(current))
            current, used = [], 0
        current.append(word)
        used += cost
    if current:
        parts.append(" ".join(current))
    return parts
