"""Following merge redirects (`services.kit.redirects`): one walk for every service."""

from __future__ import annotations

from collections.abc import Mapping

from services.kit.redirects import Followed, follow_one, follow_redirects


class Hops:
    """A fake redirect table that records what each read asked for."""

    def __init__(self, table: Mapping[str, str | None]) -> None:
        self.table = dict(table)
        self.reads: list[list[str]] = []

    async def __call__(self, ids: list[str]) -> dict[str, str | None]:
        self.reads.append(list(ids))
        return {i: self.table[i] for i in ids if i in self.table}


async def test_an_active_id_is_its_own_current_id() -> None:
    hops = Hops({"a": None})
    assert await follow_one("a", hops) == Followed(("a",), "current")
    assert hops.reads == [["a"]]


async def test_a_chain_of_merges_leads_to_the_survivor() -> None:
    followed = await follow_one("a", Hops({"a": "b", "b": "c", "c": None}))
    assert followed.chain == ("a", "b", "c")
    assert followed.found == "c"


async def test_an_unknown_id_or_a_redirect_to_one_is_unknown() -> None:
    hops = Hops({"a": "gone"})
    assert await follow_one("x", hops) == Followed(("x",), "unknown")
    followed = await follow_one("a", hops)
    assert followed == Followed(("a", "gone"), "unknown")
    assert followed.found is None
    assert followed.current == "gone"


async def test_a_chain_longer_than_the_hops_is_too_long_and_ends_at_the_last_target() -> None:
    table: dict[str, str | None] = {f"c{i}": f"c{i + 1}" for i in range(30)}
    hops = Hops(table)
    followed = await follow_one("c0", hops, max_hops=10)
    assert followed.end == "too-long"
    assert followed.found is None
    assert followed.current == "c10"  # the target of the tenth read
    assert len(hops.reads) == 10


async def test_a_cycle_stops_where_it_closes() -> None:
    followed = await follow_one("a", Hops({"a": "b", "b": "a"}))
    assert followed == Followed(("a", "b"), "too-long")
    assert followed.found is None


async def test_many_ids_are_read_a_hop_at_a_time_and_each_id_once() -> None:
    hops = Hops({"a": "s", "b": "a", "s": None, "x": None})
    followed = await follow_redirects(["a", "b", "x", "unknown"], hops)
    assert {k: f.found for k, f in followed.items()} == {"a": "s", "b": "s", "x": "x", "unknown": None}
    assert followed["b"].chain == ("b", "a", "s")
    assert hops.reads == [["a", "b", "unknown", "x"], ["s"]]


async def test_nothing_asked_reads_nothing() -> None:
    hops = Hops({})
    assert await follow_redirects([], hops) == {}
    assert hops.reads == []
