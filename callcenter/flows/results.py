"""What a route tells the dialplan when it finishes (CC_RESULT); anything else means "take the fallback"."""

from __future__ import annotations

from typing import Final

RESULT_VAR: Final = "CC_RESULT"
DONE: Final = "DONE"  # the route finished the call's business: hang up
QUEUE: Final = "QUEUE"  # CC_QUEUE, CC_QUEUE_OPTS, CC_PRIO are set: run Queue()
CHOOSE: Final = "CHOOSE"  # back to the agent menu (after a decline, a no-answer, or leaving the queue)
