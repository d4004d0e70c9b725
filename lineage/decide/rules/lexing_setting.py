"""lexing_setting: a setting that changes how the server reads SQL text, or one the analysis cannot name.

    SET standard_conforming_strings = off
    -> lexing_setting (block, cannot be lowered): SET standard_conforming_strings = off changes how the
       server reads SQL text: ...

After ``standard_conforming_strings = off`` the server reads ``'a\\''`` as an escaped quote
while the analysis does not, so ``select 'a\\'' ; delete from t; --'`` is one SELECT for the
analysis and a SELECT plus a DELETE for the server. Settings of this family
(``standard_conforming_strings`` off, ``backslash_quote``, ``escape_string_warning``, a client
encoding other than UTF8) are refused in any spelling (SET, SET LOCAL, set_config, ALTER
ROLE/DATABASE/SYSTEM ... SET, a connection's options); so is a setting whose name the analysis
cannot read (a computed ``set_config`` argument), since it may be one of them. A governed
PostgreSQL connection also checks before every statement that the server still reads strings
the standard way (``lineage.adapters.dbapi``). The rule cannot be lowered below block.
"""

from __future__ import annotations

from typing import Iterator

from lineage.decide.analysis.settings_allowlist import family, is_harmless
from lineage.model import Finding, StatementFacts
from lineage.decide.rules.context import RuleContext


def lexing_setting(facts: StatementFacts, context: RuleContext) -> Iterator[Finding]:
    for change in facts.settings:
        if family(facts.dialect, change.name) != "lexing" or is_harmless(facts.dialect, change):
            continue
        if change.known:
            why = "changes how the server reads SQL text, so the analysis would split and read the next statements differently from the server"
        else:
            why = "may change how the server reads SQL text (or the role, or a safety setting): the analysis cannot tell which setting it is"
        yield Finding("lexing_setting", f"{change.describe()} {why}; this cannot be allowed", None,
                      detail={"setting": change.name, "how": change.how})
