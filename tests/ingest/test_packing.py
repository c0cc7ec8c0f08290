"""Packing sentences into pieces: budgets hold, order and offsets are kept, nothing is lost."""

from __future__ import annotations

from ingest.packing import costed, pack
from ingest.sentences import split_sentences


def words(texts: list[str]) -> list[int]:
    """A stand-in token count: one token a word, plus the two special tokens."""
    return [len(t.split()) + 2 for t in texts]


def test_sentences_are_packed_whole_and_in_order_within_the_budget() -> None:
    text = "One two three. Four five six seven. Eight nine. Ten eleven twelve thirteen fourteen."
    pieces = pack(costed(split_sentences(text), 6, words), 6)
    assert [[s.text for s in p] for p in pieces] == [
        ["One two three."],
        ["Four five six seven.", "Eight nine."],
        ["Ten eleven twelve thirteen fourteen."],
    ]
    assert all(sum(len(s.text.split()) for s in p) <= 6 for p in pieces)


def test_a_sentence_over_the_budget_is_cut_into_runs_that_keep_offsets_and_spacing() -> None:
    text = "Short one. " + "Alpha beta\n  gamma delta epsilon zeta eta theta iota kappa"
    pieces = pack(costed(split_sentences(text), 4, words), 4)
    runs = [s for p in pieces for s in p]
    assert all(text[s.start : s.end] == s.text for s in runs)
    assert "Alpha beta\n  gamma delta" in [s.text for s in runs]  # the text as written
    assert " ".join(s.text for s in runs).split() == text.split()
    assert all(len(s.text.split()) <= 4 for s in runs)
