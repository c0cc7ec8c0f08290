"""The failure-mode taxonomy: loading and validating taxonomy.yaml, storing it as modes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import Engine
from sqlmodel import select

from service import models
from service.db import bump_revision, session_scope
from service.yamlfile import read_yaml

AXES = ("trigger", "mechanism", "amplifier", "recovery")


class TaxonomyError(ValueError):
    """taxonomy.yaml is malformed; the message says where."""


@dataclass(frozen=True)
class Mode:
    id: str
    axis: str
    name: str
    definition: str
    signals: tuple[str, ...] = ()
    counter_signals: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    retired: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def load_taxonomy(path: Path) -> list[Mode]:
    """Read and validate a taxonomy file; every problem raises TaxonomyError."""
    try:
        data = read_yaml(path)
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("modes"), list):
        raise TaxonomyError(f"{path}: expected a mapping with a 'modes' list")
    modes: list[Mode] = []
    seen: set[str] = set()
    for n, entry in enumerate(data["modes"], 1):
        where = f"{path}: mode #{n}"
        if not isinstance(entry, dict):
            raise TaxonomyError(f"{where}: expected a mapping")
        for key in ("id", "axis", "name", "definition"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise TaxonomyError(f"{where}: '{key}' is required")
        if entry["axis"] not in AXES:
            raise TaxonomyError(f"{where} ({entry['id']}): axis must be one of {', '.join(AXES)}")
        if entry["id"] in seen:
            raise TaxonomyError(f"{where}: duplicate id {entry['id']}")
        seen.add(entry["id"])
        lists = {}
        for key in ("signals", "counter_signals", "examples"):
            value = entry.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TaxonomyError(f"{where} ({entry['id']}): '{key}' must be a list of strings")
            lists[key] = tuple(v.strip() for v in value if v.strip())
        known = {
            "id",
            "axis",
            "name",
            "definition",
            "signals",
            "counter_signals",
            "examples",
            "retired",
        }
        modes.append(
            Mode(
                id=entry["id"],
                axis=entry["axis"],
                name=entry["name"].strip(),
                definition=" ".join(entry["definition"].split()),
                retired=bool(entry.get("retired", False)),
                extra={k: v for k, v in entry.items() if k not in known},
                **lists,
            )
        )
    return modes


def store_taxonomy(engine: Engine, modes: list[Mode]) -> int:
    """Upsert the modes in one transaction; modes missing from the file are kept, retired.

    Returns how many rows changed.
    """
    changed = 0
    with session_scope(engine) as session:
        stored = {m.id: m for m in session.execute(select(models.Mode)).scalars()}
        for mode in modes:
            data = {
                "signals": list(mode.signals),
                "counter_signals": list(mode.counter_signals),
                "examples": list(mode.examples),
                **mode.extra,
            }
            row = stored.pop(mode.id, None)
            values = (mode.axis, mode.name, mode.definition, data, mode.retired)
            if row is None:
                session.add(
                    models.Mode(
                        id=mode.id,
                        axis=mode.axis,
                        name=mode.name,
                        definition=mode.definition,
                        data=data,
                        retired=mode.retired,
                    )
                )
                changed += 1
            elif (row.axis, row.name, row.definition, row.data, row.retired) != values:
                row.axis, row.name, row.definition, row.data, row.retired = values
                changed += 1
        for row in stored.values():  # ids are a public contract: never deleted, only retired
            if not row.retired:
                row.retired = True
                changed += 1
        if changed:
            bump_revision(session)
    return changed


def stored_modes(engine: Engine) -> list[Mode]:
    from sqlmodel import Session, select

    with Session(engine) as session:
        rows = session.execute(select(models.Mode)).scalars().all()
    order = {axis: i for i, axis in enumerate(AXES)}
    return sorted(
        (
            Mode(
                id=r.id,
                axis=r.axis,
                name=r.name,
                definition=r.definition,
                signals=tuple(r.data.get("signals", [])),
                counter_signals=tuple(r.data.get("counter_signals", [])),
                examples=tuple(r.data.get("examples", [])),
                retired=r.retired,
            )
            for r in rows
        ),
        key=lambda m: (order.get(m.axis, 9), m.id),
    )
