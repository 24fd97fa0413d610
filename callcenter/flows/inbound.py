"""The service number's entry route. The caller is greeted and identified; the journey builds on this."""

from __future__ import annotations

import structlog

from callcenter.agi import AGISession
from callcenter.flows.results import DONE, RESULT_VAR
from callcenter.numbers import normalise_number

log = structlog.get_logger(__name__)


class InboundFlow:
    async def __call__(self, session: AGISession) -> None:
        number = normalise_number(session.env.callerid)
        log.info("inbound_call", caller=number or "anonymous")
        await session.stream_file("cc/welcome")
        await session.stream_file("cc/goodbye")
        await session.set_variable(RESULT_VAR, DONE)
