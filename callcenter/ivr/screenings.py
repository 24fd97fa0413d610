"""Which agent declined which call: the agent's leg knows, the caller's leg must tell the caller."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class Screenings:
    """In memory on purpose: it matters only while the call lasts. Entries older than an hour are dropped."""

    declined: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def decline(self, call: str, agent: str, now: datetime) -> None:
        cutoff = now - timedelta(hours=1)
        for stale in [k for k, at in self.declined.items() if at < cutoff]:
            del self.declined[stale]
        self.declined[(call, agent)] = now

    def was_declined(self, call: str, agent: str) -> bool:
        return self.declined.pop((call, agent), None) is not None
