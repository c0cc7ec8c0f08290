"""Renderers of one review result: plain text for a terminal, Markdown for a pull request.

Both take the review's dictionary (``Review.as_dict()``, the API's answer), so every door
renders the same thing.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any

LEVEL_MARK = {"high": "🔴", "medium": "🟠", "low": "🟡"}
GAP_TITLES = {
    "staged-rollout": "Staged rollout",
    "rollback-plan": "Rollback plan",
    "monitoring": "Monitoring and halt criteria",
    "load-test": "Load test at production scale",
    "break-glass-access": "Break-glass access",
    "backup": "Backup before destructive steps",
    "dependency-check": "Dependency check",
    "communication": "Communication",
}


def _as_dict(review: Any) -> dict[str, Any]:
    return review if isinstance(review, dict) else dict(review.as_dict())


def _counts(risks: list[dict[str, Any]]) -> str:
    parts = []
    for level in ("high", "medium", "low"):
        n = sum(1 for r in risks if r["level"] == level)
        if n:
            parts.append(f"{n} {level}")
    return ", ".join(parts) or "none found"


def render_text(review: Any, width: int = 100) -> str:
    r = _as_dict(review)
    out: list[str] = [f"RISKS ({_counts(r['risks'])})"]
    for risk in r["risks"]:
        out.append(
            f"  [{risk['level'].upper():6}] {risk['mode']} — {risk['name']} "
            f"({risk['axis']}, {risk['confidence']:.2f})"
        )
        for reason in risk["reasons"]:
            out.append(
                textwrap.fill(
                    reason, width, initial_indent="      - ", subsequent_indent="        "
                )
            )
    if r["gaps"]:
        out += ["", "GAPS: safeguards the plan does not mention"]
        for gap in r["gaps"]:
            out.append(
                textwrap.fill(
                    f"{gap['id']}: {gap['message']}",
                    width,
                    initial_indent="  ? ",
                    subsequent_indent="    ",
                )
            )
    if r["incidents"]:
        out += ["", "SIMILAR PAST INCIDENTS"]
        for n, inc in enumerate(r["incidents"], 1):
            out.append(f"  {n}. {inc['title']}  [{inc['id']}]  {inc.get('why', '')}")
            if inc.get("snippet"):
                out.append(
                    textwrap.fill(
                        inc["snippet"], width, initial_indent="       ", subsequent_indent="       "
                    )
                )
    if r["runbooks"]:
        out += ["", "RUNBOOKS"]
        for rb in r["runbooks"]:
            out.append(f"  - {rb['title']}  [{rb['id']}]  guards: {', '.join(rb['modes'])}")
    if r["checklist"]:
        out += ["", "CHECKLIST"]
        for item in r["checklist"]:
            out.append(
                textwrap.fill(
                    f"{item['item']}  ({item['mode']}; {item['source']})",
                    width,
                    initial_indent="  [ ] ",
                    subsequent_indent="      ",
                )
            )
    return "\n".join(out) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")


def md_escape(text: str) -> str:
    """Stored text as inert Markdown: no links, HTML or table breaks of its own."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _link(title: str, doc_id: str, url: str | None, base_url: str) -> str:
    target = f"{base_url.rstrip('/')}/documents/{doc_id}" if base_url else (url or "")
    label = md_escape(title)
    if target.startswith(("https://", "http://")):
        return f"[{label}]({target.replace(')', '%29').replace(' ', '%20')})"
    return label


def render_markdown(review: Any, base_url: str = "") -> str:
    """A pull-request comment: risks and gaps first, details folded away."""
    r = _as_dict(review)
    out = ["### Hindsight change review", ""]
    out.append(f"**Risks:** {_counts(r['risks'])} · **Gaps:** {len(r['gaps'])}")
    out.append("")
    if r["risks"]:
        out += ["| level | failure mode | confidence | why |", "| --- | --- | --- | --- |"]
        for risk in r["risks"]:
            why = md_escape(risk["reasons"][0]) if risk["reasons"] else ""
            out.append(
                f"| {LEVEL_MARK.get(risk['level'], '')} {risk['level']} | "
                f"`{risk['mode']}` {md_escape(risk['name'])} | {risk['confidence']:.2f} | {why} |"
            )
        out.append("")
    if r["gaps"]:
        out.append("**Questions for the author** (safeguards the plan does not mention)")
        out.append("")
        for gap in r["gaps"]:
            title = GAP_TITLES.get(gap["id"], gap["id"])
            out.append(f"- **{title}** (`{gap['id']}`): {md_escape(gap['message'])}")
        out.append("")
    sections = [
        (
            f"Similar past incidents ({len(r['incidents'])})",
            [
                f"{n}. {_link(i['title'], i['id'], i.get('url'), base_url)} — "
                f"{md_escape(i.get('why', ''))}\n   > {md_escape(i.get('snippet', ''))}"
                for n, i in enumerate(r["incidents"], 1)
            ],
        ),
        (
            f"Runbooks ({len(r['runbooks'])})",
            [
                f"- {_link(rb['title'], rb['id'], rb.get('url'), base_url)} — guards "
                + ", ".join(f"`{m}`" for m in rb["modes"])
                for rb in r["runbooks"]
            ],
        ),
        (
            f"Checklist ({len(r['checklist'])})",
            [
                f"- [ ] {md_escape(c['item'])} — `{c['mode']}` ({md_escape(c['source'])})"
                for c in r["checklist"]
            ],
        ),
    ]
    for summary, lines in sections:
        if lines:
            out += ["<details>", f"<summary>{summary}</summary>", "", *lines, "", "</details>", ""]
    out.append("<sub>Generated by Hindsight from past postmortems.</sub>")
    return "\n".join(out) + "\n"
