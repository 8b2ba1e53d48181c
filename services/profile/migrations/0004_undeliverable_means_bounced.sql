-- An address is undeliverable only when mail to it bounced or the mail server refused the
-- recipient. Earlier versions also marked addresses after failures that say nothing about
-- the address (no consent, expired, already marked, not rendered): those marks go. The
-- customers' snapshots say `email_deliverable` again at their next change; an agent can
-- also clear a mark (DELETE /v1/customers/{id}/email-undeliverable).
DELETE FROM undeliverable_emails
 WHERE reason LIKE 'no consent for %'
    OR reason = 'email address is marked undeliverable'
    OR reason = 'no email address on file'
    OR reason LIKE 'expired:%'
    OR reason LIKE 'no contact data:%'
    OR reason LIKE 'could not render:%'
    OR reason LIKE 'channel % is not available yet';
