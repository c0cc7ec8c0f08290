"""The `hindsight` command as a user runs it: init, ingest, show, exit codes, JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import DATA, run_cli


def test_bare_init_ingest_folder_and_list_then_show(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    assert run_cli(["init", "--bare"], cli_env).returncode == 0
    folder = tmp_path / "ours"
    shutil.copytree(DATA / "samples", folder)
    result = run_cli(["ingest", str(folder), "--json"], cli_env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["added"], report["updated"], report["unchanged"], report["failed"]) == (
        3,
        0,
        0,
        [],
    )

    listed = run_cli(["ingest", "--list", str(DATA / "linklist.md"), "--json"], cli_env)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["added"] == 4

    again = run_cli(["ingest", str(folder), "--json"], cli_env)
    assert json.loads(again.stdout)["unchanged"] == 3

    doc_id = next(i for i in report["ids"] if i.startswith("example-corp"))
    shown = run_cli(["show", doc_id], cli_env)
    assert shown.returncode == 0
    out = shown.stdout
    assert out.startswith("Message queue disk fills after retention change\n")
    assert "org: Example Corp" in out and "date: 2023-05-14" in out
    for heading in (
        "Executive summary  [summary]",
        "Contributing factors  [root_cause]",
        "Corrective actions  [action_items]",
    ):
        assert heading in out
    as_json = json.loads(run_cli(["show", doc_id, "--json"], cli_env).stdout)
    assert as_json["url"] == "https://status.example.com/incidents/queue-disk"


def test_failures_exit_1_and_usage_exits_2(cli_env: dict[str, str], tmp_path: Path) -> None:
    assert run_cli(["init", "--bare"], cli_env).returncode == 0
    good = tmp_path / "good.md"
    good.write_text("# Fine\n\nA replica fell behind.")
    bad = tmp_path / "bad.md"
    bad.write_bytes(b"\xff\xfe bad")
    result = run_cli(["ingest", str(good), str(bad), "--json"], cli_env)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["added"] == 1
    assert report["failed"] == [{"source": str(bad), "error": "invalid UTF-8 at byte 0"}]

    usage = run_cli(["ingest", str(good), "--kind", "poem"], cli_env)
    assert usage.returncode == 2 and "poem" in usage.stderr
    missing = run_cli(["show", "no-such-doc"], cli_env)
    assert missing.returncode == 2
    assert missing.stderr.strip() == "Error: no document with id 'no-such-doc'"
    assert run_cli(["frobnicate"], cli_env).returncode == 2


def test_stdin_and_bad_setting(cli_env: dict[str, str]) -> None:
    assert run_cli(["init", "--bare"], cli_env).returncode == 0
    result = run_cli(["ingest", "-", "--json"], cli_env, stdin="# Piped\n\nA DNS change broke it.")
    assert result.returncode == 0 and json.loads(result.stdout)["added"] == 1
    bad = run_cli(["init", "--bare"], cli_env | {"HINDSIGHT_MAX_DOCUMENT_BYTES": "lots"})
    assert bad.returncode == 2
    assert "HINDSIGHT_MAX_DOCUMENT_BYTES" in bad.stderr


def test_help_is_instant_and_lists_commands(cli_env: dict[str, str]) -> None:
    result = run_cli(["--help"], cli_env)
    assert result.returncode == 0
    for command in ("init", "ingest", "show", "db", "export", "import"):
        assert f"  {command} " in result.stdout
