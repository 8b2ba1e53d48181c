-- Alerts to staff (an escalated case to its assignee or the supervisors), sent by their own worker.
-- One alert per escalation event: a re-delivered event finds its row and adds nothing.

CREATE TABLE staff_alerts (
    alert_id        text        PRIMARY KEY,              -- the escalation event's id
    case_id         text        NOT NULL,
    customer_id     text        NOT NULL,
    recipient       text        NOT NULL,                 -- an agent, `team:<name>` or `supervisors`
    email           text        NOT NULL,
    subject         text        NOT NULL,
    body            text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),   -- also the lease of a claimed alert
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX staff_alerts_due ON staff_alerts (next_attempt_at) WHERE status = 'pending';
CREATE INDEX staff_alerts_customer ON staff_alerts (customer_id);
