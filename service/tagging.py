"""Tagging text with failure modes, each tag with a confidence and the sentences behind it.

Three kinds of evidence are combined for every window of text (a few sentences, or a stored
chunk) and every mode:

- a classifier trained on the hand-labelled passages: logistic regression on the window's
  layer profile (the mean token state of every layer of the embedding model, from the same
  forward pass as its search vector), and another on its words and character grams (TF-IDF),
  so both paraphrases and exact terms count;
- similarity of the window to the mode's definition;
- the mode's curated signal phrases, counted only when affirmed ("not caused by DNS" denies
  DNS), and its counter-signals.

A small logistic model learned on out-of-fold predictions weighs these into one probability,
and each mode gets its own threshold, calibrated out of fold on the training split only. A
document's confidence for a mode is its best window's; the evidence is the sentences of the
best windows that support the mode most.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest.chunking import ChunkDraft
from ingest.document import Document as Parsed
from ingest.packing import TokenCounts, costed, pack
from ingest.sentences import Sentence, split_sentences
from service.embedding import Embedder
from service.labelled import LABELLED, Passage, load_passages, split
from service.library import TagResult
from service.model_cache import cached
from service.signals import Mentions, SignalMatcher
from service.taxonomy import Mode

MAX_TAG_CHARS = 200_000
WINDOW_WORDS = 45  # free text is read in windows of whole sentences about as long as the
# labelled passages the model learns from (32 words on average, 42 at the 90th percentile)
LONG_TEXT_WORDS = 600  # longer texts are read in windows as long as the model reads (256
LONG_WINDOW_TOKENS = 254  # tokens, two of them special): fewer, longer windows are faster,
# and none loses its tail (windows of 180 words ran to 300 tokens and more)
EVIDENCE_PER_MODE = 2
MAX_PER_WINDOW = 4
LEAST_RATIO = 0.5
SKIPPED_SECTIONS = ("action_items",)  # what a team will do next is not what went wrong
NEGATED_FACTOR = 0.25  # a mode only ever mentioned to be denied keeps a quarter of its score
EMBEDDING_C = 2.0  # regularisation of the classifiers, chosen by out-of-fold F1 on the training
LEXICAL_C = 8.0  # split (never on the held-out one)
FEATURES = ("embedding", "lexical", "definition", "affirmed", "negated", "counter")


class TagError(ValueError):
    """The text cannot be tagged (empty, too long); the message says why."""


@dataclass(frozen=True)
class Evidence:
    text: str
    start: int  # character offsets into the tagged text (or the document section)
    end: int
    section: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"text": self.text, "start": self.start, "end": self.end}
        if self.section is not None:
            out["section"] = self.section
        return out


@dataclass
class ModeTag:
    id: str
    name: str
    axis: str
    confidence: float
    evidence: list[Evidence] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "axis": self.axis,
            "confidence": round(self.confidence, 3),
            "evidence": [e.as_dict() for e in self.evidence],
        }


@dataclass
class TagReport:
    modes: list[ModeTag]

    def as_dict(self) -> dict[str, Any]:
        return {"modes": [m.as_dict() for m in self.modes]}


@dataclass
class Analysis:
    report: TagReport
    scores: dict[str, float]  # every mode's best window score
    thresholds: dict[str, float]
    vector: np.ndarray  # the text's normalised mean embedding


@dataclass
class Window:
    """A piece of the text that is scored as a whole: its sentences with their offsets."""

    sentences: list[Sentence]
    section: int | None = None
    mentions: list[dict[str, Mentions]] | None = None  # per sentence, once scanned

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


# -- the trained model ---------------------------------------------------------------------


def sigmoid(z: Any) -> np.ndarray:
    """The logistic function, clipped so a large logit cannot overflow."""
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))


@dataclass
class _Linear:
    """One-vs-rest logistic regressions as a matrix: p = sigmoid(X @ coef.T + bias)."""

    coef: np.ndarray
    bias: np.ndarray

    def proba(self, x: Any) -> np.ndarray:
        z = np.asarray(x @ self.coef.T) + self.bias
        return sigmoid(z)


@dataclass
class TaggerModel:
    mode_ids: list[str]
    embedding: _Linear
    vectorizer: Any  # the fitted word and character TF-IDF of the training split
    lexical: _Linear
    definitions: np.ndarray  # one normalised vector per mode
    combiner: np.ndarray  # weights of FEATURES, then the bias
    thresholds: np.ndarray
    fingerprint: str
    oof_f1: float  # micro-F1 of out-of-fold predictions on the training split


def _fit_linear(x: Any, y: np.ndarray, c: float) -> _Linear:
    """One logistic regression per mode, class-balanced, the intercept penalised like a
    weight (as liblinear does); deterministic, so the same data always gives the same model.
    A mode with no positives (or no negatives) to learn from gets a fixed answer.

    Sparse word features are fitted mode by mode with liblinear on all cores (it releases the
    interpreter lock). Dense layer profiles are fitted for all modes at once, as one L-BFGS
    problem whose every step is two matrix products: the same optimum as liblinear's (held-out
    probabilities within 0.001) in half its time on these 2,688 features, and with liblinear
    these fits were most of the tagger's training."""
    from scipy.sparse import issparse

    positives = y.sum(axis=0)
    one_class = (positives == 0) | (positives == len(y))
    if issparse(x):
        fitted = _fit_sparse(x, y, c, skip=one_class)
    else:
        fitted = _fit_dense(np.asarray(x, dtype=np.float32), y, c)
    fitted.coef[one_class] = 0.0
    fitted.bias[one_class] = np.where(positives[one_class] == 0, -8.0, 8.0)
    return fitted


def _fit_sparse(x: Any, y: np.ndarray, c: float, skip: np.ndarray) -> _Linear:
    """liblinear, mode by mode on a thread each (modes in ``skip`` are left at zero)."""
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.linear_model import LogisticRegression

    def fit(j: int) -> tuple[np.ndarray, float]:
        if skip[j]:
            return np.zeros(x.shape[1]), 0.0
        model = LogisticRegression(C=c, class_weight="balanced", solver="liblinear", random_state=0)
        model.fit(x, y[:, j])
        return model.coef_[0], float(model.intercept_[0])

    with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 8)) as pool:
        fitted = list(pool.map(fit, range(y.shape[1])))
    return _Linear(np.vstack([f[0] for f in fitted]), np.asarray([f[1] for f in fitted]))


def _fit_dense(x: np.ndarray, y: np.ndarray, c: float) -> _Linear:
    """All modes' regressions as one problem: minimise, over weights W and biases b,
    ||W||² / 2 + ||b||² / 2 + c · Σ balance · log(1 + exp(-sign · (x W + b)))."""
    from scipy.optimize import minimize

    n, d = x.shape
    modes = y.shape[1]
    positives = y.sum(axis=0)
    sign = np.where(y == 1, 1.0, -1.0)
    balance = np.where(
        y == 1, n / (2.0 * np.maximum(positives, 1)), n / (2.0 * np.maximum(n - positives, 1))
    )

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        w = flat.reshape(d + 1, modes)
        margin = sign * (np.asarray(x @ w[:-1].astype(np.float32), dtype=np.float64) + w[-1])
        slope = c * balance * -sign * sigmoid(-margin)
        grad = np.vstack([x.T @ slope.astype(np.float32), slope.sum(axis=0)]) + w
        loss = 0.5 * float((w * w).sum()) + c * float((balance * np.logaddexp(0, -margin)).sum())
        return loss, grad.ravel()

    solved = minimize(
        objective,
        np.zeros((d + 1) * modes),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 5000, "maxcor": 10},
    )
    w = solved.x.reshape(d + 1, modes)
    return _Linear(w[:-1].T.copy(), w[-1].copy())


def _vectorizer() -> Any:
    """Words and word pairs beside character 3- to 5-grams within words: the grams catch
    inflections and compounds ("redeployed", "OOM-killed", "failover") that whole words miss."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_union

    return make_union(
        TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, stop_words="english"),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True),
    )


def _scan(matcher: SignalMatcher, windows: Sequence[Window]) -> None:
    """Find each window's signal mentions, sentence by sentence (once per window)."""
    for w in windows:
        if w.mentions is None:
            w.mentions = [matcher.scan(s.text) for s in w.sentences]


def _signal_counts(windows: Sequence[Window], mode_ids: list[str]) -> np.ndarray:
    """(n, modes, 3): affirmed, negated and counter-signal mentions in each window's
    sentences, capped at 3."""
    out = np.zeros((len(windows), len(mode_ids), 3))
    index = {m: j for j, m in enumerate(mode_ids)}
    for i, w in enumerate(windows):
        for scan in w.mentions or []:
            for mode_id, mentions in scan.items():
                j = index.get(mode_id)
                if j is not None:
                    out[i, j] += [
                        len(mentions.affirmed),
                        len(mentions.negated),
                        len(mentions.counter),
                    ]
    return np.minimum(out, 3)


def _features(
    emb_p: np.ndarray, lex_p: np.ndarray, def_sim: np.ndarray, signals: np.ndarray
) -> np.ndarray:
    """(n, modes, len(FEATURES)) from the evidence of each kind."""

    def logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-4, 1 - 1e-4)
        return np.asarray(np.log(p / (1 - p)))

    relative = def_sim - def_sim.mean(axis=1, keepdims=True)
    return np.stack(
        [
            logit(emb_p),
            logit(lex_p),
            relative * 10,
            signals[..., 0],
            signals[..., 1],
            signals[..., 2],
        ],
        axis=-1,
    )


def _combine(features: np.ndarray, combiner: np.ndarray) -> np.ndarray:
    z = features @ combiner[:-1] + combiner[-1]
    return sigmoid(z)


def _best_thresholds(prob: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per mode, the F1-best threshold on out-of-fold scores, shrunk toward the global one
    by how few positives the mode has (a mode seen 5 times should not get an extreme cut)."""
    grid = np.arange(0.1, 0.91, 0.025)

    def f1_at(p: np.ndarray, t: np.ndarray, cut: float) -> float:
        pred = p >= cut
        tp = float((pred & (t == 1)).sum())
        denom = float(pred.sum() + (t == 1).sum())
        return 2 * tp / denom if denom else 0.0

    global_cut = max(grid, key=lambda c: f1_at(prob.ravel(), y.ravel(), c))
    cuts = []
    for j in range(y.shape[1]):
        positives = int(y[:, j].sum())
        best = max(grid, key=lambda c: (f1_at(prob[:, j], y[:, j], c), -abs(c - global_cut)))
        weight = positives / (positives + 10)
        cuts.append(weight * best + (1 - weight) * global_cut)
    return np.asarray(cuts)


def train(
    passages: Sequence[Passage], modes: Sequence[Mode], embedder: Embedder, folds: int = 5
) -> TaggerModel:
    """Fit the tagger on labelled passages (the training split)."""
    mode_ids = [m.id for m in modes if not m.retired]
    col = {m: j for j, m in enumerate(mode_ids)}
    texts = [p.text for p in passages]
    y = np.zeros((len(passages), len(mode_ids)), dtype=int)
    for i, p in enumerate(passages):
        for m in p.modes:
            if m in col:
                y[i, col[m]] = 1
    x, profile = embedder.encode_layers(texts)
    definitions = embedder.encode([_definition_text(m) for m in modes if not m.retired])
    matcher = SignalMatcher(modes)
    windows = [Window(split_sentences(t)) for t in texts]
    _scan(matcher, windows)
    signals = _signal_counts(windows, mode_ids)

    # Out-of-fold predictions of both classifiers: what the combiner and thresholds learn on.
    order = np.argsort([hashlib.sha256(p.id.encode()).hexdigest() for p in passages])
    fold_of = np.empty(len(passages), dtype=int)
    fold_of[order] = np.arange(len(passages)) % folds
    emb_oof = np.zeros(y.shape)
    lex_oof = np.zeros(y.shape)
    for k in range(folds):
        fit, held = fold_of != k, fold_of == k
        emb_oof[held] = _fit_linear(profile[fit], y[fit], c=EMBEDDING_C).proba(profile[held])
        vec = _vectorizer().fit([t for t, f in zip(texts, fit, strict=True) if f])
        lex = _fit_linear(
            vec.transform([t for t, f in zip(texts, fit, strict=True) if f]), y[fit], c=LEXICAL_C
        )
        lex_oof[held] = lex.proba(vec.transform([t for t, h in zip(texts, held, strict=True) if h]))
    feats = _features(emb_oof, lex_oof, x @ definitions.T, signals)

    from sklearn.linear_model import LogisticRegression

    stacker = LogisticRegression(C=1.0, max_iter=2000)
    stacker.fit(feats.reshape(-1, len(FEATURES)), y.ravel())
    combiner = np.append(stacker.coef_[0], stacker.intercept_[0])
    oof_prob = _veto(_combine(feats, combiner), signals)
    thresholds = _best_thresholds(oof_prob, y)
    chosen = select(oof_prob, thresholds)
    oof_f1 = 2 * float((chosen & (y == 1)).sum()) / max(float(chosen.sum() + y.sum()), 1.0)

    vec = _vectorizer().fit(texts)
    return TaggerModel(
        mode_ids=mode_ids,
        embedding=_fit_linear(profile, y, c=EMBEDDING_C),
        vectorizer=vec,
        lexical=_fit_linear(vec.transform(texts), y, c=LEXICAL_C),
        definitions=definitions,
        combiner=combiner,
        thresholds=thresholds,
        fingerprint=_fingerprint(passages, modes, embedder),
        oof_f1=oof_f1,
    )


def _veto(prob: np.ndarray, signals: np.ndarray) -> np.ndarray:
    """A mode whose signals appear only denied, never affirmed, keeps a fraction of its score."""
    denied = (signals[..., 1] > 0) & (signals[..., 0] == 0)
    return np.where(denied, prob * NEGATED_FACTOR, prob)


def _definition_text(mode: Mode) -> str:
    return f"{mode.name}: {mode.definition}"


def _fingerprint(passages: Sequence[Passage], modes: Sequence[Mode], embedder: Embedder) -> str:
    """Changes whenever the training data, the taxonomy, the model, the precision it runs in
    (its features differ a little between bfloat16 and float32) or this code changes."""
    digest = hashlib.sha256(f"{embedder.name} {embedder.precision}".encode())
    for module in ("tagging.py", "signals.py", "labelled.py"):
        digest.update((Path(__file__).parent / module).read_bytes())
    for p in passages:
        digest.update(f"{p.id}|{p.text}|{','.join(p.modes)}\n".encode())
    for m in modes:
        digest.update(repr((m.id, m.definition, m.signals, m.counter_signals, m.retired)).encode())
    return digest.hexdigest()[:16]


# -- tagging ---------------------------------------------------------------------------------


class Tagger:
    """Tags free text and parsed documents. Trains on first use (about a minute on two cores
    with bfloat16, three and a half without) and keeps the trained model in ``cache_dir``
    keyed by a fingerprint of its training data, model and precision."""

    def __init__(
        self,
        embedder: Embedder,
        modes: Sequence[Mode],
        *,
        cache_dir: Path | None = None,
        passages: Sequence[Passage] | None = None,
    ) -> None:
        self.embedder = embedder
        self.modes = [m for m in modes if not m.retired]
        self.by_id = {m.id: m for m in self.modes}
        self.matcher = SignalMatcher(self.modes)
        self.cache_dir = cache_dir
        self._passages = passages
        self._model: TaggerModel | None = None

    @property
    def model(self) -> TaggerModel:
        if self._model is None:
            self._model = self._load_or_train()
        return self._model

    def _lexical(self, texts: Sequence[str]) -> np.ndarray:
        """(texts, modes) probabilities of the word classifier."""
        model = self.model
        return model.lexical.proba(model.vectorizer.transform(texts))

    def _word_weights(self, texts: Sequence[str]) -> np.ndarray:
        """(texts, modes): how much each text's whole words weigh for each mode in the word
        classifier, as a 0-1 score (its character grams left out: they cost most to compute, and ranking a
        window's sentences for evidence needs only a rough order)."""
        model = self.model
        words = model.vectorizer.transformer_list[0][1]
        x = words.transform(texts)
        z = np.asarray(x @ model.lexical.coef[:, : x.shape[1]].T)
        return sigmoid(z)

    def _load_or_train(self) -> TaggerModel:
        if self._passages is None:
            train_split, _ = split(load_passages(LABELLED, set(self.by_id)))
            self._passages = train_split
        fingerprint = _fingerprint(self._passages, self.modes, self.embedder)
        passages = self._passages
        return cached(
            self.cache_dir,
            "tagger",
            fingerprint,
            TaggerModel,
            lambda: train(passages, self.modes, self.embedder),
        )

    # The doors call these two.

    def tag_text(self, text: str) -> TagReport:
        """Failure modes of any text (a pasted postmortem, a plan, a query)."""
        return self.analyse(text).report

    def analyse(self, text: str) -> Analysis:
        """The tags of a text, plus every mode's best score and threshold and the text's
        mean embedding (what review builds on)."""
        return self.analyse_many([text])[0]

    def analyse_many(self, texts: Sequence[str]) -> list[Analysis]:
        """``analyse`` of each text, read in one batch: every text's windows go through the
        model together (review's training reads 1,560 plans this way, several times faster
        than one by one)."""
        for text in texts:
            if not text or not text.strip():
                raise TagError("nothing to tag: the text is empty")
            if len(text) > MAX_TAG_CHARS:
                raise TagError(
                    f"text too long: {len(text):,} characters (at most {MAX_TAG_CHARS:,})"
                )
        per_text = [text_windows(t, self.embedder.token_counts) for t in texts]
        windows = [w for ws in per_text for w in ws]
        vectors, profile = self.embedder.encode_layers([w.text for w in windows])
        prob = self.score_windows(windows, profile)
        ids = self.model.mode_ids
        thresholds = {m: float(self.model.thresholds[j]) for j, m in enumerate(ids)}
        out, at = [], 0
        for ws in per_text:
            rows = slice(at, at + len(ws))
            at += len(ws)
            best = prob[rows].max(axis=0)
            mean = vectors[rows].mean(axis=0)
            out.append(
                Analysis(
                    self._tag(ws, prob[rows]),
                    {m: float(best[j]) for j, m in enumerate(ids)},
                    thresholds,
                    mean / max(float(np.linalg.norm(mean)), 1e-9),
                )
            )
        return out

    def tag_document(
        self, doc: Parsed, chunks: list[ChunkDraft], profile: np.ndarray | None = None
    ) -> list[ModeTag]:
        """Tags of a parsed document. ``profile`` holds the chunks' layer profiles when the
        caller has them (ingest embeds the chunks once for both the store and the tagger)."""
        keep = [
            i
            for i, c in enumerate(chunks)
            if doc.sections[c.section_index].kind not in SKIPPED_SECTIONS
        ]
        if not keep:
            return []
        windows = []
        for i in keep:
            section_text = doc.sections[chunks[i].section_index].text
            windows.append(Window(_locate(chunks[i].text, section_text), chunks[i].section_index))
        if profile is None:
            _, rows = self.embedder.encode_layers([chunks[i].embed_text(doc.title) for i in keep])
        else:
            rows = profile[keep]
        return self._tag(windows, self.score_windows(windows, rows)).modes

    def tag_for_store(
        self, doc: Parsed, chunks: list[ChunkDraft], profile: np.ndarray | None
    ) -> list[TagResult]:
        """The library's hook: tags of a document being stored, as tag rows."""
        return [
            TagResult(t.id, t.confidence, [e.as_dict() for e in t.evidence])
            for t in self.tag_document(doc, chunks, profile)
        ]

    def score_windows(self, windows: list[Window], profile: np.ndarray) -> np.ndarray:
        """(windows, modes) combined probabilities, negation applied. ``profile`` holds the
        windows' layer profiles (Embedder.encode_layers); its last block is their vectors."""
        model = self.model
        texts = [w.text for w in windows]
        vectors = profile[:, -model.definitions.shape[1] :]
        emb_p = model.embedding.proba(profile)
        lex_p = self._lexical(texts)
        _scan(self.matcher, windows)
        signals = _signal_counts(windows, model.mode_ids)
        feats = _features(emb_p, lex_p, vectors @ model.definitions.T, signals)
        return _veto(_combine(feats, model.combiner), signals)

    def _tag(self, windows: list[Window], prob: np.ndarray) -> TagReport:
        model = self.model
        chosen = select(prob, model.thresholds)
        best = prob.max(axis=0)
        picks = {
            j: [int(w) for w in np.argsort(-prob[:, j])[:EVIDENCE_PER_MODE] if chosen[w, j]]
            for j in np.argsort(-best)
            if chosen[:, j].any()
        }
        weights = self._sentence_weights(windows, sorted({w for ws in picks.values() for w in ws}))
        tags = []
        for j, top in picks.items():
            mode = self.by_id[model.mode_ids[j]]
            evidence = [self._evidence(windows[w], j, weights[w]) for w in top]
            tags.append(
                ModeTag(
                    mode.id,
                    mode.name,
                    mode.axis,
                    float(best[j]),
                    [e for e in dict.fromkeys(evidence) if e is not None],
                )
            )
        return TagReport(tags)

    def _sentence_weights(self, windows: list[Window], keys: list[int]) -> dict[int, np.ndarray]:
        """For each window in ``keys``, its sentences' word weights per mode, computed in one
        batch for all the windows that give evidence; their signal mentions are scanned too."""
        texts = [s.text for w in keys for s in windows[w].sentences]
        if not texts:
            return {}
        weights = self._word_weights(texts)
        _scan(self.matcher, [windows[w] for w in keys])
        out, at = {}, 0
        for w in keys:
            n = len(windows[w].sentences)
            out[w] = weights[at : at + n]
            at += n
        return out

    def _evidence(self, window: Window, j: int, weights: np.ndarray) -> Evidence | None:
        """The window's sentence that best supports mode ``j``: affirmed signals first, then
        the words the lexical classifier weighs for it; never a sentence that denies it."""
        mode_id = self.model.mode_ids[j]
        scored = []
        for k, mentions_by_mode in enumerate(window.mentions or []):
            mentions = mentions_by_mode.get(mode_id, Mentions())
            if mentions.negated and not mentions.affirmed:
                continue
            scored.append((min(len(mentions.affirmed), 2) + float(weights[k, j]), k))
        if not scored:
            return None
        _, k = max(scored)
        s = window.sentences[k]
        return Evidence(s.text, s.start, s.end, window.section)


def select(prob: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """(windows, modes) booleans: each window's modes over their thresholds, at most
    MAX_PER_WINDOW of them (a few sentences rarely show more); when no window has any, the
    text's single best mode if it comes within LEAST_RATIO of its threshold (a text about an
    incident nearly always shows at least one mode)."""
    ratio = prob / thresholds
    chosen = ratio >= 1.0
    order = np.argsort(-ratio, axis=1)
    keep = np.zeros_like(chosen)
    np.put_along_axis(keep, order[:, :MAX_PER_WINDOW], True, axis=1)
    chosen &= keep
    if len(prob) and not chosen.any():
        w, j = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        if ratio[w, j] >= LEAST_RATIO:
            chosen[w, j] = True
    return chosen


def text_windows(text: str, token_counts: TokenCounts) -> list[Window]:
    """The windows free text is read in: short ones, or for a long text ones as long as the
    model reads (``token_counts`` counts the model's tokens of each text in a list)."""
    if len(text.split()) > LONG_TEXT_WORDS:
        return token_windows(text, LONG_WINDOW_TOKENS, token_counts)
    return windows_of(text, WINDOW_WORDS)


def token_windows(text: str, budget: int, token_counts: TokenCounts) -> list[Window]:
    """Whole sentences packed into windows of at most ``budget`` model tokens (special tokens
    aside); a sentence longer than that alone is cut into runs of words."""
    return [Window(p) for p in pack(costed(split_sentences(text), budget, token_counts), budget)]


def windows_of(text: str, words: int = WINDOW_WORDS) -> list[Window]:
    """Whole sentences packed into windows of about ``words`` words."""
    return [
        Window(p) for p in pack([(s, len(s.text.split())) for s in split_sentences(text)], words)
    ]


def _locate(chunk_text: str, section_text: str) -> list[Sentence]:
    """The chunk's sentences with offsets into its section's text (chunks join sentences)."""
    out = []
    cursor = 0
    for sentence in split_sentences(chunk_text):
        at = section_text.find(sentence.text, cursor)
        if at < 0:
            at = section_text.find(sentence.text)
        if at < 0:  # reflowed beyond recognition: keep the text, point at the section start
            out.append(Sentence(sentence.text, 0, 0))
            continue
        out.append(Sentence(sentence.text, at, at + len(sentence.text)))
        cursor = at + len(sentence.text)
    return out
