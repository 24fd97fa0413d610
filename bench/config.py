"""Sizes and time budgets of a run (full or --quick), and the cache of seeded worlds the steps share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.seed import World, add_ratings, open_world, verify
from bench.timing import Budget


@dataclass(frozen=True, slots=True)
class Config:
    quick: bool
    directory: Path
    # the base world: every step not scaling a size runs on it
    base_agents: int
    base_clients: int
    base_ratings: int
    agents_axis: tuple[int, ...]
    ratings_axis: tuple[int, ...]
    clients_axis: tuple[int, ...]
    writers_axis: tuple[int, ...]
    writer_ops: int
    budget: Budget  # a typical row
    slow_budget: Budget  # rows whose single operation takes up to a second (full recount)
    agi_sessions: int  # sequential sessions per command count (fewer for the longest)
    agi_concurrent_sessions: int
    agi_concurrency: int

    @classmethod
    def make(cls, directory: Path, *, quick: bool) -> Config:
        if quick:
            return cls(
                quick=True,
                directory=directory,
                base_agents=100,
                base_clients=1_000,
                base_ratings=10_000,
                agents_axis=(10, 100),
                ratings_axis=(1_000, 10_000),
                clients_axis=(1_000, 10_000),
                writers_axis=(1, 10, 50),
                writer_ops=100,
                budget=Budget(min_ops=10, max_ops=300, seconds=0.1, warmup=2),
                slow_budget=Budget(min_ops=2, max_ops=5, seconds=0.2, warmup=1),
                agi_sessions=40,
                agi_concurrent_sessions=60,
                agi_concurrency=20,
            )
        return cls(
            quick=False,
            directory=directory,
            base_agents=100,
            base_clients=1_000,
            base_ratings=10_000,
            agents_axis=(10, 100, 1_000),
            ratings_axis=(1_000, 10_000, 100_000),
            clients_axis=(1_000, 10_000, 100_000),
            writers_axis=(1, 10, 50),
            writer_ops=600,
            budget=Budget(min_ops=30, max_ops=2_000, seconds=0.6, warmup=5),
            slow_budget=Budget(min_ops=3, max_ops=20, seconds=1.0, warmup=1),
            agi_sessions=300,
            agi_concurrent_sessions=600,
            agi_concurrency=20,
        )


@dataclass(slots=True)
class Worlds:
    """Seeded stores keyed by (agents, clients, ratings), built on first use and closed at the end.

    Measurements add a few hundred calls and evaluations to the world they run on; next to the seeded
    thousands that does not change what the sizes say.
    """

    config: Config
    _open: dict[tuple[int, int, int], World] = field(default_factory=dict)

    async def get(self, *, agents: int | None = None, clients: int | None = None, ratings: int | None = None) -> World:
        c = self.config
        key = (
            c.base_agents if agents is None else agents,
            c.base_clients if clients is None else clients,
            c.base_ratings if ratings is None else ratings,
        )
        world = self._open.get(key)
        if world is None:
            world = await self.fresh(f"world-{key[0]}a-{key[1]}c-{key[2]}r", *key)
            self._open[key] = world
        return world

    async def fresh(self, name: str, agents: int, clients: int, ratings: int) -> World:
        """A world of its own (not shared), e.g. one a step is about to grow."""
        world = await open_world(self.config.directory, name, agents=agents, clients=clients)
        try:
            await add_ratings(world, ratings)
            await verify(world)
        except BaseException:
            # an open aiosqlite connection keeps its thread (and the process) alive: close before failing
            await world.close()
            raise
        return world

    async def close(self) -> None:
        for world in self._open.values():
            await world.close()
        self._open.clear()
