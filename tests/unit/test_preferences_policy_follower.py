"""Which companies the policy job checks: those whose policy changed lately, not every customer each time."""

from __future__ import annotations

from services.preferences.bootstrap import FULL_CHECK_SECONDS, SETTLE_SECONDS, PolicyFollower


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_every_company_is_checked_once_at_start_then_only_when_its_policy_changes() -> None:
    clock = Clock()
    follower = PolicyFollower(clock)
    assert follower.to_check({"com_b": 1, "com_a": 3}) == [("com_a", 3), ("com_b", 1)]
    clock.now += 1
    assert follower.to_check({"com_a": 3, "com_b": 1}) == []
    clock.now += 1
    assert follower.to_check({"com_a": 4, "com_b": 1}) == [("com_a", 4)]


def test_a_changed_policy_is_checked_on_every_wake_up_until_it_settles() -> None:
    clock = Clock()
    follower = PolicyFollower(clock)
    follower.to_check({"com_a": 1})
    follower.to_check({"com_a": 2})
    clock.now += SETTLE_SECONDS - 1  # a batch that read version 1 may still commit
    assert follower.to_check({"com_a": 2}) == [("com_a", 2)]
    clock.now += 1
    assert follower.to_check({"com_a": 2}) == []


def test_a_new_policy_is_checked_until_it_settles_and_everything_again_after_a_while() -> None:
    clock = Clock()
    follower = PolicyFollower(clock)
    follower.to_check({"com_a": 1})
    assert follower.to_check({"com_a": 1, "com_new": 1}) == [("com_new", 1)]
    clock.now += SETTLE_SECONDS - 1
    assert follower.to_check({"com_a": 1, "com_new": 1}) == [("com_new", 1)]
    clock.now += FULL_CHECK_SECONDS
    assert follower.to_check({"com_a": 1, "com_new": 1}) == [("com_a", 1), ("com_new", 1)]
    assert follower.to_check({"com_a": 1, "com_new": 1}) == []
