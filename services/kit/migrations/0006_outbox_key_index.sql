-- A batch published right after its commit first checks whether a row of one of its keys older
-- than its own is still in the outbox (see `_OLDER_OF_THE_SAME_KEYS` in services/kit/outbox.py).
-- Without an index on the key, that check read every older row of the outbox, live or dead, and
-- compared it with the batch's keys: 168 ms for a batch of 1,000 bookings behind a few thousand
-- rows. With it, the check is one index probe per key (2-3 ms for 1,000 keys, whatever the
-- backlog), for about 2 us of server time per row inserted.
CREATE INDEX outbox_key ON outbox (key, id);
