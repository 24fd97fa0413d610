"""Kept only for ``callcenter/store/calls.py``, which is being reworked in parallel (issue 11, part 2): the
canonical caller number lives in ``callcenter.domain.numbers``. Delete this file once the store imports it there."""

from callcenter.domain.numbers import normalise_number

__all__ = ["normalise_number"]
