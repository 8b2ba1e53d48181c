"""Fixtures over the real Kafka broker and PostgreSQL (started by `make test`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import settings

from tests.harness import SmtpServer, TestEnv, create_env, drop_env

# Property tests draw the same examples on every run ("repeatable"), so a suite that passed once
# passes again on the same code. `ITINERA_HYPOTHESIS_PROFILE=explore` draws new, more examples each
# run: use it to hunt, then pin what it finds with `@example`.
settings.register_profile("repeatable", derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=2000, print_blob=True)
settings.load_profile(os.environ.get("ITINERA_HYPOTHESIS_PROFILE", "repeatable"))


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
