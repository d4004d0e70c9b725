"""The policy file: the documented shape loads, every error names file, line and key, exit 2."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from lineage.policy import PolicyError, load_policy, load_policy_text


def test_the_documented_policy_loads(policy_path):
    loaded = load_policy(policy_path)
    policy = loaded.policy
    assert loaded.version == "sha256:" + hashlib.sha256(policy_path.read_bytes()).hexdigest()
    assert policy.mode == "enforce"
    assert policy.classifications[0].tags_of("EMAIL") == ("pii.email",)
    assert [rule.strategy for rule in policy.masking.rules] == ["email", "show_last", "nullify", "date_trunc"]
    assert policy.approvals.ttl == timedelta(hours=1)
    assert policy.zones[0].allowed == ["raw.*", "staging.*"]


def test_version_changes_with_any_byte(policy_path):
    text = policy_path.read_bytes()
    assert load_policy_text(text).version != load_policy_text(text + b"\n# comment").version


BROKEN = [
    ("mode: [enforce\n", 1, "", "not valid YAML"),
    ("version: 1\nguardrails:\n  - {rule: drop_table, action: block}\n  - {rule: drop_tabel, action: block}\n", 4, "guardrails[1].rule", "unknown rule 'drop_tabel'"),
    ("masking:\n  rules:\n    - tags: [pii.email]\n      strategy: scramble\n", 4, "masking.rules[0].strategy", "unknown masking strategy 'scramble'"),
    ("classifications:\n  - table: 'crm..customers'\n    columns: {email: pii.email}\n", 2, "classifications[0].table", "not a table glob"),
    ("classifications:\n  - table: 'crm.[abc'\n    columns: {email: pii.email}\n", 2, "classifications[0].table", "unclosed"),
    ("zones:\n  - tags: ['pii..x']\n    allowed: [raw.*]\n", 2, "zones[0].tags", "not a tag glob"),
    ("version: 1\nguardrail:\n  - {rule: drop_table, action: block}\n", 2, "guardrail", "unknown key"),
    ("mode: enforce\nmode: audit\n", 2, "mode", "duplicate key"),
    ("mode: loose\n", 1, "mode", "enforce"),
    ("version: 2\n", 1, "version", "1"),
    ("approvals:\n  ttl: soon\n", 2, "approvals.ttl", "not a duration"),
    ("masking:\n  rules:\n    - {tags: [pii.ssn], strategy: show_last}\n", 3, "masking.rules[0]", "needs the argument 'chars'"),
    ("guardrails:\n  - {rule: truncate, action: explode}\n", 2, "guardrails[0].action", "block"),
    ("masking:\n  unmasked_for:\n    - {principal: a, group: b}\n", 3, "masking.unmasked_for[0]", "exactly one"),
    ("- just\n- a list\n", 1, "", "must be a mapping"),
]


@pytest.mark.parametrize("text,line,key,fragment", BROKEN, ids=[b[3] for b in BROKEN])
def test_errors_name_file_line_and_key(tmp_path, text, line, key, fragment):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    error = caught.value
    assert error.file == str(path)
    assert error.line == line, str(error)
    assert error.key == key, str(error)
    assert fragment in str(error)
    assert str(error).startswith(f"{path}:{line}: ")


def test_cli_validate_exit_codes(cli, policy_path, tmp_path):
    ok = cli("policy", "validate", str(policy_path))
    assert ok.code == 0 and "ok" in ok.out
    bad = tmp_path / "bad.yaml"
    bad.write_text("guardrails:\n  - {rule: nope, action: block}\n")
    result = cli("policy", "validate", str(bad))
    assert result.code == 2
    assert f"{bad}:2: guardrails[0].rule: unknown rule 'nope'" in result.err
    missing = cli("policy", "validate", str(tmp_path / "absent.yaml"))
    assert missing.code == 2 and "cannot read" in missing.err


def test_cli_schema_is_a_json_schema_that_accepts_the_example(cli, policy_path):
    import jsonschema
    import yaml

    result = cli("policy", "schema")
    assert result.code == 0
    schema = json.loads(result.out)
    assert schema["$schema"].endswith("2020-12/schema")
    assert {"classifications", "masking", "guardrails", "zones", "approvals", "mode"} <= set(schema["properties"])
    document = yaml.safe_load(policy_path.read_text())
    jsonschema.Draft202012Validator(schema).validate(json.loads(json.dumps(document, default=str)))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({"modee": "enforce"})
