"""The facts of SET, RESET and PRAGMA: the session settings they change, read from the
statement's own tokens (``lineage.decide.analysis.session_settings`` judges nothing; the
``session_setting`` rule does).

    SET search_path = evil, public -> SettingChange("search_path", ...)
"""

from __future__ import annotations

from sqlglot import exp

from lineage.decide.analysis.session_settings import settings_of_pragma, settings_of_set
from lineage.decide.analysis.statements import get_dialect
from lineage.model import OpaquePart
from lineage.decide.analysis.kinds import Kind


class SettingFacts:
    """The SET/PRAGMA part of the statement analyzer (``lineage.decide.analysis.facts``)."""

    def _set(self, tree: exp.Set) -> None:
        self.facts.kind = Kind.SET
        self._settings_statement(self.parsed.sql)

    def _pragma(self, tree: exp.Pragma) -> None:
        self.facts.kind = Kind.PRAGMA
        self.settings.extend(settings_of_pragma(tree))

    def _settings_statement(self, text: str) -> None:
        """``SET``/``RESET``/``UNSET`` in any form, read from the statement's own tokens."""
        try:
            first = get_dialect(self.dialect).tokenize(text)[0]
        except Exception:
            self.opaque.append(OpaquePart("unsupported_statement", "a SET statement the analysis cannot read"))
            return
        keyword = "RESET" if first.text.upper() in ("RESET", "UNSET") else "SET"
        self.settings.extend(settings_of_set(text[first.end + 1 :], self.dialect, keyword=keyword))
