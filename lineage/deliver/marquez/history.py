"""What earlier events of one run showed: the state the stream checks compare against."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunHistory:
    events: int = 0
    datasets: dict[tuple[str, str, str], bool] = field(default_factory=dict)  # (role, namespace, name) -> had schema
    parent: bool | None = None
    seen: set[tuple] = field(default_factory=set)

    def record(self, event: dict) -> None:
        self.events += 1
        for role in ("inputs", "outputs"):
            for dataset in event.get(role) or ():
                key = (role, dataset.get("namespace"), dataset.get("name"))
                has_schema = "schema" in (dataset.get("facets") or {})
                self.datasets[key] = self.datasets.get(key, False) or has_schema
        has_parent = "parent" in (((event.get("run") or {}).get("facets")) or {})
        self.parent = has_parent if self.parent is None else (self.parent or has_parent)
        self.seen.add(identity_of(event))


def identity_of(event: dict) -> tuple:
    run = event.get("run") or {}
    return (run.get("runId"), event.get("eventType"), event.get("eventTime"))
