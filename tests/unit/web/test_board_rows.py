"""The wallboard rebuilds only the rows of agents something happened to, and walks the whole roster only when the
shown list may change beyond them: after any sequence of changes, what it shows is what a full rebuild shows."""

from __future__ import annotations

import random

import pytest

from bench.wallboard import board_of
from callcenter.domain.agents import Duty
from callcenter.domain.policy import Score
from callcenter.web import board as board_module
from callcenter.web.board import _Leg


@pytest.mark.parametrize("seed", range(5))
async def test_the_incremental_rows_equal_a_full_rebuild(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(board_module, "MAX_AGENT_ROWS", 12)  # a short list, so agents move in and out of it
    rng = random.Random(seed)
    board = board_of(60)
    scores = {a.id: Score(3.0, {}, 10, False) for a in board.agents}
    board.score_of = scores.get
    await board.rebuild()
    ids = [a.id for a in board.agents]
    duty = board.queues.presence.duty
    for _ in range(300):
        agent = rng.choice(ids)
        change = rng.randrange(4)
        if change == 0:
            scores[agent] = Score(round(rng.uniform(1, 5), 2), {}, 10, False)
        elif change == 1:
            duty[agent] = rng.choice([Duty(logged_in=False), Duty(True), Duty(True, True, "lunch")])
        elif change == 2:
            board.talking.symmetric_difference_update({agent})
        elif agent in board.screening:
            del board.screening[agent]
        else:
            board.screening[agent] = _Leg("c", board.mono())
        board.changed(agent)
        incremental = board.build()
        board.changed()
        whole = board.build()
        assert incremental["agents"] == whole["agents"]
        assert incremental["states"] == whole["states"]
