"""Every bundled corpus file is well-formed, labelled with real modes, and written once."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

import frontmatter
import pytest
import yaml

from service.taxonomy import load_taxonomy

# The gap ids of the change-review contract (../shared/design/interfaces.md).
GAP_IDS = frozenset(
    {
        "staged-rollout",
        "rollback-plan",
        "monitoring",
        "load-test",
        "break-glass-access",
        "backup",
        "dependency-check",
        "communication",
    }
)

CORPUS = Path(__file__).resolve().parent.parent.parent / "corpus"

# The public contract of shared/design/taxonomy.md: ids never change meaning.
CONTRACT = {
    "trigger": [
        "code-deploy",
        "config-change",
        "infra-change",
        "data-migration",
        "load-surge",
        "expiry",
        "time-handling",
        "hardware-facility",
        "operator-error",
        "third-party-outage",
        "security-event",
    ],
    "mechanism": [
        "control-plane-overload",
        "resource-exhaustion",
        "retry-storm",
        "dns-discovery",
        "network-partition",
        "dependency-cascade",
        "database-degradation",
        "data-loss",
        "bad-input",
        "software-defect",
        "auth-failure",
    ],
    "amplifier": ["global-blast-radius", "test-gap", "detection-gap", "circular-dependency"],
    "recovery": ["control-plane-lockout", "slow-rollback", "cold-start"],
}
SECTIONS = {
    "postmortems": [
        "Summary",
        "Impact",
        "Trigger",
        "Root cause and contributing factors",
        "Detection",
        "Resolution",
        "Lessons",
        "Action items",
    ],
    "runbooks": ["Meaning", "Impact", "Diagnosis", "Mitigation", "Verification", "Escalation"],
    "checklists": ["Purpose", "Items"],
}
FIELDS = {
    "postmortems": {"id", "title", "org", "date", "url", "modes", "components"},
    "runbooks": {"id", "title", "modes", "components", "alerts"},
    "checklists": {"id", "title", "modes", "components", "applies_to"},
}
MODES = {m for ids in CONTRACT.values() for m in ids}


def _files(kind: str) -> list[Path]:
    return sorted((CORPUS / kind).glob("*.md"))


def _sections(body: str) -> dict[str, str]:
    parts = re.split(r"^## (.+)$", body, flags=re.M)
    return {parts[i].strip(): parts[i + 1].strip() for i in range(1, len(parts), 2)}


ALL = [(kind, path) for kind in SECTIONS for path in _files(kind)]


def test_taxonomy_implements_the_contract() -> None:
    modes = load_taxonomy(CORPUS / "taxonomy.yaml")
    assert {axis: [m.id for m in modes if m.axis == axis] for axis in CONTRACT} == CONTRACT
    for mode in modes:
        assert mode.definition and len(mode.signals) >= 10 and mode.counter_signals, mode.id
        assert len(mode.examples) >= 2, mode.id
        for example in mode.examples:
            post = frontmatter.load(CORPUS / "postmortems" / f"{example}.md")
            assert mode.id in post.metadata["modes"], (mode.id, example)


def test_corpus_sizes() -> None:
    assert len(_files("postmortems")) >= 80
    assert len(_files("runbooks")) >= 30
    assert len(_files("checklists")) >= 15
    kubernetes = [
        p
        for p in _files("postmortems")
        if re.search(r"kubernetes|kubelet|daemonset|\bk8s\b", p.read_text(), re.I)
    ]
    assert len(kubernetes) >= 20


@pytest.mark.parametrize(("kind", "path"), ALL, ids=[p.stem for _, p in ALL])
def test_file_is_well_formed(kind: str, path: Path) -> None:
    post = frontmatter.load(path)
    meta = post.metadata
    assert FIELDS[kind] <= set(meta), FIELDS[kind] - set(meta)
    assert meta["id"] == path.stem
    assert isinstance(meta["modes"], list) and meta["modes"]
    assert set(meta["modes"]) <= MODES, set(meta["modes"]) - MODES
    assert len(meta["modes"]) == len(set(meta["modes"]))
    sections = _sections(post.content)
    assert list(sections) == SECTIONS[kind]
    for heading, text in sections.items():
        assert text and "TODO" not in text and "TBD" not in text, heading
    if kind == "postmortems":
        url = urlparse(meta["url"])
        assert url.scheme == "https" and url.netloc and "." in url.netloc, meta["url"]
        assert isinstance(meta["date"], date)
        words = len(re.sub(r"^## .+$", "", post.content, flags=re.M).split())
        assert 150 <= words <= 500, words
        assert re.search(r"^- \S", sections["Action items"], re.M)
    if kind == "runbooks":
        assert re.search(r"^1\. ", sections["Diagnosis"], re.M)
        steps = re.split(r"^\d+\. ", sections["Mitigation"], flags=re.M)[1:]
        assert steps and all("Risk:" in s and "Undo:" in s for s in steps)
    if kind == "checklists":
        items = re.findall(r"^- \[ \] (.+)\n((?:  - .+\n?)+)", sections["Items"] + "\n", re.M)
        assert len(items) >= 5
        for _statement, fields in items:
            modes = re.search(r"- modes: (.+)", fields)
            assert modes and set(re.split(r",\s*", modes.group(1).strip())) <= set(meta["modes"])
            assert "- why: " in fields
            gap = re.search(r"- gap: (\S+)", fields)
            assert gap is None or gap.group(1) in GAP_IDS


def test_ids_are_unique_and_every_mode_is_covered() -> None:
    ids = Counter(frontmatter.load(p).metadata["id"] for _, p in ALL)
    assert [i for i, n in ids.items() if n > 1] == []
    covered: dict[str, Counter[str]] = defaultdict(Counter)
    for kind, path in ALL:
        for mode in frontmatter.load(path).metadata["modes"]:
            covered[mode][kind] += 1
    for mode in MODES:
        assert covered[mode]["postmortems"] >= 2, mode
        assert covered[mode]["runbooks"] + covered[mode]["checklists"] >= 1, mode


def _shingles(text: str, n: int = 8) -> set[tuple[str, ...]]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def test_no_two_files_share_boilerplate() -> None:
    """Each entry is written on its own: no run of eight words appears in two files."""
    seen: dict[tuple[str, ...], str] = {}
    shared = []
    for _, path in ALL:
        body = frontmatter.load(path).content
        body = re.sub(r"^## .+$|^\s*- (modes|gap):.*$", "", body, flags=re.M)
        for shingle in _shingles(body):
            other = seen.setdefault(shingle, path.name)
            if other != path.name:
                shared.append((other, path.name, " ".join(shingle)))
    assert shared == []


def test_labelled_passages_are_valid() -> None:
    passages = yaml.safe_load((CORPUS / "labelled" / "passages.yaml").read_text())
    assert len(passages) >= 120
    assert len({p["id"] for p in passages}) == len(passages)
    counts: Counter[str] = Counter()
    for passage in passages:
        assert passage["text"].strip() and set(passage["modes"]) <= MODES, passage["id"]
        counts.update(passage["modes"])
    assert all(counts[m] >= 5 for m in MODES)


PLAN_FILES = sorted((CORPUS / "plans").glob("*.yaml")) + sorted(
    (CORPUS.parent / "tests" / "data").glob("review_plans*.yaml")
)


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: p.name)
def test_labelled_plans_are_valid(path: Path) -> None:
    plans = yaml.safe_load(path.read_text())
    assert len(plans) >= 20 and len({p["id"] for p in plans}) == len(plans)
    for plan in plans:
        where = f"{path.name}:{plan['id']}"
        expect, wrong = set(plan["expect_modes"]), set(plan.get("wrong_modes", []))
        gaps, present = set(plan.get("expect_gaps", [])), set(plan.get("present_safeguards", []))
        assert plan["plan"].strip() and 2 <= len(expect) <= 5, where
        assert expect | wrong <= MODES and not expect & wrong, where
        assert gaps | present <= GAP_IDS and not gaps & present, where


def test_plans_for_learning_are_not_evaluation_plans() -> None:
    """The review learns from corpus/plans; the benchmark's plan sets must stay unseen."""
    learned = {
        " ".join(p["plan"].split())
        for f in (CORPUS / "plans").glob("*.yaml")
        for p in yaml.safe_load(f.read_text())
    }
    for path in (CORPUS.parent / "tests" / "data").glob("review_plans*.yaml"):
        for plan in yaml.safe_load(path.read_text()):
            assert " ".join(plan["plan"].split()) not in learned, plan["id"]


def test_second_readings_label_known_items() -> None:
    """The second readers' labels (agreement figures in bench/) name real plans and passages,
    and only known modes and safeguards."""
    data = CORPUS.parent / "tests" / "data"
    plan_ids = {
        p["id"] for f in data.glob("review_plans*.yaml") for p in yaml.safe_load(f.read_text())
    }
    readings = yaml.safe_load((data / "second_reader_plans.yaml").read_text())
    assert len({r["id"] for r in readings}) == len(readings) >= 30
    for r in readings:
        assert r["id"] in plan_ids and 2 <= len(r["modes"]) <= 5, r["id"]
        assert set(r["modes"]) <= MODES and set(r["gaps"]) <= GAP_IDS, r["id"]
    passage_ids = {
        p["id"] for p in yaml.safe_load((CORPUS / "labelled" / "passages.yaml").read_text())
    }
    second = yaml.safe_load((CORPUS / "labelled" / "second_reading.yaml").read_text())
    assert len({s["id"] for s in second}) == len(second) >= 100
    for s in second:
        assert s["id"] in passage_ids and set(s["modes"]) <= MODES, s["id"]
