"""privilege_change: GRANT, REVOKE and role changes; WITH GRANT OPTION or TO PUBLIC block by default.

    GRANT SELECT ON crm.customers TO analyst
    -> privilege_change (require_approval): grant SELECT on crm.customers to analyst
    GRANT SELECT ON crm.customers TO PUBLIC
    -> privilege_change (block): grant SELECT on crm.customers to PUBLIC (every role)
    SELECT set_config('role', 'admin', false)
    -> privilege_change (require_approval): changes the role the SQL runs as: set_config role = admin

Changing ``role`` or ``session_authorization`` counts in every spelling (SET ROLE, RESET ROLE,
SET SESSION AUTHORIZATION, set_config, UPDATE pg_settings, a connection's options).
"""

from __future__ import annotations

from typing import Iterator

from lineage.decide.analysis.settings_allowlist import family
from lineage.model import Action, Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def privilege_change(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.privileges:
        statement = change.get("statement", "grant")
        if "privileges" in change:
            text = f"{statement} {', '.join(change['privileges']) or 'privileges'} on {change.get('object')}"
            principals = change.get("principals") or []
            text += f" {'to' if statement == 'grant' else 'from'} {', '.join(principals)}"
        else:
            text = f"{statement.replace('_', ' ')}: {change.get('text', '').strip()}"
        widening = change.get("grant_option") or (change.get("to_public") and statement != "revoke")
        if change.get("to_public") and statement != "revoke":
            text += " (PUBLIC: every role)"
        if change.get("grant_option"):
            text += " (WITH GRANT/ADMIN OPTION: the grantee may pass it on)"
        yield Finding(
            "privilege_change",
            text,
            change.get("object"),
            default_action=Action.BLOCK if widening else None,
        )
    for setting in facts.settings:
        if family(facts.dialect, setting.name) == "role":
            yield Finding("privilege_change", f"changes the role the SQL runs as: {setting.describe()}", None,
                          detail={"setting": setting.name, "how": setting.how})
