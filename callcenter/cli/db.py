"""`callcenter db ...`: the schema, the aggregates and moving a center between stores (``migrate``, ``check``,
``copy``). One module for the whole group."""

from __future__ import annotations

from typing import Any

from callcenter.app import migrate_and_sync
from callcenter.cli.common import Invocation, add_force, reading, store_used
from callcenter.journal import Journals
from callcenter.store import copy as store_copy
from callcenter.store import opening


def add_commands(sub: Any) -> None:
    db = sub.add_parser("db", help="the evaluation store").add_subparsers(title="db commands", metavar="COMMAND")
    s = db.add_parser("migrate", help="create or upgrade the database schema, load the config's roster")
    add_force(s)
    s.set_defaults(handler=cmd_db_migrate)
    s = db.add_parser("check", help="recompute every rating aggregate from the rows and report differences")
    s.set_defaults(handler=cmd_db_check)
    s = db.add_parser("copy", help="copy the whole history into an empty store (e.g. PostgreSQL) and verify it")
    s.add_argument("--to", required=True, metavar="URL", help="the target store: postgresql://... or sqlite:///path")
    s.set_defaults(handler=cmd_db_copy)


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


async def cmd_db_copy(run: Invocation) -> int:
    target = opening.StoreUrl.parse(run.args.to)
    # every worker's journal (one per service process sharing this store)
    for journal in Journals(run.config.store.journal_file).existing().values():
        if journal.stat().st_size > 0:
            # calls and ratings the store could not take yet: copied now they would be left behind for good (the
            # journal belongs to this store; the service replays it into this store when it starts)
            print(
                f"refusing to copy: {journal} still holds calls or ratings not yet in the store; start the service "
                "once (it writes them) and stop it, then copy"
            )
            return 1
    store_used(run, f"read-only, copied to {target}")
    report = await store_copy.copy_between(run.config.store.target, target, busy_timeout=run.config.store.busy_timeout)
    for line in report.lines():
        print(line)
    print(f"copied to {target}: every check passed" if report.ok else f"copied to {target}: CHECKS FAILED (above)")
    return 0 if report.ok else 1
