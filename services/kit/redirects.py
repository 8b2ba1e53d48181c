"""Following merge redirects: a merged-away customer id points to its survivor, which may itself
have been merged since. One walk for every service, whatever holds the redirects (profile's
`customers.merged_into`, preferences' copy of it, the `redirect_to` of the kit's customer view).

The caller says how to read one hop: `read(ids)` returns, for each id it knows, the id it
redirects to, or None where the chain ends there. Ids are read a hop at a time for all chains
at once (one query per hop, not per id), and each id at most once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

MAX_REDIRECTS = 10  # merge chains are short: a survivor is active when it absorbs another

ReadHop = Callable[[list[str]], Awaitable[Mapping[str, str | None]]]


@dataclass(frozen=True)
class Followed:
    """Where an id's chain of redirects led.

    `chain`: the id asked, then each id it was redirected to, in order. `end`:
    - "current": `read` knows the last id and it redirects nowhere (the id to use now);
    - "unknown": `read` does not know the last id (the id asked, or a redirect's target);
    - "too-long": still redirecting after `max_hops` reads, or back to an id on the chain
      (the last id is the target of the last redirect read, not read itself).
    """

    chain: tuple[str, ...]
    end: Literal["current", "unknown", "too-long"]

    @property
    def current(self) -> str:
        return self.chain[-1]

    @property
    def found(self) -> str | None:
        """The id to use now, or None when the chain is unknown or too long."""
        return self.chain[-1] if self.end == "current" else None


async def follow_redirects(ids: Iterable[str], read: ReadHop, *, max_hops: int = MAX_REDIRECTS) -> dict[str, Followed]:
    """Each id's chain of redirects, read a hop at a time for all ids (at most `max_hops` reads)."""
    chains = {i: [i] for i in dict.fromkeys(ids)}
    hops: dict[str, str | None] = {}  # what `read` said of each id read so far
    known: set[str] = set()
    done: dict[str, Followed] = {}
    for _ in range(max_hops):
        if not chains:
            break
        wanted = sorted({chain[-1] for chain in chains.values()} - known)
        if wanted:
            got = await read(wanted)
            for i in wanted:
                known.add(i)
                if i in got:
                    hops[i] = got[i]
        moving: dict[str, list[str]] = {}
        for asked, chain in chains.items():
            at = chain[-1]
            if at not in hops:
                done[asked] = Followed(tuple(chain), "unknown")
                continue
            target = hops[at]
            if target is None:
                done[asked] = Followed(tuple(chain), "current")
            elif target in chain:
                done[asked] = Followed(tuple(chain), "too-long")
            else:
                moving[asked] = [*chain, target]
        chains = moving
    for asked, chain in chains.items():
        done[asked] = Followed(tuple(chain), "too-long")
    return done


async def follow_one(id_: str, read: ReadHop, *, max_hops: int = MAX_REDIRECTS) -> Followed:
    """`follow_redirects` for one id."""
    return (await follow_redirects([id_], read, max_hops=max_hops))[id_]
