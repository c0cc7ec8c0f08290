"""What change review learns from labelled change plans (``corpus/plans/*.yaml``).

Each labelled plan says which failure modes a careful reviewer raised for it. A logistic
regression per mode learns, from the plan's embedding, its words and the review's own
readings of its text (the tagger's scores and the cues of change type and scope), which
kinds of change meet which modes ("rotate the signing key" → expiry, auth-failure; "reindex
1.2B docs" → resource-exhaustion) and how far each reading can be trusted. Beside it, the
most similar labelled plans vote. The review blends the two into each risk and cites the
most similar labelled plans that raised the mode.

The same plans teach which safeguards reviewers ask about: a second logistic regression per
safeguard, over the same readings and words and whether the plan already names the safeguard,
says how likely a careful reviewer would ask the plan's author about it.

The plans here are for learning only; the benchmark's plan sets (``tests/data``) are never
among them (a test checks), so ``bench/review.py`` measures plans the model has not seen.
Trains on first use (every plan is read once, all in one batch) and keeps the model in the
cache directory, keyed by a fingerprint of the plans, the tagger, the cues and this code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.cues import find_cues, strongest
from service.model_cache import cached
from service.safeguards import SAFEGUARDS, dropped, mentioned
from service.tagging import Analysis, Tagger, sigmoid
from service.yamlfile import read_yaml

PLANS = Path(__file__).resolve().parent.parent / "corpus" / "plans"
PLAN_C = 1.0  # regularisation, chosen by recall@5 on the older plan sets (not round 4)
SIMILAR_PLANS = 15  # nearest labelled plans that vote, and are searched for examples to cite
VOTE_SHARE = 0.25  # of the probability from their vote (the rest: the regression)
VOTE_TEMPERATURE = 0.05  # of the vote's weights over cosine similarity
GAP_C = 1.0  # regularisation of the safeguard regressions, chosen by cross-validation over
# the plan files (each file one writer), never on the benchmark's plan sets


@dataclass(frozen=True)
class LabelledPlan:
    id: str
    text: str
    modes: tuple[str, ...]  # what a careful reviewer raises, most important first
    gaps: tuple[str, ...]  # safeguards it should mention and does not
    present: tuple[str, ...]  # safeguards it covers

    @property
    def title(self) -> str:
        first = " ".join(self.text.split())
        return first if len(first) <= 90 else first[:89].rsplit(" ", 1)[0] + "…"


def load_plans(directory: Path = PLANS, known_modes: set[str] | None = None) -> list[LabelledPlan]:
    """Every labelled plan of every YAML file in ``directory``, in file and list order."""
    plans: list[LabelledPlan] = []
    seen: set[str] = set()
    for path in sorted(directory.glob("*.yaml")):
        for plan in load_plan_file(path, known_modes):
            if plan.id in seen:
                raise ValueError(f"{path}: plan {plan.id}: the id is used twice")
            seen.add(plan.id)
            plans.append(plan)
    return plans


def load_plan_file(path: Path, known_modes: set[str] | None = None) -> list[LabelledPlan]:
    """The labelled plans of one YAML file, in list order."""
    data = read_yaml(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of plans")
    plans: list[LabelledPlan] = []
    seen: set[str] = set()
    for n, entry in enumerate(data, 1):
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("plan"):
            raise ValueError(f"{path}: plan #{n} needs an id and a plan")
        plan_id = str(entry["id"])
        modes = tuple(entry.get("expect_modes") or ())
        unknown = [m for m in modes if known_modes is not None and m not in known_modes]
        problem = (
            "the id is used twice"
            if plan_id in seen
            else "it has no expect_modes"
            if not modes
            else f"unknown mode(s) {unknown}"
            if unknown
            else None
        )
        if problem:
            raise ValueError(f"{path}: plan {plan_id}: {problem}")
        seen.add(plan_id)
        plans.append(
            LabelledPlan(
                plan_id,
                str(entry["plan"]),
                modes,
                tuple(entry.get("expect_gaps") or ()),
                tuple(entry.get("present_safeguards") or ()),
            )
        )
    return plans


@dataclass
class PlanModel:
    mode_ids: list[str]
    coef: np.ndarray  # (modes, features)
    bias: np.ndarray  # (modes,)
    words: Any  # the fitted TF-IDF of the plans' words and word pairs
    vectors: np.ndarray  # (plans, dimension): the labelled plans, to cite the nearest
    labels: np.ndarray  # (plans, modes) bool
    plan_ids: list[str]
    titles: list[str]
    fingerprint: str
    gap_ids: list[str]
    gap_coef: np.ndarray  # (safeguards, features + safeguard readings + words)
    gap_bias: np.ndarray  # (safeguards,)
    gap_labels: np.ndarray  # (plans, safeguards) bool: reviewers asked about it

    def proba(self, plan: str, analysis: Analysis, cues: dict[str, float]) -> dict[str, float]:
        """How likely a careful reviewer raises each mode for this plan."""
        dense = features(analysis, cues, self.mode_ids)
        words = self.words.transform([plan])
        z = self.coef[:, : len(dense)] @ dense + np.asarray(words @ self.coef[:, len(dense) :].T)[0]
        z += self.bias
        p = sigmoid(z)
        p = (1 - VOTE_SHARE) * p + VOTE_SHARE * self.vote(analysis.vector)
        return {m: float(p[j]) for j, m in enumerate(self.mode_ids)}

    def gap_proba(self, plan: str, analysis: Analysis, cues: dict[str, float]) -> dict[str, float]:
        """How likely a careful reviewer asks the author about each safeguard."""
        dense = features(analysis, cues, self.mode_ids)
        words = self.words.transform([plan])
        n = len(dense) + len(SAFEGUARD_READINGS)
        z = np.asarray(words @ self.gap_coef[:, n:].T)[0] + self.gap_bias
        for j, reading in enumerate(safeguard_readings(plan)):
            z[j] += self.gap_coef[j, :n] @ np.concatenate([dense, reading])
        p = sigmoid(z)
        return {g: float(p[j]) for j, g in enumerate(self.gap_ids)}

    def vote(self, vector: np.ndarray) -> np.ndarray:
        """(modes,): the share of the most similar labelled plans that raised each mode,
        the closest weighing most."""
        nearest, sims = self._nearest(vector)
        weight = np.exp((sims - sims.max()) / VOTE_TEMPERATURE)
        return np.asarray(weight @ self.labels[nearest] / weight.sum())

    def examples(self, vector: np.ndarray, mode_id: str, limit: int = 2) -> list[tuple[str, str]]:
        """(id, title) of the most similar labelled plans that raised the mode."""
        if mode_id not in self.mode_ids:
            return []
        return self._alike(vector, self.labels[:, self.mode_ids.index(mode_id)], limit)

    def gap_examples(
        self, vector: np.ndarray, gap_id: str, limit: int = 2
    ) -> list[tuple[str, str]]:
        """(id, title) of the most similar labelled plans whose reviewers asked about it."""
        if gap_id not in self.gap_ids:
            return []
        return self._alike(vector, self.gap_labels[:, self.gap_ids.index(gap_id)], limit)

    def _alike(self, vector: np.ndarray, flags: np.ndarray, limit: int) -> list[tuple[str, str]]:
        nearest, _ = self._nearest(vector)
        return [(self.plan_ids[i], self.titles[i]) for i in nearest if flags[i]][:limit]

    def _nearest(self, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices and cosine similarities of the SIMILAR_PLANS closest labelled plans."""
        sims = self.vectors @ vector
        nearest = np.argsort(-sims, kind="stable")[:SIMILAR_PLANS]
        return nearest, sims[nearest]


def cue_strengths(plan: str, analysis: Analysis) -> dict[str, float]:
    """The strongest cue of change type or scope for each mode the plan's phrases raise."""
    return strongest(find_cues(plan, analysis.scores, analysis.thresholds))


def features(analysis: Analysis, cues: dict[str, float], mode_ids: Sequence[str]) -> np.ndarray:
    """The plan's embedding, each mode's cue strength, and each mode's tagger score as a
    share of its threshold (capped at three times it, scaled to 0-1)."""
    ratio = [
        min(analysis.scores.get(m, 0.0) / max(analysis.thresholds.get(m, 1.0), 1e-6), 3.0) / 3
        for m in mode_ids
    ]
    return np.concatenate([analysis.vector, [cues.get(m, 0.0) for m in mode_ids], ratio]).astype(
        np.float32
    )


SAFEGUARD_READINGS = ("named", "left out", "share of safeguards named")


def safeguard_readings(plan: str) -> np.ndarray:
    """(safeguards, 3): whether the plan names each safeguard, names it only to leave it out,
    and how many of the safeguards it names (a careful plan names most)."""
    named = np.array([mentioned(plan, s) is not None for s in SAFEGUARDS], dtype=np.float32)
    left_out = np.array([dropped(plan, s) is not None for s in SAFEGUARDS], dtype=np.float32)
    share = np.full(len(SAFEGUARDS), named.mean(), dtype=np.float32)
    return np.stack([named, left_out, share], axis=1) * 2


def train(
    plans: Sequence[LabelledPlan], tagger: Tagger, mode_ids: list[str], fingerprint: str
) -> PlanModel:
    """Read every plan as review does, then fit one logistic regression per mode on those
    readings and the plan's words (which name kinds of change: "reboot", "drop", "rotate")."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    analyses = tagger.analyse_many([p.text for p in plans])
    dense = np.stack(
        [
            features(a, cue_strengths(p.text, a), mode_ids)
            for p, a in zip(plans, analyses, strict=True)
        ]
    )
    words = TfidfVectorizer(
        ngram_range=(1, 2), min_df=2, sublinear_tf=True, stop_words="english"
    ).fit([p.text for p in plans])
    x = hstack([csr_matrix(dense), words.transform([p.text for p in plans])]).tocsr()
    labels = np.array([[m in p.modes for m in mode_ids] for p in plans], dtype=bool)
    coef = np.zeros((len(mode_ids), x.shape[1]), dtype=np.float32)
    bias = np.full(len(mode_ids), -8.0, dtype=np.float32)
    for j in range(len(mode_ids)):
        y = labels[:, j]
        if 0 < y.sum() < len(y):
            fitted = LogisticRegression(C=PLAN_C, max_iter=5000).fit(x, y)
            coef[j], bias[j] = fitted.coef_[0], fitted.intercept_[0]

    gap_ids = [s.id for s in SAFEGUARDS]
    gap_labels = np.array([[g in p.gaps for g in gap_ids] for p in plans], dtype=bool)
    readings = np.stack([safeguard_readings(p.text) for p in plans])  # (plans, safeguards, 3)
    gap_coef = np.zeros((len(gap_ids), x.shape[1] + readings.shape[2]), dtype=np.float32)
    gap_bias = np.full(len(gap_ids), -8.0, dtype=np.float32)
    for j in range(len(gap_ids)):
        y = gap_labels[:, j]
        if 0 < y.sum() < len(y):
            xj = hstack([csr_matrix(dense), csr_matrix(readings[:, j]), x[:, dense.shape[1] :]])
            fitted = LogisticRegression(C=GAP_C, class_weight="balanced", max_iter=5000).fit(
                xj.tocsr(), y
            )
            gap_coef[j], gap_bias[j] = fitted.coef_[0], fitted.intercept_[0]
    return PlanModel(
        mode_ids=list(mode_ids),
        coef=coef,
        bias=bias,
        words=words,
        vectors=np.stack([a.vector for a in analyses]),
        labels=labels,
        plan_ids=[p.id for p in plans],
        titles=[p.title for p in plans],
        fingerprint=fingerprint,
        gap_ids=gap_ids,
        gap_coef=gap_coef,
        gap_bias=gap_bias,
        gap_labels=gap_labels,
    )


def fingerprint(plans: Sequence[LabelledPlan], tagger: Tagger) -> str:
    """Changes whenever the plans, the tagger's model, the cues or this code changes."""
    digest = hashlib.sha256(tagger.model.fingerprint.encode())
    for module in ("plan_model.py", "cues.py", "safeguards.py"):
        digest.update((Path(__file__).parent / module).read_bytes())
    for p in plans:
        digest.update(f"{p.id}|{p.text}|{','.join(p.modes)}|{','.join(p.gaps)}\n".encode())
    return digest.hexdigest()[:16]


def load_or_train(
    tagger: Tagger, cache_dir: Path | None, directory: Path = PLANS
) -> PlanModel | None:
    """The model of the labelled plans in ``directory`` (None when there are none), from
    the cache when it holds this fingerprint."""
    mode_ids = list(tagger.model.mode_ids)
    plans = load_plans(directory, set(mode_ids))
    if not plans:
        return None
    key = fingerprint(plans, tagger)
    return cached(cache_dir, "plans", key, PlanModel, lambda: train(plans, tagger, mode_ids, key))
