"""Change review: a plan in; risks with precedents, incidents, runbooks, a checklist, gaps out.

Four readings of the plan are combined per failure mode, as a senior reviewer would:

- the tagger's reading of the plan text (what it says could happen);
- cues of change type and scope (`service/cues.py`: "DaemonSet", "all clusters", "BGP");
- the modes of the most similar past incidents (what happened when others did this);
- what careful reviewers raised for similar labelled plans (`service/plan_model.py`).

The first three are combined by a noisy-or, so any one strong reading raises a mode and
agreeing readings raise it further; the last is blended in, since it has learned which kinds
of change meet which modes beyond the phrases the cue table names. Runbooks and checklist
items are chosen by the risks they guard against; gaps are safeguards that matter for the
risks the plan itself shows and that it does not mention (`service/safeguards.py`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from service import models
from service.cues import find_cues, strongest
from service.db import store_revision
from service.embedding import from_bytes
from service.plan_model import PlanModel
from service.safeguards import SAFEGUARDS, Safeguard, dropped, mentioned
from service.search import MAX_QUERY_CHARS, Filters, QueryError, Searcher
from service.tagging import TagError, Tagger

MAX_PLAN_CHARS = 20_000
MAX_K = 20
LEVELS = (("high", 0.7), ("medium", 0.45), ("low", 0.2))
LISTED_READING = 0.3  # a reading (before the labelled plans' share) that counts for gaps
MAX_RISKS = 8
HIGH_WITHOUT_CUE = 0.69
PRECEDENTS = 10  # similar incidents whose modes count as evidence
WEIGHT = {"tagger": 0.75, "cue": 1.0, "precedent": 0.55}
LEARNED_SHARE = 0.8  # of a risk's confidence from the labelled plans (plan_model.py)
KEEP_CUE = 0.8  # a cue this strong keeps what it raised, whatever the labelled plans say
# How likely careful reviewers of similar labelled plans were to ask about a safeguard: under
# GAP_KEEP a gap the rules raise is dropped; from GAP_RAISE the plan is asked about it even
# where the rules are silent. Chosen by cross-validation over the plan files (one writer
# each); among the settings within 0.003 of the best there, the development sets decided.
GAP_KEEP = 0.35
GAP_RAISE = 0.55
SNIPPET_SECTIONS = ("trigger", "root_cause", "summary", "impact")
MAX_RUNBOOKS = 5
MAX_CHECKLIST = 12
MAX_PER_CHECKLIST = 4  # keep the list varied: no one checklist fills it


@dataclass
class Risk:
    mode: str
    name: str
    axis: str
    level: str
    confidence: float
    reasons: list[str] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)


@dataclass
class Review:
    plan: str
    risks: list[Risk]
    incidents: list[dict[str, Any]]
    runbooks: list[dict[str, Any]]
    checklist: list[dict[str, Any]]
    gaps: list[dict[str, Any]]
    took_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "risks": [
                {
                    "mode": r.mode,
                    "name": r.name,
                    "axis": r.axis,
                    "level": r.level,
                    "confidence": round(r.confidence, 3),
                    "reasons": r.reasons,
                    "incidents": r.incidents,
                }
                for r in self.risks
            ],
            "incidents": self.incidents,
            "runbooks": self.runbooks,
            "checklist": self.checklist,
            "gaps": self.gaps,
            "took_ms": self.took_ms,
        }


def level_of(score: float) -> str | None:
    return next((name for name, cut in LEVELS if score >= cut), None)


class Reviewer:
    def __init__(
        self, engine: Engine, searcher: Searcher, tagger: Tagger, plans: PlanModel | None = None
    ):
        self.engine = engine
        self.searcher = searcher
        self.tagger = tagger
        self.plans = plans
        self._items: tuple[int, list[dict[str, Any]]] | None = None

    def review(self, plan: str, k: int = 5) -> Review:
        started = time.perf_counter()
        plan = (plan or "").strip()
        if not plan:
            raise QueryError("the plan is empty; paste the change plan to review")
        if len(plan) > MAX_PLAN_CHARS:
            raise QueryError(
                f"the plan is {len(plan):,} characters; the limit is {MAX_PLAN_CHARS:,} "
                "(review the part that describes the change)"
            )
        if not 1 <= k <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}")
        try:
            analysis = self.tagger.analyse(plan)
        except TagError as exc:
            raise QueryError(str(exc)) from None
        report, scores, thresholds = analysis.report, analysis.scores, analysis.thresholds
        precedents = self._precedents(plan)
        names = {m.id: m for m in self.tagger.modes}
        evidence = {t.id: t.evidence[0].text for t in report.modes if t.evidence}

        cue_hits: dict[str, list[Any]] = {}
        found = find_cues(plan, scores, thresholds)
        for hit in found:
            cue_hits.setdefault(hit.mode, []).append(hit)
        plan_backed: set[str] = set(cue_hits)
        cue_strength = strongest(found)
        learned = self.plans.proba(plan, analysis, cue_strength) if self.plans is not None else {}
        risks = []
        readings: dict[str, float] = {}  # each mode's score before the labelled plans' share
        kept: set[str] = set()  # modes whose cue outweighs the labelled plans
        for mode_id, mode in names.items():
            tag = scores.get(mode_id, 0.0)
            tag_part = tag if tag >= thresholds.get(mode_id, 1.0) else tag * 0.4
            if tag >= thresholds.get(mode_id, 1.0):
                plan_backed.add(mode_id)
            cue_part = cue_strength.get(mode_id, 0.0)
            backing = [p for p in precedents if mode_id in p["modes"]]
            support = sum(p["weight"] for p in backing) / max(
                sum(p["weight"] for p in precedents), 1e-9
            )
            score = 1 - (
                (1 - WEIGHT["tagger"] * tag_part)
                * (1 - WEIGHT["cue"] * cue_part)
                * (1 - WEIGHT["precedent"] * support)
            )
            if mode_id not in cue_hits:
                # Without a concrete cue of change type or scope, wording, precedents and
                # similar plans alone do not make a risk high.
                score = min(score, HIGH_WITHOUT_CUE)
            readings[mode_id] = score
            if mode_id in learned:
                blended = LEARNED_SHARE * learned[mode_id] + (1 - LEARNED_SHARE) * score
                # A consequence or a very strong cue is knowledge the labelled plans rarely
                # hold ("DaemonSet" → an overloaded API server, which is also the one the
                # rollback needs): it keeps what it raised.
                follows = any(h.consequence for h in cue_hits.get(mode_id, []))
                if follows or cue_part >= KEEP_CUE:
                    score = max(blended, score)
                    kept.add(mode_id)
                else:
                    score = blended
                if mode_id not in cue_hits:
                    score = min(score, HIGH_WITHOUT_CUE)
            level = level_of(score)
            if level is None:
                continue
            reasons = []
            for hit in cue_hits.get(mode_id, [])[:2]:
                reasons.append(f"The plan says “{hit.phrase}”: {hit.why}.")
            if tag_part >= thresholds.get(mode_id, 1.0) and mode_id in evidence:
                reasons.append(f"Read in the plan: “{_clip(evidence[mode_id], 160)}”")
            if learned.get(mode_id, 0.0) >= LEVELS[1][1] and self.plans is not None:
                alike = self.plans.examples(analysis.vector, mode_id)
                if alike:
                    reasons.append(f"Reviewers raised it for similar plans: {_quoted(alike)}.")
            if backing:
                named = ", ".join(_label(p) for p in backing[:2])
                reasons.append(
                    f"{len(backing)} of the {len(precedents)} most similar incidents had it "
                    f"({named})."
                )
            risks.append(
                Risk(
                    mode_id,
                    mode.name,
                    mode.axis,
                    level,
                    score,
                    reasons,
                    [p["id"] for p in backing[:3]],
                )
            )
        risks.sort(key=lambda r: (-r.confidence, r.mode))
        risks = risks[:MAX_RISKS]
        risk_score = {r.mode: r.confidence for r in risks}

        incidents = self._incidents(analysis.vector, precedents, risk_score, k)
        # Safeguards answer to what the plan itself shows, not to what similar incidents or
        # similar plans had: the readings of its words and cues, as they list risks.
        read = [(m, v) for m, v in readings.items() if v >= LISTED_READING]
        listed = dict(sorted(read, key=lambda t: (-t[1], t[0]))[:MAX_RISKS])
        backed = {m: v for m, v in listed.items() if m in plan_backed}
        asked = self.plans.gap_proba(plan, analysis, cue_strength) if self.plans is not None else {}
        gaps = [
            self._gap(choice, precedents, analysis.vector)
            for choice in choose_gaps(plan, backed, set(listed), asked, kept)
        ]
        gap_modes = {m for g in gaps for m in g["risks"]}
        return Review(
            plan=plan,
            risks=risks,
            incidents=incidents,
            runbooks=self._runbooks(risk_score, gap_modes),
            checklist=self._checklist(risk_score, {g["id"] for g in gaps}),
            gaps=gaps,
            took_ms=round((time.perf_counter() - started) * 1000, 2),
        )

    # -- precedents ---------------------------------------------------------------------

    def _precedents(self, plan: str) -> list[dict[str, Any]]:
        """The most similar postmortems, each with its modes and a weight from its rank."""
        query = plan if len(plan) <= MAX_QUERY_CHARS else plan[:MAX_QUERY_CHARS].rsplit(" ", 1)[0]
        result = self.searcher.search(query, k=PRECEDENTS, filters=Filters(kind="postmortem"))
        out = []
        for rank, hit in enumerate(result.results):
            out.append(
                {
                    "id": hit["id"],
                    "title": hit["title"],
                    "org": hit["org"],
                    "url": hit["url"],
                    "date": hit["date"],
                    "score": hit["score"],
                    "modes": {m["id"] for m in hit["modes"]},
                    "weight": hit["score"] / (1 + 0.15 * rank),
                }
            )
        return out

    def _incidents(
        self,
        vector: np.ndarray,
        precedents: list[dict[str, Any]],
        risk_score: dict[str, float],
        k: int,
    ) -> list[dict[str, Any]]:
        """Similar incidents re-ranked by the risks they share with the plan, each with the
        passage of its trigger or root cause closest to the plan."""
        top_risks = {m for m, s in risk_score.items() if s >= LEVELS[1][1]}

        def rank_key(p: dict[str, Any]) -> float:
            shared = sum(risk_score[m] for m in p["modes"] & top_risks)
            return float(p["score"] + 0.12 * shared)

        chosen = sorted(precedents, key=lambda p: (-rank_key(p), p["id"]))[:k]
        passages = self._passages([p["id"] for p in chosen], vector)
        out = []
        for p in chosen:
            shared = sorted(p["modes"] & set(risk_score), key=lambda m: (-risk_score[m], m))
            out.append(
                {
                    "id": p["id"],
                    "title": p["title"],
                    "org": p["org"],
                    "url": p["url"],
                    "date": p["date"],
                    "score": round(rank_key(p), 4),
                    "snippet": passages.get(p["id"], ""),
                    "shared_modes": shared,
                    "why": ("shares " + ", ".join(shared[:4]) if shared else "similar wording"),
                }
            )
        return out

    def _passages(self, doc_ids: list[str], vector: np.ndarray) -> dict[str, str]:
        if not doc_ids:
            return {}
        with Session(self.engine) as session:
            rows = session.execute(
                select(
                    col(models.Chunk.document_id),
                    col(models.Chunk.text),
                    col(models.Chunk.embedding),
                    col(models.Section.kind),
                )
                .join(
                    models.Section,
                    (col(models.Section.document_id) == col(models.Chunk.document_id))
                    & (col(models.Section.position) == col(models.Chunk.section_position)),
                )
                .where(col(models.Chunk.document_id).in_(doc_ids))
            ).all()
        best: dict[str, tuple[float, str]] = {}
        for doc_id, text, blob, kind in rows:
            preferred = kind in SNIPPET_SECTIONS
            score = float(from_bytes(blob) @ vector) + (1.0 if preferred else 0.0)
            if doc_id not in best or score > best[doc_id][0]:
                best[doc_id] = (score, text)
        return {d: _clip(t, 320) for d, (_, t) in best.items()}

    # -- what to do about it --------------------------------------------------------------

    def _relevant(
        self,
        kind: str,
        risk_score: dict[str, float],
        gap_modes: frozenset[str] | set[str] = frozenset(),
    ) -> list[tuple[float, Any, list[str]]]:
        """Documents of a kind ranked by the risks they guard against: the risks' scores
        summed (a mode a gap is raised for counts extra), damped for documents that cover
        many modes thinly. Each with the risk modes it guards, strongest first."""
        scored = []
        for doc in self.searcher.index.docs.values():
            if doc.kind != kind:
                continue
            modes = [m for m, _ in doc.modes]
            guards = sorted((m for m in modes if m in risk_score), key=lambda m: -risk_score[m])
            if not guards:
                continue
            score = sum(risk_score[m] + (0.3 if m in gap_modes else 0.0) for m in guards)
            scored.append((score / (len(modes) ** 0.5), doc, guards))
        scored.sort(key=lambda t: (-t[0], t[1].id))
        return scored

    def _runbooks(self, risk_score: dict[str, float], gap_modes: set[str]) -> list[dict[str, Any]]:
        return [
            {"id": doc.id, "title": doc.title, "url": doc.url, "modes": guards}
            for _, doc, guards in self._relevant("runbook", risk_score, gap_modes)[:MAX_RUNBOOKS]
        ]

    def _checklist(self, risk_score: dict[str, float], gaps: set[str]) -> list[dict[str, Any]]:
        """Items of the checklists that fit this plan best, each for the risk it guards:
        ranked by that risk, whether it closes a gap, and how well its checklist fits; each
        gap is closed by at least one item where a checklist has one."""
        fit = self._relevant("checklist", risk_score)
        top = fit[0][0] if fit else 1.0
        relevance = {doc.id: score / top for score, doc, _ in fit}
        scored = []
        seen: set[str] = set()
        for item in self._checklist_items():
            modes = [m for m in item["modes"] if m in risk_score]
            if not modes or item["source"] not in relevance:
                continue
            key = " ".join(item["text"].lower().split())
            if key in seen:
                continue
            seen.add(key)
            mode = max(modes, key=lambda m: risk_score[m])
            score = (
                risk_score[mode]
                + (0.25 if item.get("gap") in gaps else 0.0)
                + 0.6 * relevance[item["source"]]
            )
            scored.append((score, item, mode))
        scored.sort(key=lambda t: (-t[0], t[1]["source"], t[1]["text"]))
        # Every gap gets the best item that closes it, then the best of the rest fill the list.
        closing = [next((e for e in scored if e[1].get("gap") == g), None) for g in sorted(gaps)]
        first = [e for e in closing if e is not None]
        per_source: dict[str, int] = {}
        chosen: list[tuple[float, dict[str, Any], str]] = []
        for entry in first + [e for e in scored if not any(e is f for f in first)]:
            source = entry[1]["source"]
            if per_source.get(source, 0) < MAX_PER_CHECKLIST and len(chosen) < MAX_CHECKLIST:
                per_source[source] = per_source.get(source, 0) + 1
                chosen.append(entry)
        chosen.sort(key=lambda t: (-t[0], t[1]["source"], t[1]["text"]))
        return [
            {
                "item": item["text"],
                "mode": mode,
                "source": item["source"],
                "gap": item.get("gap"),
                "why": item.get("why"),
            }
            for _, item, mode in chosen
        ]

    def _checklist_items(self) -> list[dict[str, Any]]:
        """Every item of every stored checklist, cached until the store changes."""
        with Session(self.engine) as session:
            revision = store_revision(session)
            if self._items is not None and self._items[0] == revision:
                return self._items[1]
            rows = session.execute(
                select(col(models.Section.document_id), col(models.Section.items))
                .join(models.Document, col(models.Document.id) == col(models.Section.document_id))
                .where(col(models.Document.kind) == "checklist")
                .order_by(col(models.Section.document_id), col(models.Section.position))
            ).all()
        items = []
        for doc_id, section_items in rows:
            for entry in section_items or []:
                if isinstance(entry, dict) and entry.get("text"):
                    modes = entry.get("modes") or []
                    items.append(
                        {
                            "text": str(entry["text"]),
                            "modes": [modes] if isinstance(modes, str) else list(modes),
                            "gap": entry.get("gap"),
                            "why": entry.get("why"),
                            "source": doc_id,
                        }
                    )
        self._items = (revision, items)
        return items

    def _gap(
        self, choice: GapChoice, precedents: list[dict[str, Any]], vector: np.ndarray
    ) -> dict[str, Any]:
        """A chosen gap as the review shows it: the question for the author, what the plan
        left out, the precedent that makes it matter and, when the labelled plans are behind
        it, the similar plans whose reviewers asked it."""
        guard = choice.guard
        example = next((p for p in precedents if p["modes"] & set(guard.precedent_modes)), None)
        message = guard.question
        if choice.left_out:
            message = f"The plan leaves out “{choice.left_out}”. {message}"
        if example is not None:
            message += f" Precedent: {_label(example)}."
        if choice.confident and self.plans is not None:
            alike = self.plans.gap_examples(vector, guard.id)
            if alike:
                message += f" Reviewers asked it of similar plans: {_quoted(alike)}."
        return {
            "id": guard.id,
            "message": message,
            "precedent": example["id"] if example else None,
            "risks": choice.risks,
        }


@dataclass(frozen=True)
class GapChoice:
    guard: Safeguard
    left_out: str | None  # the plan's words that leave the safeguard out, if it does
    confident: bool  # the labelled plans' reviewers were likely to ask it (p >= GAP_RAISE)
    risks: list[str]  # the plan's risks it guards against, strongest first


def choose_gaps(
    plan: str,
    risk_score: dict[str, float],
    listed: set[str],
    asked: dict[str, float],
    kept: set[str],
) -> list[GapChoice]:
    """Safeguards the plan does not mention that matter for its medium or high risks
    (``risk_score``: those the plan itself shows), for any risk listed at all where the
    safeguard says so, or that the plan names only to leave out. ``asked`` (how likely
    reviewers of similar labelled plans asked about each; empty without labelled plans)
    drops the unlikely ones and adds the likely ones the rules miss, but never drops one that
    a risk in ``kept`` (a cue that outweighs the labelled plans) makes matter."""
    medium = {m for m, s in risk_score.items() if s >= LEVELS[1][1]}
    chosen = []
    for guard in SAFEGUARDS:
        if mentioned(plan, guard):
            continue
        left_out = dropped(plan, guard)
        by_rules = guard.applies(plan, medium, listed)
        by_plans = False
        likely = asked.get(guard.id)
        confident = likely is not None and likely >= GAP_RAISE
        if likely is not None and not left_out:
            by_rules = by_rules and (likely >= GAP_KEEP or bool(guard.matters_for & medium & kept))
            by_plans = confident and not by_rules
        if not (by_rules or by_plans or left_out):
            continue
        why = sorted(guard.matters_for & medium, key=lambda m: (-risk_score[m], m)) or sorted(
            guard.matters_when_listed & listed
        )
        chosen.append(GapChoice(guard, left_out, confident, why))
    return chosen


def _quoted(plans: list[tuple[str, str]]) -> str:
    """Labelled plans as (id, title) pairs, quoted for a reason or a gap."""
    return "; ".join(f"“{title}” ({plan_id})" for plan_id, title in plans)


def _label(precedent: dict[str, Any]) -> str:
    when = f" {precedent['date']}" if precedent.get("date") else ""
    who = precedent.get("org") or precedent["title"]
    return f"{who}{when}"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


# The renderers live beside the result they render; re-exported for the doors.
from service.review_render import render_markdown, render_text  # noqa: E402

__all__ = ["Review", "Reviewer", "Risk", "render_markdown", "render_text"]
