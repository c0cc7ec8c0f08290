"""HTML pages: main-content extraction (trafilatura) into Markdown, plus page metadata."""

from __future__ import annotations

from typing import Any

from ingest.document import IngestError


def html_to_markdown(html: str, url: str | None = None) -> tuple[str, dict[str, Any]]:
    """Return the page's main content as Markdown and what its metadata says.

    Scripts, navigation and boilerplate are dropped by the extractor; links are reduced to
    their text, so nothing executable survives into the store.
    """
    import trafilatura  # imported here: it is slow to import and only HTML needs it

    markdown = trafilatura.extract(
        html,
        url=url,
        output_format="markdown",
        include_formatting=True,
        include_links=False,
        include_images=False,
        include_comments=False,
        include_tables=True,
        favor_recall=True,
    )
    if not markdown or not markdown.strip():
        raise IngestError("no readable main content found in the HTML")
    meta: dict[str, Any] = {}
    info = trafilatura.extract_metadata(html, default_url=url)
    if info is not None:
        for key in ("title", "date", "sitename", "url"):
            value = getattr(info, key, None)
            if value:
                meta[key] = value
    return markdown, meta
