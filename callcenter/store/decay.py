"""Recency decay of the rating totals: old ratings fade with a half-life, kept up to date incrementally.

A rating given at time t counts at time T with weight 2^(-(T - t) / half_life), so a decayed sum
S(T) = sum(score_i * 2^(-(T - t_i) / half_life)) moves to a later time by one multiplication:
S(T') = S(T) * 2^(-(T' - T) / half_life). Each totals row therefore stores ``dn`` (decayed count), ``dtotal``
(decayed sum of scores) and ``as_of`` (the T they refer to), and an evaluation change touches only its own rows,
exactly like the integer totals. No call-path read or write ever scans evaluations.

Design choices (schema 3):

* **One half-life per database, owned by the serving process.** The store keeps decayed sums for exactly one
  half-life, recorded in the ``settings`` table and changed only together with the sums (one transaction).
  ``SqliteStore.open(path, half_life_days=...)``, which only the serving process uses, makes it the configured
  one: when it finds a different recorded half-life (the operator changed the config), it recomputes every
  decayed sum once and logs it: a full scan at start-up, never on a call. Every writer re-reads the record inside
  its own transaction, so it never mixes two half-lives: an operator's handle (``open_existing``,
  ``open_migrated``) follows the record and never changes it, and a serving store that finds the record changed
  by another process puts its own back there and then (once, logged) instead of refusing the rating. Readers
  carry the sums forward with the recorded half-life, read in the same query. ``None`` (or 0, as in the config)
  means decay off, i.e. an infinite half-life: every weight is 1 and the decayed sums equal the plain ones (so a
  consumer may always read the decayed values). Sums kept for a fixed reference half-life could not serve
  another one: each weight would need its own power (sum of w_i^k is not (sum of w_i)^k), hence the recompute.
* **An edit refreshes the rating's age.** A live evaluation's scores count from ``evaluations.updated_at``:
  its creation, or its last effective change (update or revive). Re-recording identical scores is no change
  and keeps the old age. On an update the old scores leave with the weight they had, the new ones enter with
  weight 1.
* **Time only moves forward per row.** A change at ``now`` moves the row to ``max(as_of, now)``, so a clock
  step backwards never inflates a sum (every contribution has t_i <= as_of, weight <= 1). Reading at a ``now``
  before ``as_of`` gives the values as of ``as_of``.
* **Floating point.** Removals subtract, so a sum may end a hair below 0: it is clamped to 0.
  ``check_invariants`` recomputes every row at its own ``as_of`` and accepts a relative error of 1e-6 (or an
  absolute one of 1e-6: a weight that small belongs to a rating twenty half-lives old).
"""

from __future__ import annotations

from typing import Final

# the arithmetic is the domain's (callcenter/domain/decay.py); the store adds only where it records the half-life
from callcenter.domain.decay import ABS_TOL, OFF, REL_TOL, SECONDS_PER_DAY, Decay, close_enough

# settings.key under which the half-life of the stored decayed sums is recorded
HALF_LIFE_SETTING: Final = "rating_half_life_days"

__all__ = ["ABS_TOL", "HALF_LIFE_SETTING", "OFF", "REL_TOL", "SECONDS_PER_DAY", "Decay", "close_enough"]
