"""What a route tells the dialplan when it finishes (CC_RESULT); anything else means "take the fallback"."""

from __future__ import annotations

from typing import Final

RESULT_VAR: Final = "CC_RESULT"
DONE: Final = "DONE"
