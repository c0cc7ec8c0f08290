"""Search quality on our labelled set: hybrid meets the targets and beats each half alone."""

from __future__ import annotations

from bench.evaluation import evaluate, load_eval_set
from service.hindsight import Hindsight


def test_hybrid_meets_targets_and_beats_both_halves(corpus_app: Hindsight) -> None:
    queries = load_eval_set()
    assert len(queries) >= 40
    assert len({d for q in queries for d in q["relevant"]}) >= 40
    hybrid = evaluate(corpus_app.searcher, queries)
    dense = evaluate(corpus_app.searcher, queries, use_keyword=False)
    keyword = evaluate(corpus_app.searcher, queries, use_dense=False)
    assert hybrid["recall@5"] >= 0.9, hybrid
    assert hybrid["mrr"] >= 0.7, hybrid
    for other in (dense, keyword):
        assert hybrid["mrr"] > other["mrr"], (hybrid, other)
        assert hybrid["recall@5"] >= other["recall@5"], (hybrid, other)
