"""Trained models kept on disk between runs, keyed by a fingerprint of what they learned from."""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def cached(
    cache_dir: Path | None, name: str, fingerprint: str, kind: type[T], build: Callable[[], T]
) -> T:
    """The model in ``cache_dir/name-fingerprint.pkl`` when it is there and of ``kind`` with
    this ``fingerprint``; otherwise ``build()``'s, written there atomically (a process reading
    meanwhile sees the old file or the new one, never half of one). No ``cache_dir``: build."""
    path = cache_dir / f"{name}-{fingerprint}.pkl" if cache_dir else None
    if path is not None and path.exists():
        with path.open("rb") as handle:
            model = pickle.load(handle)  # our own file, written below
        if isinstance(model, kind) and getattr(model, "fingerprint", None) == fingerprint:
            return model
    model = build()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            pickle.dump(model, handle)
        tmp.replace(path)
    return model
