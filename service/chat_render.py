"""Chat answers: one layout per command, rendered as Slack Block Kit or Mattermost Markdown.

Every layout is a function of the same objects the API returns (``SearchResult.as_dict()``,
``Review.as_dict()``, the document dict), so a chat answer says what the API says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, quote_plus

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

# Slack's Block Kit limits, and a margin under Mattermost's 16,383-character post.
SLACK_MAX_BLOCKS = 50
SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150
SLACK_BUTTON_CHARS = 75
SLACK_CONTEXT_CHARS = 2000
SLACK_FALLBACK_CHARS = 3000
MATTERMOST_CHARS = 12000

# How much of each list a chat answer shows; the rest is one click away.
SHOWN = {"results": 5, "risks": 8, "incidents": 5, "runbooks": 5, "checklist": 10, "gaps": 8}
LEVEL_MARK = {"high": "🔴", "medium": "🟠", "low": "🟡"}
INCIDENT_SECTIONS = ("summary", "impact", "trigger", "root_cause", "resolution", "lessons")


# --------------------------------------------------------------------------- inline markup


class Markup(Protocol):
    """Inline formatting of one chat platform; ``text`` arguments are raw (unescaped)."""

    def text(self, raw: str) -> str: ...
    def bold(self, raw: str) -> str: ...
    def code(self, raw: str) -> str: ...
    def link(self, url: str, raw: str) -> str: ...


class SlackMarkup:
    """Slack mrkdwn: only &, < and > need escaping, which also disarms <!channel> mentions."""

    def text(self, raw: str) -> str:
        return raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def bold(self, raw: str) -> str:
        return f"*{self.text(raw.replace('*', '∗'))}*"

    def code(self, raw: str) -> str:
        return "`" + self.text(raw.replace("`", "'")) + "`"

    def link(self, url: str, raw: str) -> str:
        return f"<{url}|{self.text(raw)}>"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>~|#])")


class MattermostMarkup:
    """Mattermost Markdown: punctuation escaped, and @-mentions broken with a zero-width space."""

    def text(self, raw: str) -> str:
        return _MD_SPECIAL.sub(r"\\\1", raw).replace("@", "@\u200b")

    def bold(self, raw: str) -> str:
        return f"**{self.text(raw)}**"

    def code(self, raw: str) -> str:
        return "`" + raw.replace("`", "'") + "`"

    def link(self, url: str, raw: str) -> str:
        return f"[{self.text(raw)}]({url})"


SLACK_MARKUP = SlackMarkup()
MATTERMOST_MARKUP = MattermostMarkup()


# --------------------------------------------------------------------------- neutral message


@dataclass(frozen=True)
class Header:
    text: str  # raw


@dataclass(frozen=True)
class Context:
    text: str  # markup


@dataclass(frozen=True)
class Section:
    text: str  # markup


@dataclass(frozen=True)
class Divider:
    pass


@dataclass(frozen=True)
class Buttons:
    links: tuple[tuple[str, str], ...]  # (label, url)


Part = Header | Context | Section | Divider | Buttons


@dataclass
class Message:
    """A chat answer before it is rendered: parts, a plain-text summary, who sees it."""

    fallback: str
    parts: list[Part] = field(default_factory=list)
    public: bool = False  # in_channel (everyone) or ephemeral (only the caller)
    more_url: str | None = None  # where the whole answer is, when the chat shows part of it


@dataclass(frozen=True)
class Links:
    """Absolute links into the Hindsight web pages."""

    base: str

    def document(self, doc_id: str) -> str:
        return f"{self.base}/documents/{quote(doc_id, safe='')}"

    def search(self, query: str) -> str:
        return f"{self.base}/?q={quote_plus(query)}"

    def review(self) -> str:
        return f"{self.base}/review"


def clip(raw: str, limit: int) -> str:
    """``raw`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(str(raw).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def external_url(url: Any) -> str | None:
    """An http(s) URL safe inside both platforms' link syntax, or None."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return None
    return quote(url, safe=":/?#@!$&'*+,;=%~")


def _lines(lines: Iterable[str], limit: int = SLACK_SECTION_CHARS - 100) -> str:
    """Join lines while they fit in ``limit`` characters; say how many were left out."""
    taken: list[str] = []
    size = 0
    rest = list(lines)
    for i, line in enumerate(rest):
        if size + len(line) + 1 > limit:
            taken.append(f"…and {len(rest) - i} more")
            break
        taken.append(line)
        size += len(line) + 1
    return "\n".join(taken)


def _more(shown: int, total: int, noun: str) -> str | None:
    return f"{shown} of {total} {noun}" if total > shown else None


# --------------------------------------------------------------------------- layouts


def notice(text: str, *, public: bool = False) -> Message:
    """A short message (help, acknowledgement, a problem with the request)."""
    return Message(fallback=text, parts=[Section(text)], public=public)


def usage(command: str, m: Markup, intro: str = "") -> Message:
    lines = [
        intro,
        f"{m.bold('Hindsight')} answers from past production incidents:",
        f"• {m.code(command + ' search <words>')}: find incidents, e.g. "
        f"{m.code(command + ' search database failover split brain')}",
        f"• {m.code(command + ' review <plan>')}: check a change plan against past failures: "
        "risks, similar incidents, a checklist",
        f"• {m.code(command + ' incident <id>')}: one incident with its failure modes",
        f"• {m.code(command + ' help')}: this message",
    ]
    return Message(
        fallback="How to use Hindsight", parts=[Section("\n".join(x for x in lines if x))]
    )


def search_message(result: dict[str, Any], links: Links, m: Markup) -> Message:
    query = str(result.get("query", ""))
    hits = list(result.get("results", []))
    more = links.search(query)
    msg = Message(fallback=f"{len(hits)} results for “{clip(query, 200)}”", public=True)
    msg.more_url = more
    msg.parts.append(Header(f"Search: {query}"))
    if not hits:
        hint = result.get("hint")
        msg.parts.append(
            Section(
                f"No incidents match {m.bold(clip(query, 200))}."
                + (f"\n{m.text(str(hint))}" if hint else "")
                + "\nTry other words, or fewer of them."
            )
        )
    else:
        shown = hits[: SHOWN["results"]]
        count = f"{len(shown)} of {len(hits)}" if len(hits) > len(shown) else f"{len(hits)}"
        took = result.get("took_ms")
        timing = f" in {float(took):.0f} ms" if isinstance(took, int | float) else ""
        msg.parts.append(Context(f"{count} result{'s' if len(hits) != 1 else ''}{timing}"))
        for hit in shown:
            msg.parts.append(Section(_hit(hit, links, m)))
    msg.parts.append(Buttons((("View in Hindsight", more),)))
    return msg


def _hit(hit: dict[str, Any], links: Links, m: Markup) -> str:
    title = m.link(links.document(str(hit["id"])), clip(hit.get("title") or hit["id"], 150))
    meta = [str(x) for x in (hit.get("kind"), hit.get("org"), hit.get("date")) if x]
    if hit.get("section"):
        meta.append(f"“{clip(hit['section'], 60)}”")
    lines = [title, m.text(" · ".join(meta))]
    if hit.get("snippet"):
        lines.append("> " + m.text(clip(hit["snippet"], 400)))
    modes = [str(x.get("id")) for x in hit.get("modes", [])][:6]
    if modes:
        lines.append("Failure modes: " + ", ".join(m.code(x) for x in modes))
    return "\n".join(line for line in lines if line)


def review_message(review: dict[str, Any], plan: str, links: Links, m: Markup) -> Message:
    risks = list(review.get("risks", []))
    incidents = list(review.get("incidents", []))
    runbooks = list(review.get("runbooks", []))
    checklist = list(review.get("checklist", []))
    gaps = list(review.get("gaps", []))
    high = sum(1 for r in risks if r.get("level") == "high")
    summary = f"{len(risks)} risk{'s' if len(risks) != 1 else ''}" + (
        f", {high} high" if high else ""
    )
    msg = Message(fallback=f"Change review: {summary}", public=True, more_url=links.review())
    msg.parts.append(Header(f"Change review: {summary}"))
    msg.parts.append(Context("Plan: " + m.text(clip(plan, 300))))
    if not risks:
        msg.parts.append(Section("No known failure mode matched this plan."))
    for risk in risks[: SHOWN["risks"]]:
        msg.parts.append(Section(_risk(risk, links, m)))
    msg.parts.append(Divider())
    if incidents:
        lines = [m.bold("Similar past incidents")]
        for inc in incidents[: SHOWN["incidents"]]:
            meta = " · ".join(str(x) for x in (inc.get("org"), _score(inc.get("score"))) if x)
            lines.append(
                "• "
                + m.link(links.document(str(inc["id"])), clip(inc.get("title") or inc["id"], 150))
                + (f" ({m.text(meta)})" if meta else "")
            )
        msg.parts.append(Section(_lines(lines)))
    if runbooks:
        lines = [m.bold("Runbooks")]
        for book in runbooks[: SHOWN["runbooks"]]:
            lines.append(
                "• "
                + m.link(
                    links.document(str(book["id"])), clip(book.get("title") or book["id"], 150)
                )
            )
        msg.parts.append(Section(_lines(lines)))
    if checklist:
        lines = [m.bold("Checklist")]
        for entry in checklist[: SHOWN["checklist"]]:
            mode = f" ({m.code(str(entry['mode']))})" if entry.get("mode") else ""
            lines.append("☐ " + m.text(clip(entry.get("item", ""), 300)) + mode)
        msg.parts.append(Section(_lines(lines)))
    if gaps:
        lines = [m.bold("Not mentioned in the plan")]
        for gap in gaps[: SHOWN["gaps"]]:
            lines.append(
                f"• {m.code(str(gap.get('id', '')))} {m.text(clip(gap.get('message', ''), 300))}"
            )
        msg.parts.append(Section(_lines(lines)))
    cut = [
        x
        for x in (
            _more(SHOWN["risks"], len(risks), "risks"),
            _more(SHOWN["incidents"], len(incidents), "incidents"),
            _more(SHOWN["runbooks"], len(runbooks), "runbooks"),
            _more(SHOWN["checklist"], len(checklist), "checklist items"),
            _more(SHOWN["gaps"], len(gaps), "gaps"),
        )
        if x
    ]
    if cut:
        msg.parts.append(
            Context("Showing " + ", ".join(cut) + ". The full review is in Hindsight.")
        )
    msg.parts.append(Buttons((("View in Hindsight", links.review()),)))
    return msg


def _score(score: Any) -> str | None:
    return f"score {float(score):.2f}" if isinstance(score, int | float) else None


def _risk(risk: dict[str, Any], links: Links, m: Markup) -> str:
    level = str(risk.get("level", "")).lower()
    head = (
        f"{LEVEL_MARK.get(level, '⚪')} {m.bold(level.upper() or 'RISK')} "
        f"{m.bold(clip(risk.get('name') or risk.get('mode', ''), 120))} {m.code(str(risk.get('mode', '')))}"
    )
    facts = [str(x) for x in (risk.get("axis"),) if x]
    if isinstance(risk.get("confidence"), int | float):
        facts.append(f"confidence {float(risk['confidence']):.2f}")
    lines = [head + (" · " + m.text(" · ".join(facts)) if facts else "")]
    reasons = [clip(str(r), 300) for r in risk.get("reasons", [])[:3]]
    if reasons:
        sentences = (r if r[-1:] in ".!?…" else r + "." for r in reasons)
        lines.append(m.text(clip(" ".join(sentences), 700)))
    ids = [str(x) for x in risk.get("incidents", [])][:5]
    if ids:
        lines.append("Past incidents: " + ", ".join(m.link(links.document(x), x) for x in ids))
    return "\n".join(lines)


def incident_message(doc: dict[str, Any], links: Links, m: Markup) -> Message:
    doc_id = str(doc["id"])
    title = doc.get("title") or doc_id
    msg = Message(fallback=clip(title, 200), public=True, more_url=links.document(doc_id))
    msg.parts.append(Header(title))
    meta = [m.code(doc_id)] + [
        m.text(str(x)) for x in (doc.get("kind"), doc.get("org"), doc.get("date")) if x
    ]
    source = external_url(doc.get("url"))
    if source:
        meta.append(m.link(source, "source"))
    msg.parts.append(Context(" · ".join(meta)))
    by_kind: dict[str, dict[str, Any]] = {}
    for sec in doc.get("sections", []):
        by_kind.setdefault(sec.get("kind"), sec)
    chosen = [by_kind[k] for k in INCIDENT_SECTIONS if k in by_kind][:4]
    if not chosen and doc.get("sections"):
        chosen = doc["sections"][:1]
    for sec in chosen:
        body = sec.get("text") or "; ".join(str(i) for i in sec.get("items") or [])
        if body:
            heading = sec.get("heading") or str(sec.get("kind", "")).replace("_", " ").capitalize()
            msg.parts.append(Section(m.bold(clip(heading, 100)) + "\n" + m.text(clip(body, 700))))
    modes = list(doc.get("modes", []))
    if modes:
        lines = [m.bold("Failure modes")]
        for mode in modes[:8]:
            conf = mode.get("confidence")
            lines.append(
                f"• {m.text(clip(mode.get('name') or mode['id'], 100))} {m.code(str(mode['id']))}"
                + (f" · {float(conf):.2f}" if isinstance(conf, int | float) else "")
                + (f": {m.text(clip(evidence, 200))}" if (evidence := _evidence(mode)) else "")
            )
        msg.parts.append(Section(_lines(lines)))
    buttons = [("View in Hindsight", links.document(doc_id))]
    if source:
        buttons.append(("Original postmortem", source))
    msg.parts.append(Buttons(tuple(buttons)))
    return msg


def _evidence(mode: dict[str, Any]) -> str:
    """The first quoted passage behind a tag (or its note), as one line."""
    for item in mode.get("evidence") or []:
        if isinstance(item, dict) and (item.get("text") or item.get("note")):
            return str(item.get("text") or item.get("note"))
        if isinstance(item, str) and item:
            return item
    return ""


# --------------------------------------------------------------------------- renderers


def _fit(text: str, limit: int) -> str:
    """Cut marked-up text at a line boundary so no link or entity is broken."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit - 2)
    return (text[:cut] if cut > 0 else clip(text, limit - 2)) + "\n…"


def to_slack(msg: Message) -> dict[str, Any]:
    """The Slack response body: response_type, fallback text and Block Kit blocks."""
    blocks: list[Block] = []
    for i, part in enumerate(msg.parts):
        if isinstance(part, Header):
            blocks.append(
                HeaderBlock(text=PlainTextObject(text=clip(part.text, SLACK_HEADER_CHARS)))
            )
        elif isinstance(part, Context):
            text = _fit(part.text, SLACK_CONTEXT_CHARS)
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=text)]))
        elif isinstance(part, Section):
            blocks.append(
                SectionBlock(text=MarkdownTextObject(text=_fit(part.text, SLACK_SECTION_CHARS)))
            )
        elif isinstance(part, Divider):
            blocks.append(DividerBlock())
        elif isinstance(part, Buttons):
            blocks.append(
                ActionsBlock(
                    elements=[
                        ButtonElement(
                            text=PlainTextObject(text=clip(label, SLACK_BUTTON_CHARS)),
                            url=url,
                            action_id=f"open-{i}-{j}",
                        )
                        for j, (label, url) in enumerate(part.links[:5])
                    ]
                )
            )
    if len(blocks) > SLACK_MAX_BLOCKS:
        note = "This answer is too long for chat; the rest is in Hindsight."
        tail: list[Block] = [ContextBlock(elements=[MarkdownTextObject(text=note)])]
        if msg.more_url:
            button = ButtonElement(
                text=PlainTextObject(text="View in Hindsight"),
                url=msg.more_url,
                action_id="open-more",
            )
            tail.append(ActionsBlock(elements=[button]))
        blocks = blocks[: SLACK_MAX_BLOCKS - len(tail)] + tail
    return {
        "response_type": "in_channel" if msg.public else "ephemeral",
        "text": clip(msg.fallback, SLACK_FALLBACK_CHARS),
        "blocks": [b.to_dict() for b in blocks],
    }


def to_mattermost(msg: Message) -> dict[str, Any]:
    """The Mattermost response body: response_type and Markdown text."""
    m = MATTERMOST_MARKUP
    chunks: list[str] = []
    for part in msg.parts:
        if isinstance(part, Header):
            chunks.append("#### " + m.text(clip(part.text, 200)))
        elif isinstance(part, Context | Section):
            chunks.append(part.text)
        elif isinstance(part, Divider):
            chunks.append("---")
        elif isinstance(part, Buttons):
            chunks.append(" · ".join(m.link(url, label) for label, url in part.links))
    text = "\n\n".join(chunks)
    if len(text) > MATTERMOST_CHARS:
        more = f"[View in Hindsight]({msg.more_url})" if msg.more_url else ""
        text = _fit(text, MATTERMOST_CHARS - 200) + "\n\nThis answer is too long for chat. " + more
    return {"response_type": "in_channel" if msg.public else "ephemeral", "text": text}
