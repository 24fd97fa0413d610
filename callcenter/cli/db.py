"""`callcenter db ...`: the schema and the aggregates (``migrate``, ``check``). One module for the whole group."""

from __future__ import annotations

from typing import Any

from callcenter.app import migrate_and_sync
from callcenter.cli.common import Invocation, add_force, reading, store_used


def add_commands(sub: Any) -> None:
    db = sub.add_parser("db", help="the evaluation store").add_subparsers(title="db commands", metavar="COMMAND")
    s = db.add_parser("migrate", help="create or upgrade the database schema, load the config's roster")
    add_force(s)
    s.set_defaults(handler=cmd_db_migrate)
    s = db.add_parser("check", help="recompute every rating aggregate from the rows and report differences")
    s.set_defaults(handler=cmd_db_check)


async def cmd_db_migrate(run: Invocation) -> int:
    done = await migrate_and_sync(run.config, run.agents, force=run.args.force)
    store_used(run, "migrated, roster loaded")
    print(f"store {run.config.store.shown} is up to date ({done})")
    return 0


async def cmd_db_check(run: Invocation) -> int:
    async with await reading(run) as store:
        problems = await store.check_invariants()
        kept = await store.rating_half_life() or 0.0
    if kept != run.config.policy.half_life_days:
        # not a problem of the data: the serving process recomputes the sums for its config when it starts
        print(
            f"note: the decayed ratings are kept for half_life_days = {kept:g}, this config says "
            f"{run.config.policy.half_life_days:g} (a service started with it recomputes them)"
        )
    for line in problems:
        print(line)
    print("aggregates consistent" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0
