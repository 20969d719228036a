-- A log leaving `pending` used to delete its entry from a partial index, one index page per
-- destination in every commit. Now the index holds every log of a queue and never changes after
-- insert; `pending_from` (no pending log of the queue has a lower seq) lets the head be found
-- without scanning the queue's history.
ALTER TABLE queues ADD COLUMN pending_from INTEGER NOT NULL DEFAULT 0;
UPDATE queues SET pending_from = coalesce(
  (SELECT min(l.seq) FROM logs l WHERE l.org_id = queues.org_id AND l.destination_id = queues.destination_id
     AND l.status = 'pending'),
  next_seq + 1);
DROP INDEX logs_pending;
CREATE INDEX logs_queue ON logs (org_id, destination_id, seq);
