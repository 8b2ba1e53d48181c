-- Rows a process publishes itself right after its commit (the kit's consumers collect what their
-- handlers enqueue) no longer wake every relay of the schema. Each relay used to sweep on such a
-- NOTIFY: it took the publishing lock, read the rows another process was about to publish, and
-- published them itself, while that process's publish waited for the lock. The inserting
-- transaction says so with `SET LOCAL itinera.outbox_direct = 'on'`; rows inserted without it
-- (API requests, jobs) wake the relays as before, and a relay's poll still finds whatever a
-- direct publish left behind.
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('itinera.outbox_direct', true), '') <> 'on' THEN
        PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
    END IF;
    RETURN NULL;
END $$;
