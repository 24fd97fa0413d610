"""Health check of Asterisk -> FastAGI -> dialplan: echo a digits-only token back through a channel variable."""

from __future__ import annotations

import structlog

from callcenter.agi import AGISession, RouteRefused
from callcenter.domain import naming

log = structlog.get_logger(__name__)


async def selftest(session: AGISession) -> None:
    token = session.env.params.get("token", "")
    # the dialplan only passes ${EXTEN} matched by _X., but a route never trusts what reaches it
    if not token.isdigit() or len(token) > 32:
        raise RouteRefused(f"selftest token {token[:40]!r} is not 1-32 digits")
    await session.set_variable(naming.ECHO, f"pong-{token}")
    await session.set_variable(naming.RESULT, naming.RESULT_DONE)
    log.info("selftest_ok", token=token)
