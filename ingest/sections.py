"""Recognising postmortem, runbook and checklist sections by their headings."""

from __future__ import annotations

import re

# Canonical section kinds, in the order a reader expects them.
SECTION_KINDS = (
    "summary",
    "impact",
    "timeline",
    "trigger",
    "root_cause",
    "detection",
    "resolution",
    "lessons",
    "action_items",
    # runbooks
    "meaning",
    "diagnosis",
    "mitigation",
    "verification",
    "escalation",
    # checklists
    "purpose",
    "items",
    "other",
)

# Exact heading synonyms gathered from common templates (Google SRE workbook, PagerDuty,
# Atlassian, and the way public postmortems are written).
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "summary": (
        "summary",
        "overview",
        "incident summary",
        "executive summary",
        "tl dr",
        "tldr",
        "abstract",
        "what happened",
        "incident overview",
        "description",
        "introduction",
        "issue summary",
        "synopsis",
        "background",
    ),
    "impact": (
        "impact",
        "customer impact",
        "user impact",
        "business impact",
        "scope",
        "scope of impact",
        "who was affected",
        "affected services",
        "impact assessment",
        "severity",
        "blast radius",
    ),
    "timeline": (
        "timeline",
        "chronology",
        "sequence of events",
        "timeline of events",
        "incident timeline",
        "detailed timeline",
        "event timeline",
        "timeline utc",
    ),
    "trigger": (
        "trigger",
        "triggers",
        "leadup",
        "lead up",
        "lead-up",
        "what triggered it",
        "triggering event",
        "initial trigger",
        "fault",
        "what changed",
    ),
    "root_cause": (
        "root cause",
        "root causes",
        "contributing factors",
        "root cause and contributing factors",
        "root causes and contributing factors",
        "causes",
        "cause",
        "root cause analysis",
        "rca",
        "five whys",
        "5 whys",
        "why it happened",
        "analysis",
        "technical details",
        "what went wrong technically",
        "causal analysis",
    ),
    "detection": (
        "detection",
        "how we found out",
        "how it was detected",
        "alerting",
        "discovery",
        "detection and response",
    ),
    "resolution": (
        "resolution",
        "mitigation",
        "recovery",
        "response",
        "resolution and recovery",
        "how we fixed it",
        "restoration",
        "remediation and recovery",
        "fix",
        "the fix",
        "mitigation and resolution",
        "response and recovery",
    ),
    "lessons": (
        "lessons",
        "lessons learned",
        "lessons learnt",
        "what went well",
        "what went wrong",
        "where we got lucky",
        "takeaways",
        "learnings",
        "reflections",
        "how d we do",
        "what we learned",
        "key takeaways",
    ),
    "action_items": (
        "action items",
        "action item",
        "corrective actions",
        "follow up",
        "follow ups",
        "follow up actions",
        "next steps",
        "remediation",
        "remediation items",
        "preventive measures",
        "preventative measures",
        "what we are doing",
        "what we re doing about it",
        "what we are doing about it",
        "future work",
        "improvements",
        "corrective and preventative measures",
        "actions",
        "todo",
        "prevention",
        "preventing recurrence",
        "going forward",
    ),
    "meaning": ("meaning", "what this alert means", "alert meaning"),
    "diagnosis": ("diagnosis", "triage", "investigation", "troubleshooting", "debugging"),
    "verification": ("verification", "validation", "verify", "confirm recovery"),
    "escalation": ("escalation", "escalate", "contacts", "escalation path"),
    "purpose": ("purpose", "why this checklist", "when to use"),
    "items": ("items", "checklist", "check items"),
}

_EXACT = {syn: kind for kind, syns in _SYNONYMS.items() for syn in syns}

# Fallback when no exact synonym matches: the first keyword found decides.
_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("root cause", "root_cause"),
    ("contributing", "root_cause"),
    ("why", "root_cause"),
    ("timeline", "timeline"),
    ("action item", "action_items"),
    ("follow", "action_items"),
    ("corrective", "action_items"),
    ("prevent", "action_items"),
    ("lesson", "lessons"),
    ("learn", "lessons"),
    ("impact", "impact"),
    ("detect", "detection"),
    ("trigger", "trigger"),
    ("resol", "resolution"),
    ("mitigat", "resolution"),
    ("recover", "resolution"),
    ("summary", "summary"),
    ("overview", "summary"),
)

# In a runbook, "Mitigation" is the list of steps, not the story of how an outage ended.
_RUNBOOK_KINDS = {"mitigation", "resolution", "remediation", "response"}


def normalise_heading(heading: str) -> str:
    text = heading.lower()
    text = re.sub(r"^\s*(?:\d+(?:\.\d+)*\.?|[ivx]+\.)\s+", "", text)  # "2.1 " / "iv. "
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return text.strip()


def classify_heading(heading: str, doc_kind: str = "postmortem", *, exact: bool = False) -> str:
    """Map a heading to a canonical section kind; "other" when nothing fits.

    With ``exact`` only whole-heading synonyms count (used to spot headings in plain text).
    """
    norm = normalise_heading(heading)
    if doc_kind == "runbook" and norm in _RUNBOOK_KINDS:
        return "mitigation"
    if norm in _EXACT:
        return _EXACT[norm]
    if exact:
        return "other"
    for keyword, kind in _KEYWORDS:
        if keyword in norm:
            return kind
    return "other"


def is_known_heading(line: str) -> bool:
    return classify_heading(line, exact=True) != "other"
