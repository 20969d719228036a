-- As in the embedded store's migration 2: a log leaving 'pending' no longer changes an index (the
-- partial index made every such update a non-HOT one, with new entries in every index of logs
-- and a dead entry left behind in the pending index for the head scans to step over).
-- queues.pending_from (no pending log of the queue below it) finds the head instead; room left
-- in each page lets the status updates stay HOT.
ALTER TABLE queues ADD COLUMN pending_from BIGINT NOT NULL DEFAULT 0;
UPDATE queues SET pending_from = coalesce(
  (SELECT min(l.seq) FROM logs l WHERE l.org_id = queues.org_id AND l.destination_id = queues.destination_id
     AND l.status = 'pending'),
  next_seq + 1);
DROP INDEX logs_pending;
CREATE INDEX logs_queue ON logs (org_id, destination_id, seq);
ALTER TABLE logs SET (fillfactor = 80);
