"""What a live connection does to every statement, beyond the statements themselves.

    psycopg.connect(dsn + "?options=-c%20row_security%3Doff")
    -> every statement: disable_safety (block): switches off a safety mechanism: connection option row_security = off
    (the server now has standard_conforming_strings = off, by any means)
    -> the next statement: lexing_setting (block): the server reads backslashes in strings ...

Settings can reach a session without a statement the analysis sees: a connection's ``options``
(``-c name=value``, also from ``PGOPTIONS``), ``ALTER ROLE/DATABASE ... SET`` done earlier, the
server's configuration, a function that calls ``set_config``. The options are judged once, by
the same rules as a ``SET`` (``lineage.decide.rules``); whether the server still reads string literals
the standard way is asked before every statement (PostgreSQL reports
``standard_conforming_strings`` to the client whenever it changes). When it does not, the
analysis and the server would split and read the statement differently, so nothing runs, in
audit mode too: the record would not say what ran.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lineage.decide.analysis.session_settings import settings_of_options
from lineage.decide.engine import Engine
from lineage.identity.run_identity import RunIdentity
from lineage.decide.verdict import revised
from lineage.model import Action, Decision, Finding, StatementFacts
from lineage.decide.rules import RULES


class SessionGuard:
    def __init__(self, connection: Any, driver: str, engine: Engine, identity: RunIdentity):
        self.connection = connection
        self.driver = driver
        self.findings = self._option_findings(engine, identity)

    def _option_findings(self, engine: Engine, identity: RunIdentity) -> tuple[Finding, ...]:
        if self.driver != "psycopg":
            return ()
        settings = tuple(settings_of_options(self.connection.info.options or ""))
        if not settings:
            return ()
        facts = StatementFacts(0, "(connection options)", engine.dialect, "connection", settings=settings)
        context = engine.context(identity)
        findings = []
        for rule in RULES.values():
            if rule.reported_by_masker:
                continue
            for finding in rule.function(facts, context):
                findings.append(replace(finding, action=engine.action_for(finding, identity)))
        return tuple(findings)

    def lexing_drift(self) -> str | None:
        """Why the server no longer reads SQL text as the analysis does, or None."""
        if self.driver != "psycopg":
            return None
        value = self.connection.info.parameter_status("standard_conforming_strings")
        if value == "on":
            return None
        return (f"the session has standard_conforming_strings = {value}: the server reads a backslash in a string as an "
                "escape and the analysis does not, so they would split and read this statement differently; "
                "this cannot be allowed (set it back to on for the connection, its role or its database)")

    def apply(self, decision: Decision) -> Decision:
        findings = list(self.findings)
        drift = self.lexing_drift()
        if drift:
            findings.append(Finding("lexing_setting", drift, None, action=Action.BLOCK, detail={"setting": "standard_conforming_strings"}))
        if not findings:
            return decision
        return revised(decision, decision.findings + tuple(findings), unsafe_text=bool(drift))
