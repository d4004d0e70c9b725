"""Durations as people write them in policy files: ``90s``, ``15m``, ``1h``, ``1h30m``, ``2d``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str | int | float) -> timedelta:
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        if text <= 0:
            raise ValueError("a duration must be positive")
        return timedelta(seconds=text)
    value = str(text).strip().lower()
    position, seconds = 0, 0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        seconds += int(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not value or position != len(value) or seconds <= 0:
        raise ValueError(f"{text!r} is not a duration: use for example 30s, 15m, 1h, 1h30m or 2d")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
