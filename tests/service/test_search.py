"""Hybrid search: result shape, filters, facets, and clear answers to odd queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.embedding import Embedder
from service.hindsight import Hindsight
from service.search import MAX_QUERY_CHARS, Filters, QueryError, encode_query
from tests.conftest import HIT_KEYS

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"


def test_openai_postmortem_first_for_the_telemetry_query(corpus_app: Hindsight) -> None:
    result = corpus_app.search("telemetry rollout overloaded the kubernetes api servers")
    assert result.results[0]["id"] == "openai-2024-12-11"


def test_result_object_matches_the_contract(corpus_app: Hindsight) -> None:
    out = corpus_app.search("certificate expired and logins failed", k=5).as_dict()
    assert set(out) >= {"query", "results", "facets", "took_ms"}
    assert len(out["results"]) == 5
    for hit in out["results"]:
        assert set(hit) >= HIT_KEYS
        assert 0 < hit["score"] <= 1
        for start, end in hit["highlights"]:
            assert (
                hit["snippet"][start:end].lower().startswith(("certif", "expir", "login", "fail"))
            )
    assert out["results"][0]["score"] == 1.0
    assert [h["score"] for h in out["results"]] == sorted(
        (h["score"] for h in out["results"]), reverse=True
    )
    assert set(out["facets"]) == {"modes", "orgs", "years"}


def test_filters_and_facets(corpus_app: Hindsight) -> None:
    q = "configuration push took down the network"
    everything = corpus_app.search(q, k=50)
    dns = corpus_app.search(q, k=50, filters=Filters(modes=("dns-discovery",)))
    assert dns.results and all(
        "dns-discovery" in {m["id"] for m in hit["modes"]} for hit in dns.results
    )
    both = corpus_app.search(q, k=50, filters=Filters(modes=("dns-discovery", "config-change")))
    assert {h["id"] for h in both.results} <= {h["id"] for h in dns.results}
    assert all(
        {"dns-discovery", "config-change"} <= {m["id"] for m in h["modes"]} for h in both.results
    )
    # A facet counts the candidates carrying the value; filtering by it retrieves within that
    # value alone, so it finds at least as many.
    assert len(dns.results) >= min(everything.facets["modes"]["dns-discovery"], 50)
    cf = corpus_app.search(q, k=50, filters=Filters(org="cloudflare"))
    assert cf.results and {h["org"] for h in cf.results} == {"Cloudflare"}
    assert list(cf.facets["orgs"]) == ["Cloudflare"]
    assert cf.facets["orgs"]["Cloudflare"] >= len(cf.results)
    runbooks = corpus_app.search(q, k=50, filters=Filters(kind="runbook"))
    assert runbooks.results and {h["kind"] for h in runbooks.results} == {"runbook"}
    recent = corpus_app.search(q, k=50, filters=Filters(since=2021, until=2022))
    assert recent.results
    assert all(2021 <= int(h["date"][:4]) <= 2022 for h in recent.results)
    assert set(recent.facets["years"]) <= {"2021", "2022"}
    none = corpus_app.search(q, filters=Filters(since=1990, until=1991))
    assert none.results == [] and none.hint and "filter" in none.hint


def test_empty_store_answers_with_a_hint(sqlite_app: Hindsight) -> None:
    result = sqlite_app.search("dns outage")
    assert result.results == []
    assert result.hint is not None and "hindsight init" in result.hint


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "the query is empty"),
        ("   \n ", "the query is empty"),
        ("?!... ---", "no letters or digits"),
        ("x" * 10_000, f"the query is 10000 characters; the limit is {MAX_QUERY_CHARS}"),
    ],
)
def test_odd_queries_get_a_clear_answer(corpus_app: Hindsight, query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        corpus_app.search(query)


def test_exact_error_strings_are_found_by_keyword(corpus_app: Hindsight) -> None:
    hits = corpus_app.search("NOSPACE alarm", k=3).results
    assert hits[0]["id"] == "rb-etcd-space-exceeded"


def test_query_encoding_leaves_the_torch_thread_setting_as_it_was(embedder: Embedder) -> None:
    import numpy as np
    import torch

    before = torch.get_num_threads()
    vector = encode_query(embedder, "certificate expired")  # on one thread
    assert torch.get_num_threads() == before
    assert np.allclose(vector, embedder.encode(["certificate expired"])[0], atol=2e-2)
