-- Work queues: low scores an agent followed up, and the indexes the queues read by.

-- A low score stays in the follow-up queue until an agent records that they followed it up
-- (or the case it opened got its first response).
ALTER TABLE surveys ADD COLUMN followed_up_at timestamptz;
ALTER TABLE surveys ADD COLUMN followed_up_by text;
ALTER TABLE surveys ADD COLUMN follow_up_note text;
CREATE INDEX surveys_low_to_follow_up ON surveys (answered_at)
    WHERE followed_up_at IS NULL AND (csat <= 2 OR nps <= 6);

-- Active cases by assignee (my cases, unassigned) and by escalation.
CREATE INDEX cases_active_assignee ON cases (assignee, opened_at DESC) WHERE status NOT IN ('resolved', 'closed');
CREATE INDEX cases_active_escalated ON cases (opened_at DESC) WHERE escalated AND status NOT IN ('resolved', 'closed');
-- Breach reports look at cases opened in a period.
CREATE INDEX cases_opened ON cases (opened_at);
