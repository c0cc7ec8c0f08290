"""The tagger: evidence, negation, the labelled split, human tags over automatic ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.config import Config
from service.embedding import Embedder
from service.hindsight import CORPUS, Hindsight
from service.labelled import load_passages, split
from service.search import QueryError
from service.signals import SignalMatcher
from service.tagging import text_windows
from service.taxonomy import load_taxonomy
from tests.conftest import DATA, run_cli

MODEL_TOKENS = 256  # all-MiniLM-L6-v2 reads this many tokens and drops the rest

MODES = load_taxonomy(CORPUS / "taxonomy.yaml")


def test_signals_tell_affirmed_from_denied() -> None:
    matcher = SignalMatcher(MODES)
    found = matcher.scan("CoreDNS returned SERVFAIL for every lookup.")
    assert found["dns-discovery"].affirmed and not found["dns-discovery"].negated
    denied = matcher.scan("This was not caused by DNS: name resolution worked throughout.")
    assert not denied["dns-discovery"].affirmed and denied["dns-discovery"].negated
    guess = matcher.scan("We first suspected DNS, but the resolvers were healthy.")
    assert not guess["dns-discovery"].affirmed
    # A counter-signal is not the mode: deploying the fix is recovery, not the trigger.
    fix = matcher.scan("At 10:40 we deployed the fix.")
    assert "code-deploy" not in fix or not fix["code-deploy"].affirmed


def test_signal_phrases_match_whole_words_only() -> None:
    matcher = SignalMatcher(MODES)
    text = "The pre-deploy hook and the deploy-time check ran; then the deploy itself failed."
    spans = matcher.scan(text)["code-deploy"].affirmed
    assert [text[s:e] for s, e in spans] == ["deploy"]
    assert spans[0][0] == text.index("the deploy itself") + len("the ")
    # phrases of several words and with punctuation, in any case, across line breaks
    found = matcher.scan("We hit a SPLIT-BRAIN after the re-cabling; 100% CPU on every\nnode.")
    assert found["network-partition"].affirmed
    assert found["infra-change"].affirmed
    assert found["resource-exhaustion"].affirmed
    assert found["global-blast-radius"].affirmed
    assert "code-deploy" not in matcher.scan("redeployment, deployments-wise, undeploy")


def test_labelled_split_is_fixed_and_covers_every_mode() -> None:
    passages = load_passages(known_modes={m.id for m in MODES})
    assert len(passages) >= 120
    train, test = split(passages)
    _, again_test = split(list(reversed(passages)))
    assert {p.id for p in test} == {p.id for p in again_test}
    assert not {p.id for p in train} & {p.id for p in test}
    assert 0.2 < len(test) / len(passages) < 0.4
    assert {m.id for m in MODES if not m.retired} <= {m for p in test for m in p.modes}


def test_openai_account_gets_the_worked_example_modes_with_evidence(
    corpus_app: Hindsight,
) -> None:
    text = (DATA / "tagging" / "openai-2024-12-11.txt").read_text(encoding="utf-8")
    report = corpus_app.tag(text).as_dict()
    by_id = {m["id"]: m for m in report["modes"]}
    for mode in (
        "control-plane-overload",
        "dns-discovery",
        "global-blast-radius",
        "control-plane-lockout",
    ):
        assert mode in by_id, (mode, list(by_id))
        evidence = by_id[mode]["evidence"]
        assert evidence, mode
        for ev in evidence:
            assert text[ev["start"] : ev["end"]] == ev["text"]
        assert 0 < by_id[mode]["confidence"] <= 1
    assert {"time-handling", "hardware-facility", "data-migration"}.isdisjoint(by_id)


def test_a_denial_is_not_a_tag(corpus_app: Hindsight) -> None:
    text = (DATA / "tagging" / "not-dns.txt").read_text(encoding="utf-8")
    modes = {m["id"] for m in corpus_app.tag(text).as_dict()["modes"]}
    assert "dns-discovery" not in modes
    # The control: the same opening, affirmed, is about DNS.
    affirmed = (
        "Checkout was unavailable for forty minutes on Tuesday. This was caused by DNS: name "
        "resolution failed for the payment service's hostname."
    )
    assert "dns-discovery" in {m["id"] for m in corpus_app.tag(affirmed).as_dict()["modes"]}


def test_a_long_text_is_read_whole_in_windows_the_model_takes(embedder: Embedder) -> None:
    postmortems = sorted((CORPUS / "postmortems").glob("*.md"))
    prose = "\n\n".join(p.read_text(encoding="utf-8") for p in postmortems[:40])
    run_on = " ".join(f"step{i} of a log line without any full stop" for i in range(150))
    text = prose + "\n\n" + run_on
    windows = text_windows(text, embedder.token_counts)
    assert max(embedder.token_counts([w.text for w in windows])) <= MODEL_TOKENS
    read = [s for w in windows for s in w.sentences]
    assert all(text[s.start : s.end] == s.text for s in read)
    assert " ".join(s.text for s in read).split() == text.split()  # every word, in order, once


def test_texts_read_in_one_batch_are_read_as_alone(corpus_app: Hindsight) -> None:
    texts = [
        (DATA / "tagging" / "not-dns.txt").read_text(encoding="utf-8"),
        "Roll out the new metrics agent as a DaemonSet to every production cluster at once.",
        " ".join(
            p.read_text(encoding="utf-8") for p in sorted((CORPUS / "postmortems").glob("*.md"))[:3]
        ),
    ]
    tagger = corpus_app.tagger
    # bfloat16 kernels round a batch of another shape a little differently (seen: 7e-5);
    # float32 keeps the checks it always had
    bf16 = tagger.embedder.bf16
    close = 1e-3 if bf16 else 1e-5
    batched = tagger.analyse_many(texts)
    for text, together in zip(texts, batched, strict=True):
        alone = tagger.analyse(text)
        got, want = together.report.modes, alone.report.modes
        assert [(t.id, t.evidence) for t in got] == [(t.id, t.evidence) for t in want]
        confidences = [t.confidence for t in want]
        assert [t.confidence for t in got] == (
            pytest.approx(confidences, abs=close) if bf16 else pytest.approx(confidences)
        )
        assert together.scores == pytest.approx(alone.scores, abs=close)
        assert together.vector == pytest.approx(alone.vector, abs=close)
    assert (
        len({tuple(t.report.as_dict()["modes"][0]["evidence"][0].values()) for t in batched}) == 3
    )


def test_the_joint_fit_finds_liblinears_optimum() -> None:
    from sklearn.linear_model import LogisticRegression

    from service.tagging import _fit_linear

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 30)).astype(np.float32)
    y = (x[:, :3] @ rng.normal(size=(3, 3)) + rng.normal(size=(400, 3)) > 0.8).astype(int)
    y[:, 2] = 0  # a mode without positives gets a fixed "no"
    fitted = _fit_linear(x, y, c=2.0)
    for j in range(2):
        reference = LogisticRegression(C=2.0, class_weight="balanced", solver="liblinear", tol=1e-8)
        reference.fit(x, y[:, j])
        assert fitted.coef[j] == pytest.approx(reference.coef_[0], abs=1e-3)
        assert fitted.bias[j] == pytest.approx(reference.intercept_[0], abs=1e-3)
    assert fitted.proba(x)[:, 2].max() < 0.001


def test_the_cached_tagger_is_keyed_by_the_precision_it_was_trained_in() -> None:
    """A cache shared by a bfloat16 and a float32 host keeps one tagger for each."""
    from service.tagging import _fingerprint

    path = Config.load(environ={}).model_path
    passages = load_passages()[:20]
    keys = {
        bf16: _fingerprint(passages, MODES, Embedder(path, bf16=bf16)) for bf16 in (True, False)
    }
    assert keys[True] != keys[False]
    assert keys[True] == _fingerprint(passages, MODES, Embedder(path, bf16=True))


@pytest.mark.parametrize("text", ["", "   \n ", "x" * 200_001])
def test_bad_text_is_a_clear_error(corpus_app: Hindsight, text: str) -> None:
    with pytest.raises(QueryError, match=r"empty|too long"):
        corpus_app.tag(text)


def test_ingest_stores_tags_with_evidence_from_the_sections(app: Hindsight) -> None:
    report = app.ingest([str(DATA / "tagging" / "sample-postmortem.md")])
    doc = app.document(report.ids[0])
    assert doc is not None
    automatic = [m for m in doc["modes"] if m["origin"] == "automatic"]
    assert {"config-change", "resource-exhaustion"} <= {m["id"] for m in automatic}
    sections = doc["sections"]
    for mode in automatic:
        for ev in mode["evidence"]:
            section = sections[ev["section"]]
            assert section["text"][ev["start"] : ev["end"]] == ev["text"]
            assert section["kind"] != "action_items"  # what they will do is not what broke


def test_human_tags_survive_retag_and_reingest(app: Hindsight, tmp_path: Path) -> None:
    source = tmp_path / "incident.md"
    source.write_text(
        (DATA / "tagging" / "sample-postmortem.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    doc_id = app.ingest([str(source)]).ids[0]
    before = {m["id"] for m in app.document(doc_id)["modes"]}  # type: ignore[index]
    assert "config-change" in before
    dropped = sorted(before - {"config-change"})[0]
    app.set_modes(doc_id, ["config-change", "operator-error"])

    def state() -> tuple[dict[str, str], list[str]]:
        doc = app.document(doc_id)
        assert doc is not None
        return {m["id"]: m["origin"] for m in doc["modes"]}, doc["rejected_modes"]

    modes, rejected = state()
    assert modes == {"config-change": "human", "operator-error": "human"}
    assert dropped in rejected
    counts = app.retag()
    assert counts["changed"] + counts["unchanged"] == 1
    assert state() == (modes, rejected)
    # Re-ingesting an edited version re-derives automatic tags but keeps the person's word.
    source.write_text(source.read_text(encoding="utf-8") + "\nMore detail.\n", encoding="utf-8")
    assert app.ingest([str(source)]).updated == 1
    modes_after, rejected_after = state()
    assert modes_after["config-change"] == modes_after["operator-error"] == "human"
    assert dropped not in modes_after and dropped in rejected_after


def test_set_modes_refuses_unknown_ids(app: Hindsight) -> None:
    doc_id = app.ingest([str(DATA / "tagging" / "sample-postmortem.md")]).ids[0]
    with pytest.raises(KeyError):
        app.set_modes("no-such-doc", ["config-change"])
    with pytest.raises(ValueError, match="unknown mode"):
        app.set_modes(doc_id, ["not-a-mode"])


def test_cli_tag_and_retag(cli_env: dict[str, str]) -> None:
    text = (DATA / "tagging" / "openai-2024-12-11.txt").read_text(encoding="utf-8")
    done = run_cli(["tag", "-", "--json"], cli_env, stdin=text)
    assert done.returncode == 0, done.stderr
    modes = {m["id"] for m in json.loads(done.stdout)["modes"]}
    assert "control-plane-overload" in modes
    plain = run_cli(["tag", str(DATA / "tagging" / "not-dns.txt")], cli_env)
    assert plain.returncode == 0 and "dns-discovery" not in plain.stdout
    assert run_cli(["tag", "/no/such/file"], cli_env).returncode == 2
    assert run_cli(["tag", "-"], cli_env, stdin="").returncode == 2
    listed = run_cli(["modes", "--json"], cli_env)
    assert listed.returncode == 0 and len(json.loads(listed.stdout)) == 29
    assert run_cli(["init", "--bare"], cli_env).returncode == 0
    unknown = run_cli(["tag", "--set", "nope", "config-change"], cli_env)
    assert unknown.returncode == 2 and "nope" in unknown.stderr
    ingest = run_cli(["ingest", str(DATA / "tagging" / "sample-postmortem.md"), "--json"], cli_env)
    doc_id = json.loads(ingest.stdout)["ids"][0]
    assert run_cli(["tag", "--set", doc_id, "config-change"], cli_env).returncode == 0
    retag = run_cli(["retag", "--json"], cli_env)
    assert retag.returncode == 0 and json.loads(retag.stdout)["unchanged"] == 1
    shown = json.loads(run_cli(["show", doc_id, "--json"], cli_env).stdout)
    assert [m["id"] for m in shown["modes"]] == ["config-change"]
