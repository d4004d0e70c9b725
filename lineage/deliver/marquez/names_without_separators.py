"""Job and dataset names carry no ``:`` or ``#``: Marquez splits node ids on ``:``.

    "outputs": [{"name": "db.schema.orders:v2", ...}]  ->  "outputs[0].name 'db.schema.orders:v2' contains ':'"
"""

from __future__ import annotations

from typing import Iterator

from lineage.deliver.marquez.common import datasets, jobs
from lineage.deliver.naming import NAME_FORBIDDEN


def names_without_separators(event: dict) -> Iterator[str]:
    for where, item in (*jobs(event), *datasets(event)):
        name = item.get("name")
        if not isinstance(name, str) or not name:
            yield f"{where}.name is missing"
            continue
        for char in NAME_FORBIDDEN:
            if char in name:
                yield f"{where}.name {name!r} contains {char!r} (Marquez node ids split on it)"
