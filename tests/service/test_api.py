"""The REST API through real HTTP (gunicorn): every route, auth, problem documents, limits, and
the same answers as the CLI."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from service.hindsight import Hindsight
from tests.conftest import HIT_KEYS, run_cli
from tests.server import copy_store, gunicorn_server

TOKEN = {"Authorization": "Bearer test-token"}
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def server(corpus_server: tuple[str, Path]) -> str:
    return corpus_server[0]


@pytest.fixture(scope="module")
def closed_server(tmp_path_factory: pytest.TempPathFactory, corpus_app: Hindsight) -> Iterator[str]:
    """A second server: reads need a token, and documents are capped at 2,000 bytes."""
    data = tmp_path_factory.mktemp("closed")
    copy_store(corpus_app.config.data_path, data)
    env = {
        "HINDSIGHT_DATA_DIR": str(data),
        "HINDSIGHT_API_TOKEN": "closed-token",
        "HINDSIGHT_READ_TOKEN_REQUIRED": "true",
        "HINDSIGHT_MAX_DOCUMENT_BYTES": "2000",
    }
    with gunicorn_server(env) as base:
        yield base


def assert_problem(response: requests.Response, status: int, *needles: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    for needle in needles:
        assert needle in body["detail"], body["detail"]
    return body


def unique_postmortem(marker: str) -> str:
    return (
        f"# Queue consumers stalled ({marker})\n\n## Summary\n"
        f"A poison message {marker} made every RabbitMQ consumer crash-loop, and the order "
        "queue grew for two hours.\n\n## Root cause\nThe consumer retried the same malformed "
        "message forever instead of moving it to a dead-letter queue.\n"
    )


# -- operations ----------------------------------------------------------------------------


def test_health_and_readiness(server: str) -> None:
    assert requests.get(server + "/healthz").json() == {"status": "ok"}
    ready = requests.get(server + "/readyz").json()
    assert ready["status"] == "ready" and ready["model_loaded"] is True
    assert ready["chunks"] > 500 and ready["documents"] > 100


def test_metrics_count_requests_by_route_and_report_the_store(server: str) -> None:
    for q in ("dns outage", "expired certificate"):
        assert requests.get(server + "/api/v1/search", params={"q": q}).status_code == 200
    requests.get(server + "/api/v1/documents/no-such-doc")
    text = requests.get(server + "/metrics").text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    search_ok = 'hindsight_http_requests_total{method="GET",route="/api/v1/search",status="200"}'
    assert samples[search_ok] >= 2
    missing = (
        'hindsight_http_requests_total{method="GET",'
        'route="/api/v1/documents/<doc_id>",status="404"}'
    )
    assert samples[missing] >= 1
    assert samples["hindsight_search_duration_seconds_count"] >= 2
    assert any(k.startswith("hindsight_http_request_duration_seconds_bucket") for k in samples)
    stats = requests.get(server + "/api/v1/stats").json()
    assert samples['hindsight_documents{kind="postmortem"}'] == stats["by_kind"]["postmortem"]
    assert samples["hindsight_chunks"] == stats["chunks"]


def test_openapi_document_and_browsable_docs(server: str) -> None:
    spec = requests.get(server + "/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    for path in (
        "/api/v1/search",
        "/api/v1/documents",
        "/api/v1/documents/{doc_id}",
        "/api/v1/modes",
        "/api/v1/modes/{mode_id}",
        "/api/v1/stats",
        "/api/v1/tag",
        "/api/v1/review",
        "/api/v1/documents/{doc_id}/modes",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in spec["paths"], path
    post = spec["paths"]["/api/v1/documents"]["post"]
    assert post["security"] == [{"bearer": []}]
    assert set(post["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    error = spec["paths"]["/api/v1/search"]["get"]["responses"]["422"]
    assert PROBLEM in error["content"]
    docs = requests.get(server + "/api/docs/swagger")
    assert docs.status_code == 200 and "swagger-ui" in docs.text


# -- search --------------------------------------------------------------------------------


def test_search_answers_the_contract(server: str) -> None:
    response = requests.get(
        server + "/api/v1/search", params={"q": "telemetry overloaded the kubernetes api", "k": 3}
    )
    assert response.status_code == 200
    out = response.json()
    assert set(out) >= {"query", "results", "facets", "took_ms"}
    assert len(out["results"]) == 3 and out["results"][0]["id"] == "openai-2024-12-11"
    assert set(out["results"][0]) >= HIT_KEYS
    assert set(out["facets"]) == {"modes", "orgs", "years"}


def test_search_filters(server: str) -> None:
    params: dict[str, Any] = {
        "q": "configuration push took down the network",
        "k": 50,
        "mode": ["dns-discovery", "config-change"],
        "kind": "postmortem",
        "since": 2019,
        "until": 2024,
    }
    out = requests.get(server + "/api/v1/search", params=params).json()
    assert out["results"]
    for hit in out["results"]:
        assert {"dns-discovery", "config-change"} <= {m["id"] for m in hit["modes"]}
        assert hit["kind"] == "postmortem" and 2019 <= int(hit["date"][:4]) <= 2024


def test_api_search_equals_the_cli(corpus_server: tuple[str, Path]) -> None:
    base, data = corpus_server
    args = ["certificate expired and logins failed", "-k", "7", "--mode", "expiry"]
    cli = run_cli(["search", *args, "--json"], {"HINDSIGHT_DATA_DIR": str(data)})
    assert cli.returncode == 0, cli.stderr
    api = requests.get(
        base + "/api/v1/search", params={"q": args[0], "k": 7, "mode": "expiry"}
    ).json()
    from_cli = json.loads(cli.stdout)
    from_cli.pop("took_ms"), api.pop("took_ms")
    assert api == from_cli
    assert api["results"]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"q": ""}, "q:"),
        ({"q": "   "}, "empty"),
        ({"q": "?!"}, "letters or digits"),
        ({"q": "x" * 2001}, "at most 2000"),
        ({"q": "dns", "k": 0}, "k:"),
        ({"q": "dns", "k": 101}, "k:"),
        ({"q": "dns", "k": "ten"}, "k:"),
        ({"q": "dns", "since": "last year"}, "since:"),
        ({"q": "dns", "kind": "novel"}, "kind:"),
        ({"q": "dns", "mode": ["m"] * 21}, "mode:"),
        ({}, "q:"),
    ],
)
def test_search_rejects_bad_input_with_a_problem(
    server: str, params: dict[str, Any], needle: str
) -> None:
    body = assert_problem(requests.get(server + "/api/v1/search", params=params), 422, needle)
    if "errors" in body:
        assert all(e["loc"][0] == "query" for e in body["errors"])


# -- documents -----------------------------------------------------------------------------


def test_document_with_sections_modes_and_similar_incidents(server: str) -> None:
    doc = requests.get(server + "/api/v1/documents/openai-2024-12-11").json()
    assert doc["title"] and doc["org"] == "OpenAI" and doc["sections"]
    assert {"id", "name", "axis", "confidence", "origin", "evidence"} <= set(doc["modes"][0])
    assert 1 <= len(doc["similar"]) <= 5
    assert "openai-2024-12-11" not in {s["id"] for s in doc["similar"]}
    assert all(s["kind"] == "postmortem" for s in doc["similar"])
    scores = [s["score"] for s in doc["similar"]]
    assert scores == sorted(scores, reverse=True)


def test_api_document_equals_cli_show(corpus_server: tuple[str, Path]) -> None:
    base, data = corpus_server
    cli = run_cli(["show", "cloudflare-2019-07-02", "--json"], {"HINDSIGHT_DATA_DIR": str(data)})
    assert cli.returncode == 0, cli.stderr
    api = requests.get(base + "/api/v1/documents/cloudflare-2019-07-02").json()
    api.pop("similar")
    assert api == json.loads(cli.stdout)


def test_unknown_document_and_mode_are_404_problems(server: str) -> None:
    assert_problem(requests.get(server + "/api/v1/documents/no-such-doc"), 404, "no-such-doc")
    assert_problem(requests.get(server + "/api/v1/modes/no-such-mode"), 404, "no-such-mode")
    assert_problem(requests.delete(server + "/api/v1/documents/nope", headers=TOKEN), 404)


def test_post_search_get_and_delete_a_document(server: str) -> None:
    marker = "zq" + uuid.uuid4().hex[:10]
    body = {"content": unique_postmortem(marker), "org": "Acme", "date": "2023-05-04"}
    created = requests.post(server + "/api/v1/documents", json=body, headers=TOKEN)
    assert created.status_code == 201, created.text
    doc_id = created.json()["id"]
    assert created.json()["status"] == "added"
    assert created.headers["Location"] == f"/api/v1/documents/{doc_id}"
    again = requests.post(server + "/api/v1/documents", json=body, headers=TOKEN)
    assert again.status_code == 200 and again.json()["id"] == doc_id
    assert again.json()["status"] == "unchanged"

    stored = requests.get(server + f"/api/v1/documents/{doc_id}").json()
    assert stored["org"] == "Acme" and stored["date"] == "2023-05-04"
    assert [s["kind"] for s in stored["sections"]] == ["summary", "root_cause"]
    found = requests.get(server + "/api/v1/search", params={"q": marker, "k": 3}).json()
    assert found["results"][0]["id"] == doc_id

    assert requests.delete(server + f"/api/v1/documents/{doc_id}", headers=TOKEN).status_code == 204
    assert requests.get(server + f"/api/v1/documents/{doc_id}").status_code == 404
    after = requests.get(server + "/api/v1/search", params={"q": marker, "k": 3}).json()
    assert doc_id not in {h["id"] for h in after["results"]}


def test_post_a_multipart_file(server: str) -> None:
    marker = "mp" + uuid.uuid4().hex[:10]
    files = {"file": ("outage.md", unique_postmortem(marker).encode(), "text/markdown")}
    created = requests.post(
        server + "/api/v1/documents", files=files, data={"kind": "postmortem"}, headers=TOKEN
    )
    assert created.status_code == 201, created.text
    doc_id = created.json()["id"]
    stored = requests.get(server + f"/api/v1/documents/{doc_id}").json()
    assert stored["format"] == "markdown" and marker in stored["sections"][0]["text"]
    requests.delete(server + f"/api/v1/documents/{doc_id}", headers=TOKEN)


@pytest.mark.parametrize(
    ("kwargs", "status", "needle"),
    [
        ({"json": {}}, 422, "url (to fetch) or content"),
        ({"json": {"content": "x", "colour": "red"}}, 422, "colour"),
        ({"json": {"content": "# T\n\nx", "kind": "memo"}}, 422, "kind"),
        ({"json": {"url": "ftp://example.com/x"}}, 422, "url"),
        ({"json": {"content": "\x00binary"}}, 422, "binary"),
        ({"json": {"content": "   "}}, 422, "empty"),
        ({"json": ["a", "list"]}, 422, "JSON object"),
        ({"data": "plain text", "headers": {"Content-Type": "text/plain"}}, 415, "JSON"),
        ({"data": "{not json", "headers": {"Content-Type": "application/json"}}, 422, "JSON"),
        ({"files": {"other": ("a.md", b"# A\n\nb")}}, 422, "'file' part"),
        ({"json": {"url": "http://127.0.0.1:9/postmortem"}}, 422, "non-public"),
    ],
)
def test_post_rejects_bad_documents_with_a_problem(
    server: str, kwargs: dict[str, Any], status: int, needle: str
) -> None:
    headers = TOKEN | kwargs.pop("headers", {})
    response = requests.post(server + "/api/v1/documents", headers=headers, **kwargs)
    assert_problem(response, status, needle)


# -- auth ----------------------------------------------------------------------------------


def test_writes_need_a_valid_token(corpus_server: tuple[str, Path]) -> None:
    base, data = corpus_server
    body = {"content": unique_postmortem("auth" + uuid.uuid4().hex[:8])}
    url = base + "/api/v1/documents"

    missing = requests.post(url, json=body)
    assert_problem(missing, 401, "token")
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.post(url, json=body, headers={"Authorization": "Bearer not-a-token"})
    assert_problem(wrong, 401, "not valid")
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    assert_problem(requests.delete(base + "/api/v1/documents/openai-2024-12-11"), 401)

    env = {"HINDSIGHT_DATA_DIR": str(data)}
    name = "writer-" + uuid.uuid4().hex[:6]
    created = run_cli(["token", "create", name], env)
    assert created.returncode == 0, created.stderr
    fresh = {"Authorization": f"Bearer {created.stdout.strip()}"}
    stored = requests.post(url, json=body, headers=fresh)
    assert stored.status_code == 201, stored.text
    assert run_cli(["token", "revoke", name], env).returncode == 0
    doc = base + f"/api/v1/documents/{stored.json()['id']}"
    assert_problem(requests.delete(doc, headers=fresh), 401, "revoked")
    assert requests.delete(doc, headers=TOKEN).status_code == 204


def test_reads_are_open_by_default(server: str) -> None:
    for path in ("/api/v1/search?q=dns", "/api/v1/modes", "/api/v1/stats", "/", "/metrics"):
        assert requests.get(server + path).status_code == 200, path


def test_closed_reads_need_a_token(closed_server: str) -> None:
    closed = {"Authorization": "Bearer closed-token"}
    for path in ("/api/v1/search?q=dns", "/api/v1/modes", "/api/v1/stats", "/metrics"):
        assert_problem(requests.get(closed_server + path), 401)
        assert requests.get(closed_server + path, headers=closed).status_code == 200
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert requests.get(closed_server + path).status_code == 200, path
    page = requests.get(closed_server + "/", headers={"Accept": "text/html"})
    assert page.status_code == 401 and page.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(closed_server + "/", auth=("me", "closed-token")).status_code == 200
    assert requests.get(closed_server + "/", auth=("me", "wrong")).status_code == 401


# -- limits --------------------------------------------------------------------------------


def test_bodies_and_documents_over_the_limit_are_413(closed_server: str) -> None:
    closed = {"Authorization": "Bearer closed-token"}
    url = closed_server + "/api/v1/documents"
    huge = requests.post(url, json={"content": "x" * 200_000}, headers=closed)
    assert_problem(huge, 413, "larger")
    over_cap = requests.post(url, json={"content": "# T\n\n" + "word " * 1000}, headers=closed)
    assert_problem(over_cap, 413, "over the cap of 2000")


# -- taxonomy and stats --------------------------------------------------------------------


def test_modes_and_one_mode(server: str) -> None:
    modes = requests.get(server + "/api/v1/modes").json()["modes"]
    assert len(modes) >= 20
    by_id = {m["id"]: m for m in modes}
    assert by_id["dns-discovery"]["incidents"] > 0
    mode = requests.get(server + "/api/v1/modes/dns-discovery").json()
    assert mode["name"] == by_id["dns-discovery"]["name"]
    assert len(mode["incidents"]) == by_id["dns-discovery"]["incidents"]
    assert all(d["kind"] == "postmortem" for d in mode["incidents"])
    assert all(d["kind"] == "runbook" for d in mode["runbooks"])


def test_stats_counts_add_up(server: str) -> None:
    stats = requests.get(server + "/api/v1/stats").json()
    assert stats["documents"] == sum(stats["by_kind"].values())
    assert sum(stats["by_year"].values()) <= stats["by_kind"]["postmortem"]
    assert sum(stats["by_org"].values()) <= stats["by_kind"]["postmortem"]
    for mode_id, years in stats["by_mode_year"].items():
        assert sum(years.values()) <= stats["by_mode"][mode_id]


# -- errors --------------------------------------------------------------------------------


def test_unknown_routes_and_methods_are_problems(server: str) -> None:
    assert_problem(requests.get(server + "/api/v1/nothing-here"), 404)
    wrong_method = requests.patch(server + "/api/v1/stats")
    assert_problem(wrong_method, 405)
    assert "GET" in wrong_method.headers["Allow"]


# -- tagging, review and confirmed modes ---------------------------------------------------

PLANS = Path(__file__).resolve().parent.parent / "data" / "review_plans.yaml"


def test_review_answers_the_contract(server: str) -> None:
    plan = (
        "Roll out the new metrics agent as a DaemonSet to all production clusters this afternoon."
    )
    response = requests.post(server + "/api/v1/review", json={"plan": plan, "k": 3})
    assert response.status_code == 200, response.text
    out = response.json()
    assert set(out) >= {"risks", "incidents", "runbooks", "checklist", "gaps"}
    assert out["risks"] and len(out["incidents"]) == 3
    for risk in out["risks"]:
        assert set(risk) >= {"mode", "name", "axis", "level", "confidence", "reasons", "incidents"}
        assert risk["level"] in ("high", "medium", "low")
    assert "control-plane-overload" in {r["mode"] for r in out["risks"]}
    assert {"staged-rollout", "rollback-plan"} <= {g["id"] for g in out["gaps"]}
    assert all(
        set(i) >= {"id", "title", "org", "url", "score", "snippet"} for i in out["incidents"]
    )
    assert all(set(c) >= {"item", "mode", "source"} for c in out["checklist"])


def test_api_review_equals_the_cli(corpus_server: tuple[str, Path]) -> None:
    import yaml

    base, data = corpus_server
    plan = yaml.safe_load(PLANS.read_text())[3]["plan"]
    cli = run_cli(
        ["review", "-", "--format", "json"], {"HINDSIGHT_DATA_DIR": str(data)}, stdin=plan
    )
    assert cli.returncode == 0, cli.stderr
    api = requests.post(base + "/api/v1/review", json={"plan": plan}).json()
    from_cli = json.loads(cli.stdout)
    from_cli.pop("took_ms", None), api.pop("took_ms", None)
    assert api == from_cli
    assert api["risks"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"plan": ""}, "plan:"),
        ({"plan": "   \n  "}, "empty"),
        ({"plan": "x" * 20_001}, "at most 20000"),
        ({"plan": "resize the cache", "k": 0}, "k:"),
        ({"plan": "resize the cache", "k": 21}, "k:"),
        ({"plan": "resize the cache", "fail_on": "high"}, "fail_on"),
        ({}, "plan:"),
    ],
)
def test_review_rejects_bad_plans(server: str, body: dict[str, Any], needle: str) -> None:
    assert_problem(requests.post(server + "/api/v1/review", json=body), 422, needle)


def test_tag_a_text(server: str) -> None:
    text = "The etcd database filled up and the Kubernetes API went read-only for an hour."
    out = requests.post(server + "/api/v1/tag", json={"text": text}).json()
    assert out["modes"]
    top = out["modes"][0]
    assert set(top) >= {"id", "name", "axis", "confidence", "evidence"}
    assert "control-plane-overload" in {m["id"] for m in out["modes"]}
    for ev in top["evidence"]:
        assert text[ev["start"] : ev["end"]] == ev["text"]
    assert_problem(requests.post(server + "/api/v1/tag", json={"text": " "}), 422, "empty")
    assert_problem(requests.post(server + "/api/v1/tag", json={}), 422, "text:")


def test_confirm_modes_by_hand(server: str) -> None:
    marker = "hm" + uuid.uuid4().hex[:10]
    created = requests.post(
        server + "/api/v1/documents", json={"content": unique_postmortem(marker)}, headers=TOKEN
    )
    doc_id = created.json()["id"]
    url = server + f"/api/v1/documents/{doc_id}/modes"
    try:
        before = {
            m["id"] for m in requests.get(server + f"/api/v1/documents/{doc_id}").json()["modes"]
        }
        assert_problem(requests.put(url, json={"modes": ["retry-storm"]}), 401)
        assert_problem(
            requests.put(url, json={"modes": ["retry-storm", "no-such"]}, headers=TOKEN),
            422,
            "no-such",
        )
        assert_problem(
            requests.put(
                server + "/api/v1/documents/no-such-doc/modes", json={"modes": []}, headers=TOKEN
            ),
            404,
        )
        done = requests.put(url, json={"modes": ["retry-storm", "bad-input"]}, headers=TOKEN)
        assert done.status_code == 200, done.text
        assert done.json() == {"id": doc_id, "modes": ["retry-storm", "bad-input"]}
        doc = requests.get(server + f"/api/v1/documents/{doc_id}").json()
        assert {m["id"]: m["origin"] for m in doc["modes"]} == {
            "retry-storm": "human",
            "bad-input": "human",
        }
        assert set(doc["rejected_modes"]) == before - {"retry-storm", "bad-input"}
        found = requests.get(
            server + "/api/v1/search", params={"q": marker, "mode": "retry-storm"}
        ).json()
        assert found["results"][0]["id"] == doc_id
        assert all("retry-storm" in {m["id"] for m in h["modes"]} for h in found["results"])
    finally:
        requests.delete(server + f"/api/v1/documents/{doc_id}", headers=TOKEN)


def test_hindsight_serve_answers_on_an_empty_store(tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys
    import time

    from tests.server import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HINDSIGHT_")}
    env["HINDSIGHT_DATA_DIR"] = str(tmp_path / "data")
    exe = shutil.which("hindsight", path=str(Path(sys.executable).parent)) or "hindsight"
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [exe, "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                if requests.get(base + "/readyz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "hindsight serve did not become ready"
            time.sleep(0.5)
        page = requests.get(base + "/")
        assert page.status_code == 200 and "hindsight init" in page.text
        assert requests.get(base + "/api/v1/search", params={"q": "dns"}).json()["results"] == []
    finally:
        proc.terminate()
        proc.wait(timeout=30)
