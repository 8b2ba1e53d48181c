"""Giving stored records the match features and blocking keys of this version (`python -m services.profile rekey`).

A record's keys are computed when it is written; a version that computes other keys (a new key
kind, a key's shape changed) finds stored records only by the keys both versions compute until
each record is written again. The command walks every stored record in key order, a chunk per
transaction, and adds the keys this version computes from its stored features where they are
missing. It can run beside the workers (a chunk locks its records' rows, as writing them does)
and again at any time (a key already stored is left as it is). Keys an older version computed
and this one does not stay: no lookup computes them, so none reads them; an erasure removes
them with the rest of the record.

Records holding an invalid email, phone or loyalty number, or secondary contacts, are restated
first: an older version stored no flagged form of the first (`MatchFeatures.flagged`) and did not
compare the others, so their features are computed again from what their sources stated, and
stored where they changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.kit.db import Pool, connection
from services.profile.adapters import blocking as blocking_db
from services.profile.adapters import identity as identity_db
from services.profile.domain.matching import blocking_keys

log = logging.getLogger(__name__)


@dataclass
class Rekeyed:
    records: int = 0
    keys_added: int = 0
    features_updated: int = 0


async def rekey(pool: Pool, *, chunk: int = 2000) -> Rekeyed:
    """Refresh the features of records this version reads otherwise, add the missing blocking keys of
    every stored record; what was done."""
    done = Rekeyed()
    await _refeature(pool, chunk=chunk, done=done)
    after = ("", "")
    while True:
        async with connection(pool, transaction=True) as conn:
            records = await blocking_db.records_after(conn, after, limit=chunk)
            if not records:
                return done
            done.keys_added += await blocking_db.add_blocking_keys(
                conn, [(key, blocking_keys(features)) for key, features in records]
            )
        done.records += len(records)
        after = records[-1][0]
        if done.records % (chunk * 50) == 0:
            log.info("rekey: %d records, %d keys added", done.records, done.keys_added)


async def _refeature(pool: Pool, *, chunk: int, done: Rekeyed) -> None:
    after = ("", "")
    while True:
        async with connection(pool, transaction=True) as conn:
            records = await identity_db.refeatured_records_after(conn, after, limit=chunk)
            if not records:
                return
            changed = []
            for key, record, stored in records:
                features = record.features().to_json()
                if features != stored.to_json():
                    changed.append((key, features))
            await identity_db.update_features(conn, changed)
        done.features_updated += len(changed)
        after = records[-1][0]
