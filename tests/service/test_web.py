"""Page helpers and the app on an empty store (Flask's test client; the browser tests are in
test_pages.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient

from service.app import create_app, hindsight_of
from service.embedding import Embedder
from service.hindsight import Hindsight
from service.web import _evidence_spans, bars, heat, http_url, segments


def test_segments_mark_the_spans_and_keep_every_character() -> None:
    text = "the cache fell over and the queue grew"
    runs = segments(text, [(4, 9), (28, 33), (6, 12), (12, 14), (100, 120), (-3, 0)])
    assert "".join(piece for piece, _ in runs) == text
    assert [piece for piece, on in runs if on] == ["cache fell", "queue"]


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("https://example.com/pm", True),
        ("http://example.com", True),
        ("javascript:alert(1)", False),
        (" JavaScript:alert(1)", False),
        ("data:text/html,<script>x</script>", False),
        ("//evil.example.com", False),
        ("https://", False),
        (None, False),
    ],
)
def test_only_http_links_are_kept(value: Any, kept: bool) -> None:
    assert (http_url(value) is not None) is kept


def test_evidence_is_found_by_offsets_or_by_its_words() -> None:
    doc = {
        "sections": [
            {"text": "First line.\nThe disk   filled up overnight."},
            {"text": "Nothing here."},
        ],
        "modes": [
            {"evidence": [{"text": "First line.", "section": 0, "start": 0, "end": 11}]},
            {"evidence": [{"text": "The disk filled up", "section": 1, "start": 0, "end": 5}]},
            {"evidence": [{"note": "front matter"}, {"text": "   "}]},
        ],
    }
    assert _evidence_spans(doc) == {0: [(0, 11), (12, 32)]}


def test_chart_geometry() -> None:
    chart = bars({"a": 10, "b": 5, "c": 0})
    assert [r["w"] for r in chart["rows"]] == [370, 185, 1]
    assert chart["height"] == 3 * chart["row"]
    grid = heat({"m1": {"2020": 4, "2021": 1}, "m2": {"2021": 2}}, {"m1": "Mode one"})
    assert grid["years"] == ["2020", "2021"] and grid["modes"][0] == ("m1", "Mode one")
    levels = {(c["y"], c["x"]): c["level"] for c in grid["cells"]}
    assert levels == {(0, 0): 4, (0, 1): 1, (1, 0): 0, (1, 1): 2}


@pytest.fixture
def client(sqlite_app: Hindsight, embedder: Embedder) -> Iterator[FlaskClient]:
    """The app on an empty store (taxonomy only), without the warm-up."""
    app = create_app({"data_dir": str(sqlite_app.config.data_path)}, warm=False)
    hindsight_of(app).__dict__["embedder"] = embedder
    yield app.test_client()
    hindsight_of(app).engine.dispose()


def test_an_empty_store_says_how_to_fill_it(client: FlaskClient) -> None:
    for path in ("/", "/stats"):
        page = client.get(path)
        assert page.status_code == 200
        assert "hindsight init" in page.get_data(as_text=True)
    result = client.get("/api/v1/search?q=dns").get_json()
    assert result["results"] == [] and "hindsight init" in result["hint"]
    assert client.get("/runbooks").status_code == 200
    assert client.get("/modes").status_code == 200


def test_pages_carry_security_headers_and_html_errors(client: FlaskClient) -> None:
    page = client.get("/modes")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    missing = client.get("/documents/nope", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "nope" in missing.get_data(as_text=True)
    unknown = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert unknown.status_code == 404 and unknown.mimetype == "text/html"
    api = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert api.status_code == 404 and api.mimetype == "application/problem+json"


def test_search_page_reports_bad_input_inline(client: FlaskClient) -> None:
    page = client.get("/?q=dns&since=last+year")
    assert page.status_code == 200
    assert "since" in page.get_data(as_text=True) and 'class="problem"' in page.get_data(
        as_text=True
    )
    empty = client.post("/review", data={"plan": "   "})
    assert empty.status_code == 200 and "the plan is empty" in empty.get_data(as_text=True)
