"""Packing sentences greedily into pieces that fit a budget (model tokens, or words).

Chunking at ingest and the tagger's windows both use it. Pieces keep their sentences, with
offsets, so a piece can be traced back into the text it came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from ingest.sentences import Sentence

TokenCounts = Callable[[list[str]], list[int]]  # model tokens of each text, special ones included
SPECIAL_TOKENS = 2  # [CLS] and [SEP], paid once per piece


def costed(
    sentences: Sequence[Sentence], budget: int, token_counts: TokenCounts
) -> list[tuple[Sentence, int]]:
    """Each sentence with its cost in tokens (special tokens aside), counted in one batch; a
    sentence over ``budget`` alone is cut into runs of words that fit."""
    parts: list[tuple[Sentence, int]] = []
    counts = token_counts([s.text for s in sentences])
    for sentence, count in zip(sentences, counts, strict=True):
        cost = count - SPECIAL_TOKENS
        parts += [(sentence, cost)] if cost <= budget else word_runs(sentence, budget, token_counts)
    return parts


def pack(parts: Sequence[tuple[Sentence, int]], budget: int) -> list[list[Sentence]]:
    """Sentences, each with its cost, packed in order into pieces costing at most ``budget``
    (a single sentence over it gets a piece of its own)."""
    pieces: list[list[Sentence]] = []
    current: list[Sentence] = []
    used = 0
    for part, cost in parts:
        if current and used + cost > budget:
            pieces.append(current)
            current, used = [], 0
        current.append(part)
        used += cost
    if current:
        pieces.append(current)
    return pieces


def word_runs(
    sentence: Sentence, budget: int, token_counts: TokenCounts
) -> list[tuple[Sentence, int]]:
    """Runs of the sentence's words that each fit ``budget`` tokens, with their offsets and
    costs (words are costed one by one, so a huge unpunctuated text stays linear)."""
    words = list(re.finditer(r"\S+", sentence.text))
    costs = [max(n - SPECIAL_TOKENS, 1) for n in token_counts([w.group() for w in words])]
    runs: list[tuple[Sentence, int]] = []
    first = used = 0
    for i, cost in enumerate(costs):
        if used and used + cost > budget:
            runs.append((_span(sentence, words[first].start(), words[i - 1].end()), used))
            used = 0
        if not used:
            first = i
        used += cost
    if used:
        runs.append((_span(sentence, words[first].start(), words[-1].end()), used))
    return runs


def _span(sentence: Sentence, start: int, end: int) -> Sentence:
    """The part of ``sentence`` from ``start`` to ``end`` (offsets within it)."""
    return Sentence(sentence.text[start:end], sentence.start + start, sentence.start + end)
