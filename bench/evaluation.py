"""Retrieval metrics on the labelled search set (used by tests and bench/search.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

EVAL_SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "search_eval.yaml"


def load_eval_set(path: Path = EVAL_SET) -> list[dict[str, Any]]:
    return list(yaml.safe_load(path.read_text()))


def evaluate(searcher: Any, queries: list[dict[str, Any]], **options: Any) -> dict[str, float]:
    """recall@1, recall@5 and MRR@10 (documents, first relevant hit) for one configuration."""
    r1 = r5 = mrr = 0.0
    misses = []
    for item in queries:
        ids = [h["id"] for h in searcher.search(item["query"], k=10, **options).results]
        relevant = set(item["relevant"])
        rank = next((n for n, doc_id in enumerate(ids, 1) if doc_id in relevant), None)
        if rank is not None:
            mrr += 1 / rank
            r1 += rank == 1
            r5 += rank <= 5
        if rank is None or rank > 5:
            misses.append(item["id"])
    n = len(queries)
    return {"recall@1": r1 / n, "recall@5": r5 / n, "mrr": mrr / n, "misses": misses}  # type: ignore[dict-item]
