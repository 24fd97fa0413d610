"""Caller numbers as identities: one canonical spelling per phone, or None when there is no usable identity.

A caller's number is the only thing that ties two calls to the same client, and it arrives from outside
(trunk, softphone, spoofable caller id). So this module is deliberately strict: anything that is not clearly a
phone number is treated as "no identity" rather than guessed at, because a wrong guess would merge strangers'
ratings into one client.
"""

from __future__ import annotations

import re
from typing import Final

# What carriers and PBXes put in the caller id when the number is hidden; compared case-insensitively.
ANONYMOUS_MARKERS: Final = frozenset({"", "anonymous", "unknown", "restricted", "private", "withheld", "unavailable"})

MIN_DIGITS: Final = 3
MAX_DIGITS: Final = 20

# Visual separators people and carriers put inside numbers; they carry no identity. Spaces only, never line
# breaks or other control characters: "5550420\nagi_...: 1004" is an injection attempt, not the number 55504201004.
_SEPARATORS: Final = re.compile(r"[ \t\u00a0\-.()]")
# ASCII digits only: str.isdigit() would also accept e.g. Arabic-Indic digits, which Asterisk never dials.
_CANONICAL: Final = re.compile(r"\+?[0-9]+")


def normalise_number(raw: str | None) -> str | None:
    """Return the canonical form of a caller number (digits, optional single leading ``+``), or None.

    None means "anonymous": a withheld marker, letters (a SIP URI, a name), stray symbols, a ``+`` anywhere
    but the front (``++44`` is rejected, not repaired), or fewer than 3 / more than 20 digits.
    """
    if raw is None:
        return None
    if raw.strip().lower() in ANONYMOUS_MARKERS:
        return None
    compact = _SEPARATORS.sub("", raw)
    if not _CANONICAL.fullmatch(compact):
        return None
    digits = compact.removeprefix("+")
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        return None
    return compact
