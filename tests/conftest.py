"""Fixtures over the real Kafka broker and PostgreSQL (started by `make test`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.harness import SmtpServer, TestEnv, create_env, drop_env


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[TestEnv]:
    """This session's database and topic prefix on the real engines."""
    test_env = await create_env()
    try:
        yield test_env
    finally:
        await drop_env(test_env)


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback that keeps every message it receives."""
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
