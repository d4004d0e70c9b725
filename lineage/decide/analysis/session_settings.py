"""Which settings a statement changes, in every spelling the server accepts, read from tokens.

    SET LOCAL row_security TO of           -> [SettingChange('row_security', ('of',), 'SET LOCAL')]
    SET search_path = crm, public          -> [SettingChange('search_path', ('crm', 'public'), 'SET')]
    SET SESSION AUTHORIZATION DEFAULT      -> [SettingChange('session_authorization', None, 'SET')]
    RESET ALL                              -> [SettingChange('all', None, 'RESET')]
    SELECT set_config('role', 'admin', f)  -> [SettingChange('role', ('admin',), 'set_config')]
    UPDATE pg_settings SET setting = 'off' WHERE name = 'row_security'
                                           -> [SettingChange('row_security', ('off',), 'UPDATE pg_settings')]
    CREATE VIEW s AS SELECT * FROM pg_settings
                                           -> [SettingChange('*', None, 'a view over pg_settings ...', known=False)]
    ALTER ROLE bob SET row_security = off  -> [SettingChange('row_security', ('off',), 'ALTER ROLE')]
    options=-c standard_conforming_strings=off (a connection's options)
                                           -> [SettingChange('standard_conforming_strings', ('off',), 'connection option')]

Only what is read with certainty becomes a name or a value: a computed name is ``*`` and a value
the tokens do not spell plainly (an E'' or U&'' string, an expression) leaves ``known`` False,
so the allowlist (``lineage.decide.analysis.settings_allowlist``) never has to guess. Which of these
changes are harmless is the rules' judgement, not this module's.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from lineage.decide.analysis.settings_allowlist import UNKNOWN
from lineage.decide.analysis.statements import get_dialect
from lineage.model import SettingChange

# the SET forms with their own grammar, and the setting each one changes
_SPECIAL_FORMS = {
    ("ROLE",): "role",
    ("SESSION", "AUTHORIZATION"): "session_authorization",
    ("TIME", "ZONE"): "timezone",
    ("SCHEMA",): "search_path",
    ("NAMES",): "client_encoding",
    ("SEED",): "seed",
    ("XML", "OPTION"): "xmloption",
    ("SESSION", "CHARACTERISTICS"): "transaction",
    ("TRANSACTION",): "transaction",
    ("CONSTRAINTS",): "constraints",
}
_FREE_FORM = {"transaction", "constraints", "timezone"}  # their words are not a value list
_SCOPES = {"LOCAL", "SESSION", "GLOBAL"}
_STRING_TOKENS = (TokenType.STRING, TokenType.HEREDOC_STRING)  # read as written: no escapes to decode
_ALTER_TARGETS = {"ROLE", "USER", "GROUP", "DATABASE", "SYSTEM"}


def settings_of_set(text: str, dialect: str, keyword: str = "SET", how: str | None = None) -> list[SettingChange]:
    """The settings ``SET ...`` / ``RESET ...`` changes; ``text`` is what follows the keyword."""
    tokens = _tokens(text, dialect)
    if tokens is None:
        return [SettingChange(UNKNOWN, None, how or keyword, known=False)]
    words = [token.text.upper() for token in tokens]
    scope = ""
    if words and words[0] in _SCOPES and words[:2] not in (["SESSION", "AUTHORIZATION"], ["SESSION", "CHARACTERISTICS"]):
        scope = f" {words[0]}"
        tokens, words = tokens[1:], words[1:]
    how = how or f"{keyword}{scope}"
    if keyword == "RESET":
        return [_reset(tokens, words, how)]
    for form, name in _SPECIAL_FORMS.items():
        if tuple(words[: len(form)]) == form:
            rest = tokens[len(form) :]
            if name in _FREE_FORM:
                return [SettingChange(name, tuple(token.text for token in rest), how)]
            if name == "seed" and rest and rest[0].text.upper() == "TO":
                rest = rest[1:]
            return [_assignment(name, rest, how)]
    name, rest = _dotted_name(tokens)
    if name is None or not rest or rest[0].text.upper() not in ("TO", "="):
        return [SettingChange(name or UNKNOWN, None, how, known=False)]
    return [_assignment(name, rest[1:], how)]


def settings_of_alter(text: str, dialect: str) -> list[SettingChange]:
    """``ALTER ROLE|USER|DATABASE|SYSTEM ... SET|RESET ...``: the settings it stores for later sessions."""
    tokens = _tokens(text, dialect)
    if not tokens or tokens[0].text.upper() not in _ALTER_TARGETS:
        return []
    how = f"ALTER {tokens[0].text.upper()}"
    for index, token in enumerate(tokens[1:], start=1):
        word = token.text.upper()
        if token.token_type in (TokenType.SET, TokenType.VAR, TokenType.COMMAND) and word in ("SET", "RESET"):
            rest = text[token.end + 1 :]
            return settings_of_set(rest, dialect, keyword=word, how=how)
    return []


def settings_in_tree(tree: exp.Expression) -> list[SettingChange]:
    """``set_config(...)`` calls anywhere in a statement and writes to ``pg_settings``."""
    changes: list[SettingChange] = []
    for node in tree.find_all(exp.Anonymous, exp.Update, exp.Insert, exp.Delete, exp.Merge, exp.Create):  # one walk
        if isinstance(node, exp.Anonymous):
            if str(node.this).lower() == "set_config":
                changes.append(_set_config(node))
            continue
        if isinstance(node, exp.Create):
            # a view over pg_settings is updatable, and updating it runs set_config: a settings write by proxy
            if (node.args.get("kind") or "").upper() == "VIEW" and isinstance(node.expression, exp.Expression) and any(
                    table.name.lower() == "pg_settings" for table in node.expression.find_all(exp.Table)):
                changes.append(SettingChange(UNKNOWN, None, "a view over pg_settings (updating it changes settings)", known=False))
            continue
        target = node.this.this if isinstance(node.this, exp.Schema) else node.this
        if isinstance(target, exp.Table) and target.name.lower() == "pg_settings":
            changes.extend(_pg_settings_write(node))
    return changes


def settings_of_pragma(pragma: exp.Pragma) -> list[SettingChange]:
    """DuckDB's (and SQLite's) ``PRAGMA name = value`` sets a setting; a bare ``PRAGMA name`` or
    ``PRAGMA name(...)`` runs a pragma function, which may toggle one (``enable_profiling``)."""
    body = pragma.this
    if isinstance(body, exp.EQ) and isinstance(body.this, exp.Column):
        value = body.expression
        if isinstance(value, exp.Boolean):
            text = "true" if value.this else "false"
        elif isinstance(value, exp.Literal):
            text = value.this
        elif isinstance(value, (exp.Column, exp.Var)):
            text = value.name.lower()
        else:
            return [SettingChange(body.this.name.lower(), None, "PRAGMA", known=False)]
        return [SettingChange(body.this.name.lower(), (text,), "PRAGMA")]
    if isinstance(body, (exp.Column, exp.Var)):
        return [SettingChange(body.name.lower(), (), "PRAGMA")]
    if isinstance(body, exp.Anonymous):
        return [SettingChange(str(body.this).lower(), (), "PRAGMA")]
    return [SettingChange(UNKNOWN, None, "PRAGMA", known=False)]


def settings_of_options(options: str) -> list[SettingChange]:
    """A libpq ``options`` string (``-c name=value``, ``--name=value``), split as the server splits it."""
    words: list[str] = []
    current: list[str] = []
    escaped = False
    for char in options:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char.isspace():
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        words.append("".join(current))
    changes: list[SettingChange] = []
    index = 0
    while index < len(words):
        word = words[index]
        if word == "-c" and index + 1 < len(words):
            assignment = words[index + 1]
            index += 2
        elif word.startswith("-c") and len(word) > 2:
            assignment, index = word[2:], index + 1
        elif word.startswith("--") and "=" in word:
            assignment, index = word[2:], index + 1
        else:  # other server switches (-B, -e, -S, -P, ...) set settings too: not read here
            changes.append(SettingChange(UNKNOWN, None, "connection option", known=False))
            index += 1
            continue
        name, found, value = assignment.partition("=")
        changes.append(SettingChange(name.strip().lower().replace("-", "_"), (value,), "connection option", known=bool(found)))
    return changes


# -- pieces ---------------------------------------------------------------------------------------


def _tokens(text: str, dialect: str) -> list[Token] | None:
    try:
        return get_dialect(dialect).tokenize(text)
    except (TokenError, Exception):
        return None


def _dotted_name(tokens: list[Token]) -> tuple[str | None, list[Token]]:
    """``x.y`` custom settings and plain names; PostgreSQL compares setting names case-insensitively."""
    parts: list[str] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if not _is_word(token):
            return None, tokens[index:]
        parts.append(token.text.lower())
        if index + 1 < len(tokens) and tokens[index + 1].token_type == TokenType.DOT:
            index += 2
            continue
        return ".".join(parts), tokens[index + 1 :]
    return None, []


def _is_word(token: Token) -> bool:
    """An identifier or keyword; never a string of any kind (E'', U&'', ...) or a number."""
    if token.token_type == TokenType.IDENTIFIER:
        return True
    if token.token_type.name.endswith("STRING") or token.token_type == TokenType.NUMBER:
        return False
    return token.text.replace("_", "a").replace("$", "a").isalnum()


def _assignment(name: str, tokens: list[Token], how: str) -> SettingChange:
    if len(tokens) == 1 and tokens[0].text.upper() == "DEFAULT" and tokens[0].token_type != TokenType.IDENTIFIER:
        return SettingChange(name, None, how)
    values: list[str] = []
    expecting_value = True
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if expecting_value:
            if token.token_type == TokenType.DASH and index + 1 < len(tokens) and tokens[index + 1].token_type == TokenType.NUMBER:
                values.append("-" + tokens[index + 1].text)
                index += 1
            elif token.token_type in _STRING_TOKENS or token.token_type in (TokenType.NUMBER, TokenType.IDENTIFIER):
                values.append(token.text)
            elif _is_word(token):
                values.append(token.text.lower())  # unquoted words are lowercased, as the server does
            else:
                return SettingChange(name, None, how, known=False)
            expecting_value = False
        elif token.token_type == TokenType.COMMA:
            expecting_value = True
        else:
            return SettingChange(name, None, how, known=False)
        index += 1
    if expecting_value:
        return SettingChange(name, None, how, known=False)
    return SettingChange(name, tuple(values), how)


def _reset(tokens: list[Token], words: list[str], how: str) -> SettingChange:
    for form, name in _SPECIAL_FORMS.items():
        if tuple(words) == form:
            return SettingChange(name, None, how)
    if len(tokens) == 1 and tokens[0].text.upper() == "ALL" and tokens[0].token_type != TokenType.IDENTIFIER:
        return SettingChange("all", None, how)
    name, rest = _dotted_name(tokens)
    if name is None or rest:
        return SettingChange(name or UNKNOWN, None, how, known=False)
    return SettingChange(name, None, how)


def _plain_string(node: exp.Expression | None) -> str | None:
    while isinstance(node, exp.Cast) and node.to.this in exp.DataType.TEXT_TYPES:
        node = node.this
    if isinstance(node, exp.Literal) and node.is_string:
        return node.this
    return None


def _set_config(call: exp.Anonymous) -> SettingChange:
    arguments = call.expressions
    name = _plain_string(arguments[0]) if arguments else None
    if name is None:
        return SettingChange(UNKNOWN, None, "set_config", known=False)
    value_node = arguments[1] if len(arguments) > 1 else None
    if isinstance(value_node, exp.Null):
        return SettingChange(name.lower(), None, "set_config")
    value = _plain_string(value_node)
    if value is None:
        return SettingChange(name.lower(), None, "set_config", known=False)
    return SettingChange(name.lower(), (value,), "set_config")


def _pg_settings_write(node: exp.Expression) -> list[SettingChange]:
    """``UPDATE pg_settings SET setting = 'v' WHERE name = 'x'`` runs ``set_config('x', 'v', false)``."""
    how = f"{type(node).__name__.upper()} pg_settings"
    if not isinstance(node, exp.Update):
        return [SettingChange(UNKNOWN, None, how, known=False)]
    value = None
    for assignment in node.expressions:
        if isinstance(assignment, exp.EQ) and assignment.this.name.lower() == "setting":
            value = _plain_string(assignment.expression)
    where = node.args.get("where")
    condition = where.this if where is not None else None
    names: list[str] = []
    if isinstance(condition, exp.EQ) and isinstance(condition.this, exp.Column) and condition.this.name.lower() == "name":
        name = _plain_string(condition.expression)
        names = [name] if name else []
    elif isinstance(condition, exp.In) and isinstance(condition.this, exp.Column) and condition.this.name.lower() == "name":
        names = [name for name in (_plain_string(item) for item in condition.expressions) if name]
        if len(names) != len(condition.expressions):
            names = []
    if not names:
        return [SettingChange(UNKNOWN, None, how, known=False)]
    return [SettingChange(name.lower(), (value,) if value is not None else None, how, known=value is not None) for name in names]
