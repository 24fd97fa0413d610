from __future__ import annotations

from callcenter.domain.pins import check_agent_pin, check_client_pin, hash_agent_pin, hash_client_pin


def test_agent_pins_hash_stably_and_check() -> None:
    stored = hash_agent_pin("1001", "1111")
    assert stored == hash_agent_pin("1001", "1111")  # roster reloads change nothing
    assert stored != hash_agent_pin("1002", "1111")  # salted by agent
    assert "1111" not in stored
    assert check_agent_pin("1001", "1111", stored)
    assert not check_agent_pin("1001", "1112", stored)
    assert not check_agent_pin("1002", "1111", stored)
    assert not check_agent_pin("1001", "1111", None)


def test_client_pins_are_salted_and_check() -> None:
    one, two = hash_client_pin("4321"), hash_client_pin("4321")
    assert one != two
    assert check_client_pin("4321", one)
    assert check_client_pin("4321", two)
    assert not check_client_pin("4322", one)
    assert not check_client_pin("4321", None)
    assert not check_client_pin("4321", "garbage")
    assert not check_client_pin("4321", "md5$x$y")
