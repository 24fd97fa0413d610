"""For machines: ``/metrics`` in Prometheus' text format, ``/healthz`` (the process answers) and ``/readyz``
(the store answers a read within READY_TIMEOUT, AMI is connected, the schema is the one this release writes),
200 or 503 with a small JSON body. Public, as Prometheus and load balancers expect, and so nothing private in
them: counts only, no caller, no name."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Final

from starlette.responses import JSONResponse, Response

from callcenter.ami.link import AMILink
from callcenter.store import Store
from callcenter.web.board import AGENT_STATES, Board
from callcenter.web.pages import Ctx

READY_TIMEOUT: Final = 2.0
CALL_OUTCOMES: Final = ("answered", "declined", "no_answer", "abandoned", "timeout", "failed", "interrupted")


def _line(name: str, value: float, **labels: str) -> str:
    if labels:
        shown = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        return f"{name}{{{shown}}} {value:g}"
    return f"{name} {value:g}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, doc: str, lines: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {doc}", f"# TYPE {name} {kind}", *lines]


class MachinePages:
    def __init__(self, store: Store, ami: AMILink, board: Board) -> None:
        self.store = store
        self.ami = ami
        self.board = board

    async def healthz(self, ctx: Ctx) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, ctx: Ctx) -> Response:
        checks: dict[str, str] = {"ami": "ok" if self.ami.connected else "not connected"}
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                found, wanted = await self.store.schema_status()
            checks["store"] = "ok"
            checks["schema"] = "ok" if found == wanted else f"version {found}, this release writes {wanted}"
        except Exception as exc:  # any failure to read is "not ready", said in the body
            checks["store"] = f"unreachable: {type(exc).__name__}"
            checks["schema"] = "unknown"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503)

    async def metrics(self, ctx: Ctx) -> Response:
        snap = self.board.snapshot.data
        day_outcomes = await self._outcomes()
        out: list[str] = []
        out += _family(
            "callcenter_calls_today",
            "gauge",
            "Calls started today (the center's time zone) by outcome; 'open' while they last.",
            (_line("callcenter_calls_today", n, outcome=o) for o, n in sorted(day_outcomes.items())),
        )
        out += _family(
            "callcenter_ratings_total",
            "counter",
            "Ratings given, by direction, heard by this process since it started (every service process's).",
            (
                _line("callcenter_ratings_total", self.board.ratings_seen.get(d, 0), direction=d)
                for d in ("client_to_agent", "agent_to_client")
            ),
        )
        out += _family(
            "callcenter_callers_waiting",
            "gauge",
            "Callers waiting now, per service's shared queue and in all agents' own queues together.",
            [
                *(
                    _line("callcenter_callers_waiting", s["waiting"], queue=s["queue"])
                    for s in snap.get("services", [])
                ),
                _line(
                    "callcenter_callers_waiting",
                    sum(r["waiting"] for r in self.board.rows().values()),
                    queue="agents",
                ),
            ],
        )
        out += _family(
            "callcenter_agents",
            "gauge",
            "Agents by state.",
            (_line("callcenter_agents", snap.get("states", {}).get(s, 0), state=s) for s in AGENT_STATES),
        )
        out += _family(
            "callcenter_ami_connected",
            "gauge",
            "1 while the AMI link is logged in.",
            [_line("callcenter_ami_connected", 1 if self.ami.connected else 0)],
        )
        started = time.perf_counter()
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                await self.store.schema_status()
            up = 1
        except Exception:  # the store is down or locked: said as a metric, never a failed scrape
            up = 0
        out += _family(
            "callcenter_store_up",
            "gauge",
            "1 if one small store read answered in time.",
            [_line("callcenter_store_up", up)],
        )
        out += _family(
            "callcenter_store_read_seconds",
            "gauge",
            "Seconds one small store read took, at this scrape.",
            [_line("callcenter_store_read_seconds", round(time.perf_counter() - started, 6))],
        )
        if self.board.store_seconds is not None:
            out += _family(
                "callcenter_store_counts_seconds",
                "gauge",
                "Seconds the wallboard's last read of today's counts took.",
                [_line("callcenter_store_counts_seconds", round(self.board.store_seconds, 6))],
            )
        return Response("\n".join(out) + "\n", media_type="text/plain; version=0.0.4; charset=utf-8")

    async def _outcomes(self) -> dict[str, int]:
        try:
            async with asyncio.timeout(READY_TIMEOUT):
                days = await self.store.call_outcomes(self.board.day_start())
        except Exception:  # counted as unknown: callcenter_store_up says why
            return {}
        return {o: days.get(o, 0) for o in (*CALL_OUTCOMES, "open")}
