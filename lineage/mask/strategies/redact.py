"""redact: letters become x / X and digits 0, everything else keeps its place (the format shows).

    redact(ssn text)  ->  REGEXP_REPLACE(TRANSLATE(ssn, 'ABC..Zabc..z0..9', 'XXX..Xxxx..x0..0'), '[^ -~]', 'x', 'g')
    'Ann-Marie 42' -> 'Xxx-Xxxxx 00'; any character outside printable ASCII (ü, ß, tabs) -> 'x'

The result is text (the column's text cast for other types) and as long as the value.
"""

from __future__ import annotations

import string

from sqlglot import exp

from lineage.mask.strategies._common import as_text, regexp_replace_all

SOURCE = string.ascii_uppercase + string.ascii_lowercase + string.digits
TARGET = "X" * 26 + "x" * 26 + "0" * 10


def redact(column: exp.Expression, dtype: exp.DataType | None, dialect: str) -> exp.Expression:
    translated = exp.Translate(this=as_text(column, dtype), from_=exp.Literal.string(SOURCE), to=exp.Literal.string(TARGET))
    return regexp_replace_all(translated, "[^ -~]", "x")
