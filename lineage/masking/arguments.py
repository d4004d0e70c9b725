"""The arguments each masking strategy accepts, checked when the policy loads."""

from __future__ import annotations

from typing import Any

# name -> {argument: (accepted types, required)}
ARGUMENTS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "nullify": {},
    "type_default": {},
    "constant": {"value": ((str, int, float, bool), True)},
    "redact": {},
    "show_first": {"chars": ((int,), True)},
    "show_last": {"chars": ((int,), True)},
    "partial": {"prefix": ((int,), True), "pad": ((str,), False), "suffix": ((int,), True)},
    "email": {"mask_domain": ((bool,), False)},
    "hash": {"length": ((int,), False)},
    "date_trunc": {"part": ((str,), True)},
    "pseudonym": {"prefix": ((str,), False)},
    "custom": {"expression": ((str,), True)},
    "deny": {},
}

DATE_PARTS = ("year", "month")


def check_args(strategy: str, args: dict[str, Any]) -> None:
    spec = ARGUMENTS[strategy]
    for name in args:
        if name not in spec:
            accepted = ", ".join(spec) or "none"
            raise ValueError(f"strategy {strategy!r} takes no argument {name!r} (accepted: {accepted})")
    for name, (types, required) in spec.items():
        if name not in args:
            if required:
                raise ValueError(f"strategy {strategy!r} needs the argument {name!r}")
            continue
        value = args[name]
        if isinstance(value, bool) and bool not in types:
            raise ValueError(f"argument {name!r} of {strategy!r} must be {types[0].__name__}, not a boolean")
        if not isinstance(value, types):
            raise ValueError(f"argument {name!r} of {strategy!r} must be {types[0].__name__}, got {value!r}")
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"argument {name!r} of {strategy!r} must not be negative")
    if strategy == "date_trunc" and args["part"] not in DATE_PARTS:
        raise ValueError(f"date_trunc part must be one of {', '.join(DATE_PARTS)}, got {args['part']!r}")
    if strategy in ("hash",) and "length" in args and not 8 <= args["length"] <= 64:
        raise ValueError("hash length must be between 8 and 64 hex characters")
