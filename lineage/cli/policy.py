"""``lineage policy validate FILE`` and ``lineage policy schema``."""

from __future__ import annotations

import argparse
import json

from lineage.cli import summary

from lineage.cli.common import load_policy_arg
from lineage.policy.model import Policy
from lineage.decide.rules import RULES


def register(subparsers) -> None:
    policy = subparsers.add_parser("policy", help=summary("policy"))
    commands = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    commands.required = True
    validate = commands.add_parser("validate", help="check a policy file; exit 2 with file, line and key on error")
    validate.add_argument("file")
    validate.set_defaults(handler=run_validate)
    schema = commands.add_parser("schema", help="print the policy format's JSON Schema (for editors)")
    schema.set_defaults(handler=run_schema)
    rules = commands.add_parser("rules", help="list the guardrail rules and their default actions")
    rules.set_defaults(handler=run_rules)


def run_validate(args: argparse.Namespace) -> int:
    loaded = load_policy_arg(args.file)
    policy = loaded.policy
    print(
        f"{args.file}: ok\n"
        f"  version     {loaded.version}\n"
        f"  mode        {policy.mode}\n"
        f"  classified  {sum(len(c.columns) for c in policy.classifications)} column(s) in {len(policy.classifications)} table glob(s)\n"
        f"  masking     {len(policy.masking.rules)} rule(s), {len(policy.masking.unmasked_for)} exemption(s)\n"
        f"  guardrails  {len(policy.guardrails)} entr{'y' if len(policy.guardrails) == 1 else 'ies'}; "
        f"defaults apply to {len(set(RULES) - {g.rule for g in policy.guardrails})} other rule(s)\n"
        f"  zones       {len(policy.zones)}"
    )
    return 0


def run_schema(args: argparse.Namespace) -> int:
    schema = Policy.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "lineage-governance policy"
    print(json.dumps(schema, indent=2))
    return 0


def run_rules(args: argparse.Namespace) -> int:
    width = max(len(name) for name in RULES)
    for rule in RULES.values():
        print(f"{rule.name:<{width}}  {rule.default.value:<16}  {rule.summary}")
    return 0
