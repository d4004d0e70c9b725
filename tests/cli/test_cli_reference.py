"""docs/cli.md is what the parser says now: an option added, renamed or re-documented without
regenerating the page fails here."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cli_reference.py"


def load_script():
    spec = importlib.util.spec_from_file_location("cli_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_cli_md_is_what_the_parser_generates():
    script = load_script()
    generated = script.reference()
    current = (ROOT / "docs" / "cli.md").read_text() if (ROOT / "docs" / "cli.md").exists() else ""
    made_with = current.partition(script.GENERATED_WITH)[2].partition(" -->")[0]
    if made_with and made_with != script.python_version():
        pytest.skip(f"docs/cli.md was generated with Python {made_with}, whose argparse lays help out differently from {script.python_version()}'s")
    assert current == generated, "docs/cli.md is out of date with the CLI's options: run `python scripts/cli_reference.py`"


def test_the_page_holds_every_command_and_subcommand_help():
    """Each command of lineage.cli.COMMANDS has its section, subcommands theirs, in COMMANDS order."""
    from lineage.cli import COMMANDS

    text = load_script().reference()
    positions = [text.index(f"## `lineage {command}`\n") for command in COMMANDS]
    assert positions == sorted(positions)
    assert "### `lineage ledger verify`\n\n```text\nusage: lineage ledger verify" in text
    assert "--anchor" in text.split("### `lineage ledger verify`", 1)[1].split("###", 1)[0]


def test_the_page_does_not_depend_on_the_terminal(tmp_path):
    """Run from elsewhere with a narrow terminal and other LINEAGE_* settings: the same page."""
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "40", "LINEAGE_POLICY": str(tmp_path / "p.yaml"), "LINEAGE_ENV": "prod"}
    here = subprocess.run([sys.executable, str(SCRIPT), "--print"], env={**env, "COLUMNS": "200"}, capture_output=True, text=True)
    there = subprocess.run([sys.executable, str(SCRIPT), "--print"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert here.returncode == there.returncode == 0, here.stderr + there.stderr
    assert there.stdout == here.stdout and "## `lineage check`" in there.stdout
