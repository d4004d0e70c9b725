"""unsafe_text: SQL text the driver or the database would read differently from the analysis.

The analysis reads text with sqlglot's tokenizer. libpq cuts a statement at a NUL character;
PostgreSQL takes every non-ASCII character outside quotes as part of a name (sqlglot may take
it for a space), folds only ASCII letters to lower case (sqlglot folds all) and decodes
``U&"\\0073sn"`` escapes (sqlglot reads ``U & "\\0073sn"``). So text is only accepted when
the analysis provably reads it as the server does; anything else is refused before analysis:

    "select ssn from crm.customers\\x00 where id = 1"  -> "a NUL character (U+0000) at offset 29: ..."
    'select U&"\\0073sn" from crm.customers'          -> "a Unicode-escaped name or string (U&...) at offset 7: ..."
    "select id from crm.customers"                    -> None

Accepted: printable ASCII, tab, newline and carriage return anywhere; other characters
(except control characters and unpaired surrogates, refused everywhere) inside string literals,
quoted names and comments; in unquoted names, non-ASCII letters that are already lower case;
on PostgreSQL, names of at most 63 bytes (it cuts longer ones, the analysis would not).
"""

from __future__ import annotations

import unicodedata
from typing import Sequence

from sqlglot.tokens import Token, TokenType

# tokens whose characters are data (the server and sqlglot agree where they start and end)
QUOTED = frozenset(
    {
        TokenType.STRING,
        TokenType.IDENTIFIER,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
        TokenType.BYTE_STRING,
        TokenType.NATIONAL_STRING,
        TokenType.NATIONAL_RAW_STRING,
        TokenType.RAW_STRING,
        TokenType.HEREDOC_STRING,
    }
)
_LINE_ENDS = "\t\n\r"
MAX_NAME_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1
TRUNCATING = ("postgres", "redshift")
_DROP_LINE_ENDS = str.maketrans("", "", _LINE_ENDS)


def unsafe_text(sql: str, tokens: Sequence[Token] | None = None, dialect: str = "postgres") -> str | None:
    """Why the driver or the database may read ``sql`` differently from the analysis, or None."""
    return unsafe_characters(sql) or (unsafe_tokens(sql, tokens, dialect) if tokens is not None else None)


def unsafe_characters(sql: str) -> str | None:
    """NUL, other control characters, unpaired surrogates (undecodable bytes): refused anywhere."""
    plain = sql.translate(_DROP_LINE_ENDS)
    if plain.isascii() and plain.isprintable():
        return None
    hard = [char for char in set(plain) if not " " <= char <= "~" and unicodedata.category(char) in ("Cc", "Cs")]
    if not hard:
        return None
    offset = min(sql.index(char) for char in hard)
    char = sql[offset]
    if char == "\0":
        return _at(offset, char, "a NUL character", "the database driver would cut the statement there and run only what precedes it")
    if unicodedata.category(char) == "Cc":
        return _at(offset, char, "a control character", "the database and the analysis may split the text differently around it")
    code = ord(char)
    shown = f"the byte 0x{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else None
    return _at(offset, char, "text that is not valid UTF-8", "an undecodable byte cannot be sent to the database as the analysis read it", shown)


def unsafe_tokens(sql: str, tokens: Sequence[Token], dialect: str = "postgres") -> str | None:
    """Unicode escapes, names PostgreSQL would truncate, and non-ASCII characters outside quotes
    that the server reads differently."""
    if "&" in sql:
        found = _unicode_escapes(sql, tokens)
        if found:
            return found
    if dialect in TRUNCATING and len(sql) > MAX_NAME_BYTES and max(map(len, sql.encode().split())) > MAX_NAME_BYTES:
        found = _long_names(tokens)
        if found:
            return found
    return None if sql.isascii() else _outside_quotes(sql, tokens)


def _long_names(tokens: Sequence[Token]) -> str | None:
    """PostgreSQL cuts a name to 63 bytes (``customers_<58 more>`` may be another table's name)."""
    for token in tokens:
        if token.token_type in (TokenType.VAR, TokenType.IDENTIFIER) and len(token.text.encode()) > MAX_NAME_BYTES:
            return (
                f"a name of {len(token.text.encode())} bytes at offset {token.start}: PostgreSQL cuts names to "
                f"{MAX_NAME_BYTES} bytes, the analysis does not; shorten it"
            )
    return None


def _unicode_escapes(sql: str, tokens: Sequence[Token]) -> str | None:
    """``U&"..."`` / ``U&'...'``: the server decodes the escapes, the analysis does not."""
    for index, token in enumerate(tokens):
        if token.token_type == TokenType.UNICODE_STRING:
            return _escaped(token.start)
        if token.token_type == TokenType.AMP and 0 < index < len(tokens) - 1:
            before, after = tokens[index - 1], tokens[index + 1]
            if before.text in ("U", "u") and before.end + 1 == token.start and after.start == token.end + 1 and after.token_type in QUOTED:
                return _escaped(before.start)
    return None


def _escaped(offset: int) -> str:
    return (
        f"a Unicode-escaped name or string (U&...) at offset {offset}: the database decodes its escapes, "
        "the analysis does not; write the name or string plainly"
    )


def _outside_quotes(sql: str, tokens: Sequence[Token]) -> str | None:
    """Non-ASCII characters outside string literals and quoted names: only lower-case letters
    inside unquoted names, anything inside comments."""
    previous_end = -1
    for token in tokens:
        gap = _gap(sql, previous_end + 1, token.start)
        if gap is not None:
            return gap
        previous_end = max(previous_end, token.end)
        if token.token_type in QUOTED or sql[token.start : token.end + 1].isascii():
            continue
        for offset in range(token.start, token.end + 1):
            char = sql[offset]
            if char.isascii():
                continue
            if unicodedata.category(char)[0] not in "LM":
                return _at(offset, char, "a non-ASCII character outside quotes", "PostgreSQL reads it as part of a name, the analysis may read it as a separator")
            if char.lower() != char:
                return _at(
                    offset, char, "a non-ASCII capital letter in an unquoted name",
                    "PostgreSQL folds only ASCII letters to lower case, the analysis folds all; quote the name or write it in lower case",
                )
    return _gap(sql, previous_end + 1, len(sql))


def _gap(sql: str, start: int, end: int) -> str | None:
    """What the tokenizer skipped between two tokens must be ASCII white space and comments
    (``--`` to the end of the line, ``/* */`` nested as PostgreSQL nests them)."""
    if start >= end or sql[start:end].isascii():
        return None
    offset = start
    while offset < end:
        char = sql[offset]
        if char in " \t\n\r":
            offset += 1
        elif sql.startswith("--", offset):
            while offset < end and sql[offset] not in "\n\r":
                offset += 1
        elif sql.startswith("/*", offset):
            depth, offset = 1, offset + 2
            while offset < end and depth:
                if sql.startswith("/*", offset):
                    depth, offset = depth + 1, offset + 2
                elif sql.startswith("*/", offset):
                    depth, offset = depth - 1, offset + 2
                else:
                    offset += 1
        else:
            return _at(offset, char, "a character the analysis skipped as white space", "PostgreSQL reads it as part of a name")
    return None


def _at(offset: int, char: str, what: str, why: str, shown: str | None = None) -> str:
    return f"{what} ({shown or f'U+{ord(char):04X}'}) at offset {offset}: {why}"
