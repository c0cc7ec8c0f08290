"""The README documents every setting and every command."""

from __future__ import annotations

from pathlib import Path

import click

from service.cli import cli
from service.config import SETTINGS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme() -> None:
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in README]
    assert missing == []


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names += _commands(command, f"{prefix}{name} ")
        else:
            names.append(f"{prefix}{name}")
    return names


def test_every_command_is_documented_and_has_help() -> None:
    for name in _commands(cli):
        assert f"hindsight {name}" in README, name
    for command in cli.commands.values():
        assert command.help, command.name
