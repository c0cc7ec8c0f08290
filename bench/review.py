"""Change review quality and speed on the labelled plans, beside a tag-the-plan baseline.

    .venv/bin/python bench/review.py [--data-dir DIR]

Loads the bundled corpus into a store (or reuses DIR), reviews every plan in
tests/data/review_plans.yaml and review_plans_round2.yaml (the sets the reviewer was developed
against) and in review_plans_blind.yaml, review_plans_blind3.yaml and review_plans_blind4.yaml
(each written by someone who never saw the reviewer's rules, and never tuned on: the honest
estimate), and prints for each set, for the review and for a baseline measured in the same run
(the tagger applied to the plan text alone, its modes ranked by confidence; as gaps, every
safeguard the plan does not mention):

- recall@3 and recall@5 of the modes a careful reviewer expects;
- the share of plans with a wrong mode (one the set marks as wrong to raise) in their top 3;
- gap precision, recall and F1 against the expected gaps;
- review latency p50/p99 after warm-up (target p50 < 300 ms).

Beside them, for the blind and round-2 sets, the same figures for a second reader: a careful
reviewer who labelled those plans without seeing their labels (tests/data/
second_reader_plans.yaml). Two people agree that far and no further; the review's figures are
best read against theirs.

Last, over all the sets, each safeguard's gap precision and recall and how often it is asked
(by the sets' writers, by the review, and by the second reader on the plans it labelled): where
the gap errors are, and which of them are a matter of convention.

Targets: recall@5 >= 0.85, wrong-in-top-3 <= 10 %, gap F1 >= 0.8, clearly above the baseline.

The review learns from the labelled plans in corpus/plans/ (service/plan_model.py) which risks
to raise and which safeguards to ask about; none of the plans measured here is among them
(tests/corpus/test_corpus.py checks).

    .venv/bin/python bench/review.py --cross-validate

also measures the labelled plans themselves, five folds over the plan files (each file one
writer): each fold's plans are reviewed by a model trained on the other folds' files, beside
the rules alone. This is where the review's learned settings were chosen, never on the plan
sets above.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service import plan_model
from service.config import Config
from service.hindsight import Hindsight
from service.safeguards import SAFEGUARDS, mentioned

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
# The plans the reviewer was developed against; a second round written blind, measured once
# (recall@5 0.52, gap F1 0.56) and then used to generalise the rules; and three more rounds
# written blind after that and never tuned on for risks: the honest estimate. (Three misread
# safeguard phrases were found on rounds 3 and 4 and mended: "skip the canary", "100% of
# users", "API stages"; their gap figures have seen that much.)
PLAN_SETS = (
    ("development", DATA / "review_plans.yaml"),
    ("development, round 2", DATA / "review_plans_round2.yaml"),
    ("blind", DATA / "review_plans_blind.yaml"),
    ("blind, round 3", DATA / "review_plans_blind3.yaml"),
    ("blind, round 4", DATA / "review_plans_blind4.yaml"),
)


def evaluate(plans: list[dict], ranked: list[list[str]], gaps: list[set[str]]) -> dict[str, float]:
    r3, r5, wrong = [], [], 0
    tp = fp = fn = 0
    for plan, modes, found in zip(plans, ranked, gaps, strict=True):
        expect = set(plan["expect_modes"])
        r3.append(len(expect & set(modes[:3])) / len(expect))
        r5.append(len(expect & set(modes[:5])) / len(expect))
        wrong += bool(set(plan.get("wrong_modes", [])) & set(modes[:3]))
        want = set(plan.get("expect_gaps", []))
        tp += len(found & want)
        fp += len(found - want)
        fn += len(want - found)
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "recall@3": float(np.mean(r3)),
        "recall@5": float(np.mean(r5)),
        "wrong-in-top-3": wrong / len(plans),
        "gap precision": p,
        "gap recall": r,
        "gap F1": 2 * p * r / (p + r) if p + r else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", help="reuse a store with the corpus loaded")
    parser.add_argument("--verbose", action="store_true", help="print each plan's misses")
    parser.add_argument(
        "--cross-validate", action="store_true", help="also five folds over the plan files"
    )
    args = parser.parse_args()
    data_dir = args.data_dir or tempfile.mkdtemp(prefix="hindsight-bench-review-")
    hs = Hindsight(Config.load({"data_dir": data_dir}))
    if not (Path(data_dir) / "hindsight.db").exists():
        started = time.perf_counter()
        hs.init()
        print(f"loaded the bundled corpus in {time.perf_counter() - started:.0f} s")
    first = yaml.safe_load(PLAN_SETS[0][1].read_text(encoding="utf-8"))
    hs.review(first[0]["plan"])  # warm-up: model, tagger, indexes
    times: list[float] = []
    second = _second_reader()
    # every plan's gaps: (expected, raised by the review, asked by the second reader or None)
    asked: list[tuple[set[str], set[str], set[str] | None]] = []
    for name, path in PLAN_SETS:
        if path.exists():
            plans = yaml.safe_load(path.read_text(encoding="utf-8"))
            _evaluate_set(hs, name, path, plans, second, times, asked, args.verbose)
    _by_safeguard(asked)
    ms = np.array(times) * 1000
    print(
        f"\nreview latency after warm-up ({len(ms)} reviews): p50 {np.percentile(ms, 50):.0f} ms, "
        f"p99 {np.percentile(ms, 99):.0f} ms (target p50 < 300 ms)"
    )
    if args.cross_validate:
        _cross_validate(hs)


def _cross_validate(hs: Hindsight, folds: int = 5) -> None:
    """Review each labelled plan with a model that never saw its file, and with the rules."""
    reviewer = hs.reviewer
    trained = reviewer.plans
    tagger = reviewer.tagger
    files = sorted(plan_model.PLANS.glob("*.yaml"))
    by_file = {f.stem: plan_model.load_plan_file(f, set(tagger.model.mode_ids)) for f in files}
    names = sorted(by_file)
    results: dict[str, list] = {"rules alone": [[], [], []], "learned": [[], [], []]}
    for k in range(folds):
        held = {n for i, n in enumerate(names) if i % folds == k}
        learn = [p for n in names if n not in held for p in by_file[n]]
        model = plan_model.train(learn, tagger, list(tagger.model.mode_ids), f"fold-{k}")
        for label, plans in (("rules alone", None), ("learned", model)):
            reviewer.plans = plans
            for n in sorted(held):
                for p in by_file[n]:
                    result = reviewer.review(p.text).as_dict()
                    results[label][0].append(
                        {"expect_modes": list(p.modes), "expect_gaps": list(p.gaps)}
                    )
                    results[label][1].append([r["mode"] for r in result["risks"]])
                    results[label][2].append({g["id"] for g in result["gaps"]})
        print(f"fold {k + 1} of {folds}: held out {', '.join(sorted(held))}", flush=True)
    reviewer.plans = trained
    total = sum(len(v) for v in by_file.values())
    print(f"\nlabelled plans, {folds} folds over {len(files)} files ({total} plans)")
    print(f"{'metric':16} {'learned':>8} {'rules':>9}")
    learned = evaluate(*results["learned"])
    rules = evaluate(*results["rules alone"])
    for key in ("recall@3", "recall@5", "gap precision", "gap recall", "gap F1"):
        print(f"{key:16} {learned[key]:8.3f} {rules[key]:9.3f}")


def _evaluate_set(
    hs: Hindsight,
    name: str,
    path: Path,
    plans: list[dict],
    second: dict[str, dict],
    times: list[float],
    asked: list[tuple[set[str], set[str], set[str] | None]],
    verbose: bool,
) -> None:
    ours_modes, ours_gaps = [], []
    base_modes, base_gaps = [], []
    for plan in plans:
        started = time.perf_counter()
        result = hs.review(plan["plan"]).as_dict()
        times.append(time.perf_counter() - started)
        ours_modes.append([r["mode"] for r in result["risks"]])
        ours_gaps.append({g["id"] for g in result["gaps"]})
        tags = hs.tag(plan["plan"]).as_dict()["modes"]
        base_modes.append([t["id"] for t in tags])
        base_gaps.append({s.id for s in SAFEGUARDS if not mentioned(plan["plan"], s)})
        if verbose:
            missed = set(plan["expect_modes"]) - set(ours_modes[-1][:5])
            wrong = set(plan.get("wrong_modes", [])) & set(ours_modes[-1][:3])
            want = set(plan.get("expect_gaps", []))
            print(
                f"{plan['id']}: top5 {ours_modes[-1][:5]} missed {sorted(missed)} "
                f"wrong {sorted(wrong)} | gaps extra {sorted(ours_gaps[-1] - want)} "
                f"missing {sorted(want - ours_gaps[-1])}"
            )
    for plan, found in zip(plans, ours_gaps, strict=True):
        other = set(second[plan["id"]]["gaps"]) if plan["id"] in second else None
        asked.append((set(plan.get("expect_gaps", [])), found, other))
    columns = {
        "review": evaluate(plans, ours_modes, ours_gaps),
        "baseline": evaluate(plans, base_modes, base_gaps),
    }
    if all(plan["id"] in second for plan in plans):
        readings = [second[plan["id"]] for plan in plans]
        columns["2nd reader"] = evaluate(
            plans, [r["modes"] for r in readings], [set(r["gaps"]) for r in readings]
        )
    print(f"\n{name} set: {len(plans)} plans from {path.name}")
    print(f"{'metric':16} " + " ".join(f"{c:>10}" for c in columns) + "  target")
    targets = {"recall@5": ">= 0.85", "wrong-in-top-3": "<= 0.10", "gap F1": ">= 0.80"}
    for key in columns["review"]:
        cells = " ".join(f"{c[key]:10.3f}" for c in columns.values())
        print(f"{key:16} {cells}  {targets.get(key, '')}")


def _by_safeguard(asked: list[tuple[set[str], set[str], set[str] | None]]) -> None:
    """Where the gap errors are: each safeguard's precision and recall over every set and how
    often the sets' writers and the review ask about it; beside them, the same for the second
    reader on the plans it labelled (where it too asks far more often than the writers, the
    disagreement is one of convention, not of reading)."""
    read = [(w, o) for w, _, o in asked if o is not None]
    print(
        f"\ngaps by safeguard: the review on all {len(asked)} plans; the second reader on {len(read)}"
    )
    print(
        f"{'safeguard':20} {'writers':>7}  {'review: P / R / asks':>21}  {'2nd reader: P / R / asks':>25}"
    )
    for guard in SAFEGUARDS:
        cells = [_asking(guard.id, [(w, g) for w, g, _ in asked])]
        if read:
            cells.append(_asking(guard.id, read))
        share = sum(guard.id in w for w, _, _ in asked) / len(asked)
        print(f"{guard.id:20} {share:7.0%}  " + "  ".join(f"{c:>21}" for c in cells))


def _asking(gap: str, pairs: list[tuple[set[str], set[str]]]) -> str:
    """Precision, recall and how often it is asked, of one safeguard over (expected, asked)."""
    want = [gap in w for w, _ in pairs]
    got = [gap in g for _, g in pairs]
    tp = sum(w and g for w, g in zip(want, got, strict=True))
    return (
        f"{tp / max(sum(got), 1):.2f} / {tp / max(sum(want), 1):.2f} / {sum(got) / len(pairs):4.0%}"
    )


def _second_reader() -> dict[str, dict]:
    """A second reader's blind labels of some plan sets (modes ranked, and gaps), by plan id."""
    path = DATA / "second_reader_plans.yaml"
    if not path.exists():
        return {}
    return {r["id"]: r for r in yaml.safe_load(path.read_text(encoding="utf-8"))}


if __name__ == "__main__":
    main()
