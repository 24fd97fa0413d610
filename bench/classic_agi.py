"""The classic baseline: the agent offer as a process-per-call AGI script (stdin/stdout), written with the design
card's pyst2 (``asterisk.agi``) the way a classic AGI script is written: Asterisk starts a Python process per call,
which opens the store, identifies the caller, plays the greeting and the service menu, and then computes the offer
the naive way (every agent of the service and their totals, scored and ranked in Python) and reads it out.

The same IVR step as the FastAGI inbound route up to its agent menu, with the same ranking (``callcenter.domain.
policy``, pure) over the same store file. Usage, from the dialplan: ``AGI(<wrapper>,<store path>,<cpu file>)``.
As it exits it appends its own CPU seconds (user + system, ``getrusage``: interpreter start-up included, since
that is what a classic script costs) to the cpu file: the caller hangs up at the agent menu, and after a hangup
pyst2 refuses to send anything more to Asterisk (its SIGHUP handler), so the channel cannot carry the figure.
"""

from __future__ import annotations

import resource
import sqlite3
import sys
import time

from asterisk.agi import AGI, AGIHangup

from callcenter.domain.policy import Candidate, Policy, Ratings, Tally, rank, score

SERVICE = "support"
CATEGORIES = ("attitude", "knowledge", "availability", "other")
OVERALL = "*"
TOP = 3


def read_keys(agi: AGI, files: list[str], timeout: float) -> str:
    agi.appexec("Read", f"CC_DIGITS,{'&'.join(files)},1,t(),1,{timeout:g}")
    return str(agi.get_variable("CC_DIGITS") or "")


def offer(db: sqlite3.Connection, policy: Policy) -> list[Candidate]:
    """Every active agent of the service with their caller-given totals, then the last call each answered."""
    totals: dict[str, dict[str, tuple[int, int]]] = {}
    for agent_id, category, n, total in db.execute(
        "SELECT s.agent_id, t.category_id, t.n, t.total FROM agent_services s "
        "JOIN agents a ON a.id = s.agent_id AND a.active = 1 "
        "LEFT JOIN agent_rating_totals t ON t.agent_id = s.agent_id WHERE s.service_id = ?",
        (SERVICE,),
    ):
        per = totals.setdefault(agent_id, {})
        if category is not None:
            per[category] = (n, total)
    last: dict[str, str] = {}
    for agent_id in totals:
        row = db.execute("SELECT MAX(answered_at) FROM calls WHERE agent_id = ?", (agent_id,)).fetchone()
        if row[0] is not None:
            last[agent_id] = row[0]
    candidates = []
    for agent_id, per in totals.items():
        n, total = per.get(OVERALL, (0, 0))
        ratings = Ratings(
            count=n,
            overall=Tally(sum(per.get(c, (0, 0))[0] for c in CATEGORIES), total),
            per_category={c: Tally(*per[c]) for c in CATEGORIES if c in per},
        )
        when = last.get(agent_id)
        seconds = time.mktime(time.strptime(when[:19], "%Y-%m-%dT%H:%M:%S")) if when else 0.0
        candidates.append(Candidate(agent_id, score(ratings, CATEGORIES, policy), seconds))
    return rank(candidates)[:TOP]


def main(argv: list[str]) -> int:
    agi = AGI()
    try:
        db = sqlite3.connect(argv[1], timeout=5.0)
        number = agi.env.get("agi_callerid", "")
        found = db.execute("SELECT id FROM clients WHERE number = ?", (number,)).fetchone()
        if found is None:
            with db:
                db.execute(
                    "INSERT INTO clients (number, created_at) VALUES (?, ?)",
                    (number, time.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00", time.gmtime())),
                )
        read_keys(agi, ["cc/welcome"], 0.1)
        key = read_keys(agi, ["cc/choose-service", "cc/key-1", "cc/service-support"], 6)
        if key != "1":
            return 0
        top = offer(db, Policy())
        files = ["cc/press-0", "cc/first-available"]
        for i, candidate in enumerate(top, start=1):
            files += [f"cc/key-{i}", f"cc/agent-{candidate.agent_id}"]
        read_keys(agi, files, 6)
    except AGIHangup:
        pass  # the caller hung up at the agent menu: the step is done
    finally:
        # getrusage, not os.times(): microseconds, not clock ticks (a call here costs a few ticks)
        used = resource.getrusage(resource.RUSAGE_SELF)
        with open(argv[2], "a") as out:  # one short line per call: an append is atomic
            out.write(f"{used.ru_utime + used.ru_stime:.6f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
