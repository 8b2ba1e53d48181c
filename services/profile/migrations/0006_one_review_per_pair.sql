-- Review items: one open item per pair of customers, whichever of the two the record that
-- raised it belongs to (the same pair met from both sides made two items, more or fewer
-- depending on the order records were processed in). Of duplicates the best-scored stays.
UPDATE review_queue r SET status = 'superseded', decided_at = now()
 WHERE r.status = 'open'
   AND EXISTS (
        SELECT 1 FROM review_queue o
         WHERE o.status = 'open' AND o.review_id <> r.review_id
           AND LEAST(o.customer_id, o.candidate_id) = LEAST(r.customer_id, r.candidate_id)
           AND GREATEST(o.customer_id, o.candidate_id) = GREATEST(r.customer_id, r.candidate_id)
           AND (o.score > r.score OR (o.score = r.score AND o.review_id < r.review_id)));
DROP INDEX review_queue_open_pair;
CREATE UNIQUE INDEX review_queue_open_pair
    ON review_queue (LEAST(customer_id, candidate_id), GREATEST(customer_id, candidate_id))
    WHERE status = 'open';

-- The review items a merge closed (accepted or superseded) or moved from the absorbed
-- customer to the survivor: undoing the merge puts them back in the queue as they were.
ALTER TABLE merges ADD COLUMN reviews jsonb;
