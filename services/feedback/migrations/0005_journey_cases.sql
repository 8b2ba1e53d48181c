-- Cases the trips service's journeys ask for (a disruption for the account manager, a call-back task).
ALTER TABLE cases DROP CONSTRAINT cases_source_check;
ALTER TABLE cases ADD CONSTRAINT cases_source_check CHECK (source IN ('survey', 'agent', 'journey'));
