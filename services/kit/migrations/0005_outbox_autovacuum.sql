-- Every outbox row is deleted within moments of its insert, so the table is almost all dead rows
-- between vacuums: at 2,000 bookings/s a preferences worker's outbox grew to 150 MB of them
-- (100,000 dead rows, 4,000 live) within a minute, and every read of it (the relay's, the check
-- of a committed batch for older rows of its keys) walked them. Vacuum it after every 5,000 dead
-- rows, whatever its size, and without the cost-based pauses. How soon autovacuum looks at a table
-- at all is the server's `autovacuum_naptime` (see the README's operations section).
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 5000,
    autovacuum_vacuum_cost_delay = 0
);
