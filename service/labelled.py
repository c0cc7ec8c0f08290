"""The hand-labelled passages the tagger learns from, and their one reproducible split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from service.yamlfile import read_yaml

LABELLED = Path(__file__).resolve().parent.parent / "corpus" / "labelled" / "passages.yaml"
TEST_SHARE = 30  # percent of passages held out for evaluation


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    modes: tuple[str, ...]

    @property
    def held_out(self) -> bool:
        """In the test split. Decided by a hash of the id alone, so adding passages never
        moves an existing one between train and test."""
        digest = hashlib.sha256(self.id.encode()).digest()
        return int.from_bytes(digest[:4], "big") % 100 < TEST_SHARE


def load_passages(path: Path = LABELLED, known_modes: set[str] | None = None) -> list[Passage]:
    data = read_yaml(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of passages")
    passages = []
    for n, entry in enumerate(data, 1):
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("text"):
            raise ValueError(f"{path}: passage #{n} needs an id and a text")
        modes = tuple(entry.get("modes") or ())
        unknown = [m for m in modes if known_modes is not None and m not in known_modes]
        if unknown:
            raise ValueError(f"{path}: passage {entry['id']}: unknown mode(s) {unknown}")
        passages.append(Passage(str(entry["id"]), str(entry["text"]), modes))
    return passages


def split(passages: list[Passage]) -> tuple[list[Passage], list[Passage]]:
    """(train, test)."""
    return [p for p in passages if not p.held_out], [p for p in passages if p.held_out]
