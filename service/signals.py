"""Curated signal phrases of each failure mode, matched with negation and counter-signals.

A signal is a phrase from taxonomy.yaml that suggests a mode ("etcd", "thundering herd"). A
mention counts for the mode only when it is affirmed: "this was not caused by DNS" and "we first
suspected DNS, but resolution was healthy" mention DNS and argue against it. A counter-signal is
a phrase that looks like the mode and is not ("deployed the fix" is no code deploy).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from service.taxonomy import Mode

# Words that deny what follows them within the same clause.
_NEGATORS = re.compile(
    r"\b(?:not|no|never|none|nor|neither|without|wasn't|weren't|isn't|aren't|didn't|"
    r"doesn't|don't|hadn't|ruled\s+out|rather\s+than|instead\s+of|unrelated\s+to|"
    r"other\s+than|excluding|far\s+from)\b",
    re.IGNORECASE,
)
# A first guess that the sentence then corrects: "we suspected DNS, but ...".
_SUSPICION = re.compile(
    r"\b(?:suspected|suspicion|assumed|thought|initially\s+believed|first\s+believed|"
    r"looked\s+like|appeared\s+to\s+be|red\s+herring)\b[^.;]*?\b(?:but|however|yet)\b",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(
    r"[.;:!?,]|\b(?:but|however|although|though|yet|whereas|so|and|because|then|which)\b", re.I
)
_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")
_WORD = re.compile(r"\w+")
NEGATION_WINDOW = 48  # characters before a mention searched for a negator in its clause


@dataclass
class Mentions:
    """What one piece of text says about one mode, as character spans into that text."""

    affirmed: list[tuple[int, int]] = field(default_factory=list)
    negated: list[tuple[int, int]] = field(default_factory=list)
    counter: list[tuple[int, int]] = field(default_factory=list)


def _normal(phrase: str) -> str:
    return " ".join(phrase.lower().split())


def _alternation(phrases: Iterable[str]) -> str | None:
    cleaned = sorted({_normal(p) for p in phrases if p.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    return "|".join(r"\s+".join(re.escape(word) for word in p.split()) for p in cleaned)


def _pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """The phrases as one pattern, tried only where a word starts (``_find`` checks that
    the word is not the tail of a hyphenated one)."""
    alternation = _alternation(phrases)
    if alternation is None:
        return None
    return re.compile(r"(?:" + alternation + r")(?![\w-])", re.IGNORECASE)


def _find(pattern: re.Pattern[str], text: str, starts: list[int]) -> list[tuple[int, int]]:
    """Non-overlapping matches of ``pattern`` beginning at one of ``starts`` (word starts,
    in order), left to right, as ``finditer`` would find them with a word-boundary guard."""
    spans: list[tuple[int, int]] = []
    after = 0
    for start in starts:
        if start < after or (start and text[start - 1] == "-"):
            continue
        match = pattern.match(text, start)
        if match:
            spans.append(match.span())
            after = match.end()
    return spans


class SignalMatcher:
    """Finds each mode's signals and counter-signals in text, telling affirmed from denied."""

    def __init__(self, modes: Iterable[Mode]) -> None:
        self._signals: dict[str, re.Pattern[str]] = {}
        self._counters: dict[str, re.Pattern[str]] = {}
        # Only modes whose phrases could occur are scanned in full: a phrase can match only
        # where its first word does, so the text's set of words rules most modes out cheaply.
        self._modes_of: dict[str, set[str]] = {}
        for mode in modes:
            if mode.retired:
                continue
            for phrase in (*mode.signals, *mode.counter_signals):
                first = _WORD.search(phrase.lower())
                if first:
                    self._modes_of.setdefault(first.group(0), set()).add(mode.id)
            signal = _pattern(mode.signals)
            if signal is not None:
                self._signals[mode.id] = signal
            counter = _pattern(mode.counter_signals)
            if counter is not None:
                self._counters[mode.id] = counter

    @property
    def mode_ids(self) -> list[str]:
        return list(self._signals)

    def scan(self, text: str) -> dict[str, Mentions]:
        """Mentions per mode id (modes with none are left out)."""
        # A phrase begins where a word does, with one of its phrases' first words: so each
        # mode's pattern is tried only at the starts of the words that could begin it.
        starts: dict[str, list[int]] = {}
        for word in _WORD.finditer(text):
            for mode_id in self._modes_of.get(word.group(0).lower(), ()):
                starts.setdefault(mode_id, []).append(word.start())
        found: dict[str, Mentions] = {}
        for mode_id, pattern in self._counters.items():
            if mode_id in starts:
                for span in _find(pattern, text, starts[mode_id]):
                    found.setdefault(mode_id, Mentions()).counter.append(span)
        for mode_id, pattern in self._signals.items():
            if mode_id not in starts:
                continue
            counters = found.get(mode_id, Mentions()).counter
            for span in _find(pattern, text, starts[mode_id]):
                if any(s <= span[0] < e or s < span[1] <= e for s, e in counters):
                    continue  # inside a counter-signal: "deployed the fix" is not a deploy
                mentions = found.setdefault(mode_id, Mentions())
                if is_negated(text, span[0]):
                    mentions.negated.append(span)
                else:
                    mentions.affirmed.append(span)
        for mentions in found.values():
            _deny_whole_sentences(text, mentions)
        return found


def _deny_whole_sentences(text: str, mentions: Mentions) -> None:
    """A sentence that denies a mode denies it throughout: in "this was not caused by DNS:
    name resolution worked", the second mention is part of the denial."""
    if not mentions.negated or not mentions.affirmed:
        return
    bounds = [0] + [m.end() for m in _SENTENCE_END.finditer(text)] + [len(text) + 1]

    def sentence_of(pos: int) -> int:
        return next(i for i in range(len(bounds) - 1) if bounds[i] <= pos < bounds[i + 1])

    denied = {sentence_of(start) for start, _ in mentions.negated}
    still = [span for span in mentions.affirmed if sentence_of(span[0]) not in denied]
    mentions.negated += [span for span in mentions.affirmed if span not in still]
    mentions.affirmed[:] = still


def is_negated(text: str, start: int) -> bool:
    """True when the words just before ``start``, in the same clause, deny the mention."""
    before = text[max(0, start - NEGATION_WINDOW) : start]
    breaks = list(_CLAUSE_BREAK.finditer(before))
    clause = before[breaks[-1].end() :] if breaks else before
    if _NEGATORS.search(clause):
        return True
    # "We first suspected DNS, but ..." — the mention is the guess the sentence then drops.
    sentence_start = max(text.rfind(". ", 0, start), text.rfind("\n", 0, start)) + 1
    rest = text[sentence_start : start + 200]
    suspicion = _SUSPICION.search(rest)
    return bool(suspicion and suspicion.start() <= start - sentence_start < suspicion.end())
