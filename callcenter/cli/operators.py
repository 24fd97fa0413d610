"""`operators add|list|disable`: the web console's accounts. A password is read from a file (``--password-file``,
e.g. one made by a secrets manager) or typed at a prompt, never from the command line (it would sit in the shell's
history and in ``ps``)."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Any

from callcenter.cli.common import Invocation, changing, reading, table
from callcenter.usecases.ports import utcnow
from callcenter.usecases.sign_in import add_operator, password_problem


def add_commands(sub: Any) -> None:
    ops = sub.add_parser("operators", help="web console accounts (supervisors and moderators)").add_subparsers(
        title="operators commands", metavar="COMMAND"
    )
    s = ops.add_parser(
        "add",
        help="create an operator, or give one a new password (their sessions end; a disabled one is enabled again)",
    )
    s.add_argument("name", help="1-32 characters: a lowercase letter, then lowercase letters, digits, . _ -")
    s.add_argument("--password-file", type=Path, help="read the password from this file (its first line)")
    s.set_defaults(handler=cmd_operators_add)
    s = ops.add_parser("list", help="list operators")
    s.set_defaults(handler=cmd_operators_list)
    s = ops.add_parser("disable", help="stop an operator signing in, and end their sessions")
    s.add_argument("name")
    s.set_defaults(handler=cmd_operators_disable)


def read_password(path: Path | None) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else ""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


async def cmd_operators_add(run: Invocation) -> int:
    name = run.args.name
    try:
        password = read_password(run.args.password_file)
        problem = password_problem(name, password)
    except (OSError, ValueError) as exc:
        problem = str(exc)
    if problem is not None:
        print(f"operators add: {problem}", file=sys.stderr)
        return 2
    async with await changing(run) as store:
        created = await add_operator(store, name, password, utcnow)
    print(f"operator {name} {'created' if created else 'has a new password; their sessions ended'}")
    return 0


async def cmd_operators_list(run: Invocation) -> int:
    async with await reading(run) as store:
        found = await store.list_operators()
    if not found:
        print("no operators: `callcenter operators add NAME`")
        return 0
    rows = [[o.name, "active" if o.active else "disabled", o.created_at.strftime("%Y-%m-%d %H:%M")] for o in found]
    print("\n".join(table(["NAME", "STATE", "CREATED"], rows)))
    return 0


async def cmd_operators_disable(run: Invocation) -> int:
    async with await changing(run) as store:
        found = await store.disable_operator(run.args.name)
    if not found:
        print(f"operators disable: no operator {run.args.name!r}", file=sys.stderr)
        return 2
    print(f"operator {run.args.name} disabled; their sessions ended")
    return 0
