-- A source record is restated part by part: a later event that does not state a field keeps
-- the value an earlier one stated (domain/restating.py). For each field kept from an earlier
-- statement, when it was stated (ISO timestamps by golden field name; fields stated when the
-- record was last seen are left out): survivorship's recency compares statements, not events.
ALTER TABLE source_records ADD COLUMN stated_at jsonb NOT NULL DEFAULT '{}'::jsonb;
