"""Which worker this process is, of how many: what differs between the service processes sharing one store."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkerRole:
    """Worker ``index`` of ``count``. Every worker serves FastAGI and follows AMI; worker 0 alone also runs the
    jobs that must run once per store (the reaper, the queue members' corrections after a reconnect)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"worker {self.index} of {self.count}")

    @property
    def leader(self) -> bool:
        """Runs the once-per-store jobs. Worker 0 by index, not by an election: the supervisor restarts a worker
        that died under its own index, so the jobs come back with it (seconds later; both are periodic and
        catch up) and two leaders can never run at once."""
        return self.index == 0

    @property
    def alone(self) -> bool:
        return self.count == 1


# the one service process of a single-worker run (a frozen value, not shared state)
ALONE = WorkerRole()
