"""A service's stream workers leave no files behind in the directory they were started from."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.feedback.bootstrap import build_definition
from services.feedback.settings import FeedbackSettings
from tests.harness import TestEnv

pytestmark = pytest.mark.integration


async def test_stream_workers_leave_no_data_folder_in_the_working_directory(
    env: TestEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # what the repository root is for `make up`
    # Feedback hosts a faust agent (its resolved bookings), so faust itself is started.
    async with env.running(build_definition(env.settings(FeedbackSettings))) as runtime:
        assert runtime.streams is not None
        assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == []
