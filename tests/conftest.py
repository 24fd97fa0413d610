"""Fixtures every test package may use: a real PostgreSQL for the run (tests/postgres.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres import PostgresServer, postgres_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The PostgreSQL server of this test run, started on first use (a test that needs it fails, never skips,
    when it cannot be started)."""
    with postgres_server() as server:
        yield server
