"""The web pages in headless Chromium against the app under gunicorn; screenshots of each page
are saved in tests/screenshots/."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
TOKEN = {"Authorization": "Bearer test-token"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PLAN = "Roll out the new metrics agent as a DaemonSet to all production clusters this afternoon."


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "Chromium is needed: `make browser` installs it"
    SHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    print(f"\nscreenshots in {SHOTS}")


@pytest.fixture
def page(browser: Any, corpus_server: tuple[str, Path]) -> Iterator[Any]:
    context = browser.new_context(
        base_url=corpus_server[0], viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(60_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == [], errors


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_search_and_filter_by_a_facet(page: Any) -> None:
    page.goto("/")
    page.fill("input[name=q]", "configuration push took down the network")
    page.click("form.search button[type=submit]")
    page.wait_for_selector("li.result")
    shot(page, "search")
    everything = page.locator("li.result").count()
    assert everything >= 5

    facet = page.locator("a.facet[data-facet=mode]").first
    mode_name = facet.inner_text().strip()
    facet.click()
    page.wait_for_url("**mode=**")
    page.wait_for_selector("li.result")
    shot(page, "search-filtered")
    assert page.locator(".active-filters").inner_text().count(mode_name) == 1
    results = page.locator("li.result")
    assert 1 <= results.count() <= everything
    for i in range(results.count()):
        chips = results.nth(i).locator("ul.chips a.chip").all_inner_texts()
        assert mode_name in [c.strip() for c in chips]


def test_open_a_document_from_the_results(page: Any, corpus_server: tuple[str, Path]) -> None:
    base = corpus_server[0]
    hits = requests.get(base + "/api/v1/search", params={"q": "dns outage", "k": 20}).json()
    doc = next(
        d
        for d in (
            requests.get(base + f"/api/v1/documents/{h['id']}").json() for h in hits["results"]
        )
        if any(ev.get("text") for m in d["modes"] for ev in m["evidence"])
    )
    page.goto("/?q=dns+outage&k=20")
    page.click(f"li.result a.title[href='/documents/{doc['id']}']")
    page.wait_for_selector("article.document h1")
    shot(page, "document")
    assert page.locator("h1").inner_text() == doc["title"]
    assert page.locator("section.doc-section").count() == len(doc["sections"])
    names = page.locator(".mode-tag > a").all_inner_texts()
    assert names == [m["name"] for m in doc["modes"]]

    def words(text: str) -> str:
        return " ".join(text.split())

    marked = [words(t) for t in page.locator("mark.evidence").all_inner_texts()]
    evidence = {words(ev["text"]) for m in doc["modes"] for ev in m["evidence"] if ev.get("text")}
    # each highlight is one piece of evidence, or touching pieces merged into one
    assert marked and all(any(e in t or t in e for e in evidence) for t in marked)
    similar = page.locator("aside.modes ul.docs li a")
    assert similar.count() >= 1
    similar.first.click()
    page.wait_for_selector("article.document h1")
    assert page.url != base + f"/documents/{doc['id']}"


def test_review_a_pasted_plan(page: Any, browser: Any) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/review")
    page.fill("textarea[name=plan]", PLAN)
    page.click("form.review button[type=submit]")
    page.wait_for_selector("li.risk")
    shot(page, "review")
    risks = page.locator("li.risk")
    assert risks.count() >= 2
    levels = page.locator("li.risk .level").all_inner_texts()
    assert "high" in [level.strip().lower() for level in levels]
    assert page.locator("ul.gaps li").count() >= 1
    assert page.locator("ol.incidents li a").count() >= 1
    markdown = page.locator("#review-markdown").input_value()
    assert markdown.startswith("#") and "high" in markdown.lower()
    page.click("button[data-copy]")
    assert page.evaluate("navigator.clipboard.readText()") == markdown


def test_stats_chart_renders(page: Any, corpus_server: tuple[str, Path]) -> None:
    stats = requests.get(corpus_server[0] + "/api/v1/stats").json()
    page.goto("/stats")
    page.wait_for_selector("#chart-modes svg")
    shot(page, "stats")
    bars = page.locator("#chart-modes svg g.bar rect")
    assert bars.count() == len(stats["by_mode"])
    widths = [bars.nth(i).bounding_box()["width"] for i in range(bars.count())]
    assert widths == sorted(widths, reverse=True) and widths[0] > 100
    assert page.locator("#chart-years svg g.bar").count() == len(stats["by_year"])
    cells = page.locator("#chart-grid svg rect.cell")
    assert cells.count() == len(stats["by_mode_year"]) * len(stats["by_year"])


def test_modes_mode_and_runbooks_pages(page: Any) -> None:
    page.goto("/modes")
    shot(page, "modes")
    page.click("table.modes a >> nth=0")
    page.wait_for_selector("h1")
    shot(page, "mode")
    assert page.locator("h2", has_text="Incidents").count() == 1
    page.goto("/runbooks")
    shot(page, "runbooks")
    assert page.locator("ul.docs li a").count() >= 30


def test_pages_work_without_javascript(browser: Any, corpus_server: tuple[str, Path]) -> None:
    context = browser.new_context(base_url=corpus_server[0], java_script_enabled=False)
    page = context.new_page()
    page.goto("/?q=certificate+expired")
    assert page.locator("li.result").count() >= 3
    page.goto("/review")
    page.fill("textarea[name=plan]", PLAN)
    page.click("form.review button[type=submit]")
    page.wait_for_selector("li.risk")
    assert page.locator("button[data-copy]").is_hidden()  # shown only when the script runs
    assert page.locator("details.markdown textarea").input_value().startswith("#")
    context.close()


HOSTILE = """---
title: Cache outage <script>window.__pwned = "title"</script>
---

# Cache outage

## Summary
The cache fell over. <script>window.__pwned = "inline"</script>
See [the dashboard](javascript:window.__pwned='link') and
<a href="javascript:window.__pwned='anchor'" id="evil">this report</a>.

<img src="x" onerror="window.__pwned = 'img'">

## Root cause
A bad deploy {marker} of the cache tier. <iframe src="javascript:window.__pwned='frame'"></iframe>
"""


def test_a_hostile_document_is_shown_inert(page: Any, corpus_server: tuple[str, Path]) -> None:
    base = corpus_server[0]
    marker = "inert" + uuid.uuid4().hex[:8]
    created = requests.post(
        base + "/api/v1/documents",
        json={"content": HOSTILE.replace("{marker}", marker), "url": "https://example.com/pm"},
        headers=TOKEN,
    )
    assert created.status_code == 201, created.text
    doc_id = created.json()["id"]
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        response = page.goto(f"/documents/{doc_id}")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        shot(page, "hostile-document")
        text = page.locator("article.document").inner_text()
        assert "<script>" in text and "javascript:" in text  # shown as text
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("a[href^='javascript' i]").count() == 0
        assert page.locator("article script, article iframe, article img").count() == 0
        assert page.locator("#evil").count() == 0
        assert page.locator("a.source").get_attribute("href") == "https://example.com/pm"

        page.goto(f"/?q={marker}")
        page.wait_for_selector("li.result")
        shot(page, "hostile-search")
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("a[href^='javascript' i]").count() == 0
        assert dialogs == []
    finally:
        requests.delete(base + f"/api/v1/documents/{doc_id}", headers=TOKEN)


def test_browsable_api_docs_render_offline(page: Any) -> None:
    page.goto("/api/docs/swagger")
    page.wait_for_selector(".swagger-ui .opblock")
    shot(page, "api-docs")
    summaries = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/search" in s for s in summaries)
    assert any("/api/v1/review" in s for s in summaries)
