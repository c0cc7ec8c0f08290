"""Splitting a document into chunks that fit the embedding model's window, per section."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.document import Document
from ingest.packing import SPECIAL_TOKENS, TokenCounts, costed, pack
from ingest.sentences import split_sentences


def approximate_counts(texts: list[str]) -> list[int]:
    """A tokenizer-free estimate of each text's tokens (words, punctuation, long words split,
    the two special tokens), for when no model is at hand."""
    return [
        sum(1 + len(piece) // 8 for piece in re.findall(r"\w+|[^\w\s]", text)) + SPECIAL_TOKENS
        for text in texts
    ]


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
    doc: Document, *, max_tokens: int = 230, token_counts: TokenCounts = approximate_counts
) -> list[ChunkDraft]:
    """Pack each section's sentences greedily into chunks of at most ``max_tokens`` tokens,
    counting the title and heading context; a sentence too long alone is split by words."""
    drafts: list[ChunkDraft] = []
    for index, section in enumerate(doc.sections):
        text = section.text.strip()
        if not text:
            continue
        (context,) = token_counts([f"{doc.title} — {section.heading}: "])
        budget = max(max_tokens - context, 32)
        for piece in pack(costed(split_sentences(text), budget, token_counts), budget):
            chunk = " ".join(s.text for s in piece)
            drafts.append(ChunkDraft(index, len(drafts), section.heading, chunk))
    return drafts
