-- A queue's depth, kept on its row: one more when a log joins the queue, one less when one leaves
-- `pending`, in the same transactions. Counting the pending logs instead costs the whole backlog
-- at every look (and every metrics scrape).
ALTER TABLE queues ADD COLUMN pending_count BIGINT NOT NULL DEFAULT 0;
UPDATE queues SET pending_count = (SELECT count(*) FROM logs l WHERE l.org_id = queues.org_id
  AND l.destination_id = queues.destination_id AND l.seq >= queues.pending_from AND l.status = 'pending');
