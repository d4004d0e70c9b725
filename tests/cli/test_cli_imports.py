"""A command imports what it uses: ``lineage --help`` none of the analysis, ``lineage check`` no
lineage client, HTTP stack, signing, schema validation, Airflow or dbt, and without a policy file
not pydantic either (the figures are bench/'s; here the modules, which do not depend on the machine)."""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys

import pytest

from lineage.cli import COMMANDS

IMPORTED = r"""
import json, sys
from lineage.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.stdout.flush()
print("\n" + json.dumps(sorted({name.split(".")[0] for name in sys.modules} | {name for name in sys.modules if name.startswith("lineage")})), file=sys.stderr)
"""

# what ``import lineage`` itself loads: the deferral of openlineage-python's client's __init__
PACKAGE_INIT = {"lineage.openlineage_client"}


def imported(*argv: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", IMPORTED, *argv], capture_output=True, text=True, timeout=120)
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def test_the_listing_imports_no_command():
    modules = imported("--help")
    assert not modules & {"sqlglot", "pydantic", "yaml", "openlineage", "cryptography"}, modules
    assert not {name for name in modules if name.startswith("lineage.")} - PACKAGE_INIT - {"lineage.cli"}


@pytest.mark.parametrize("argv", [("check", "--sql", "select 1"), ("check", "--sql", "select * from t", "--format", "json")])
def test_check_imports_only_the_decision(argv):
    modules = imported(*argv)
    assert {"sqlglot", "yaml", "lineage.decide.engine"} <= modules  # it did decide
    heavy = {"openlineage", "requests", "httpx", "urllib3", "jsonschema", "cryptography", "airflow", "dbt", "great_expectations", "psycopg", "duckdb"}
    assert not modules & heavy, sorted(modules & heavy)
    assert not {name for name in modules if name.startswith(("lineage.approve", "lineage.record", "lineage.deliver", "lineage.jit", "lineage.adapters"))}


@pytest.mark.parametrize("argv", [("check", "--sql", "select 1"), ("explain", "--sql", "select 1")])
def test_without_a_policy_file_no_policy_model_is_built(argv):
    modules = imported(*argv)
    assert "lineage.decide.engine" in modules  # it did decide
    assert not modules & {"pydantic", "pydantic_core", "annotated_types"}, sorted(modules & {"pydantic", "pydantic_core", "annotated_types"})
    assert not modules & {"lineage.policy.model", "lineage.mask.rewrite", "lineage.mask.plan", "lineage.mask.strategies"}


def test_a_policy_file_is_validated_by_the_models(policy_path):
    modules = imported("check", "--policy", str(policy_path), "--sql", "select 1")
    assert {"pydantic", "lineage.policy.model", "lineage.decide.engine"} <= modules


def test_every_command_is_registered_by_the_module_the_listing_names():
    for module in sorted({module for module, _ in COMMANDS.values()}):
        subparsers = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).register(subparsers)
        registered = {action.dest: action.help for action in subparsers._choices_actions}
        assert registered == {name: line for name, (owner, line) in COMMANDS.items() if owner == module}, module


def test_an_unknown_command_lists_them_all(capsys):
    from lineage.cli import main

    with pytest.raises(SystemExit) as raised:
        main(["chek"])
    assert raised.value.code == 2
    assert "invalid choice: 'chek'" in capsys.readouterr().err


def test_in_its_own_process_start_up_is_frozen_and_the_collector_runs_again():
    """The console script's start-up objects go to the collector's permanent generation; the command's
    own garbage (parse trees are cycles) is collected as before. A call with argv (a test, a library)
    leaves the collector alone."""
    code = (
        "import gc, json, sys\n"
        "from lineage.cli import main\n"
        "sys.argv = ['lineage', 'check', '--sql', 'select 1']\n"
        "code = main()\n"
        "frozen = gc.get_freeze_count()\n"
        "called = main(['check', '--sql', 'select 2'])\n"
        "print(json.dumps([code, called, gc.isenabled(), frozen, gc.get_freeze_count()]), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    code, called, enabled, frozen, frozen_after = json.loads(result.stderr.strip().splitlines()[-1])
    assert (code, called, enabled) == (0, 0, True)
    assert frozen > 10_000 and frozen_after == frozen  # sqlglot and the analysis, frozen once
