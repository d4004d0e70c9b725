"""The arguments each masking strategy accepts, checked when the policy loads.

The accepted arguments live with each strategy in the registry (``lineage.mask.strategies``);
here they are checked, together with the few rules types alone cannot say (ranges, the
allow-list of ``custom`` expressions).
"""

from __future__ import annotations

from typing import Any

from lineage.mask.strategies import STRATEGIES
from lineage.mask.strategies.custom import check_expression

# name -> {argument: (accepted types, required)}
ARGUMENTS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {name: strategy.arguments for name, strategy in STRATEGIES.items()}

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
    if strategy == "hash" and "length" in args and not 8 <= args["length"] <= 64:
        raise ValueError("hash length must be between 8 and 64 hex characters")
    if strategy in ("show_first", "show_last") and args["chars"] > 64:
        raise ValueError(f"{strategy} chars must be at most 64")
    if strategy == "custom":
        check_expression(args["expression"])
