"""The operations command line (`python -m services.kit`) against the real broker."""

from __future__ import annotations

import asyncio
import json

import pytest

from services.kit.__main__ import main
from tests.harness import KAFKA, TestEnv

pytestmark = pytest.mark.integration


async def _dlq_show(env: TestEnv, service: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("ITINERA_TOPIC_PREFIX", env.topic_prefix)
    monkeypatch.setenv("ITINERA_KAFKA_BOOTSTRAP_SERVERS", KAFKA)
    # The command runs its own event loop, as it does from a shell.
    return await asyncio.to_thread(main, ["dlq", "show", "--service", service])


async def test_dlq_show_says_so_when_there_are_no_dead_letters(
    env: TestEnv, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _dlq_show(env, "notifications", monkeypatch) == 0
    out, err = capsys.readouterr()
    assert out == ""  # nothing for a tool reading the JSON lines
    assert err.strip() == f"no dead letters for notifications: {env.topic_prefix}notifications.deadletters.v1 is empty"


async def test_dlq_show_lists_each_dead_letter_as_json_and_counts_them(
    env: TestEnv, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    producer = await env.producer()
    headers = [("dlq.reason", b"invalid-envelope"), ("dlq.error", b"not JSON"), ("dlq.service", b"feedback")]
    await producer.send_and_wait(
        f"{env.topic_prefix}feedback.deadletters.v1", b"{not json", key=b"k1", headers=headers, partition=0
    )
    assert await _dlq_show(env, "feedback", monkeypatch) == 0
    out, err = capsys.readouterr()
    [line] = out.splitlines()
    assert json.loads(line) == {
        "partition": 0,
        "offset": 0,
        "dlq.reason": "invalid-envelope",
        "dlq.error": "not JSON",
        "dlq.service": "feedback",
    }
    assert err.strip() == f"1 dead letter(s) for feedback in {env.topic_prefix}feedback.deadletters.v1"
