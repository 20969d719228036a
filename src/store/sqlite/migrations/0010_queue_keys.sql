-- Ordering keys (SPEC 5.2), second part: per-key queues. A keyed destination's pending logs
-- (logs.ordering_key NOT NULL) are grouped by key in `queue_keys`, one row per key with pending
-- logs (deleted when its last one leaves, so the table holds the backlog's keys, not history):
-- its depth, its head (the key's oldest pending log) and when that head is due, and since when
-- it has been blocked (its head failed and waits for a retry). Kept in the same transactions as
-- the logs. The delivery engine finds ready keys in due order through `queue_keys_due`, never by
-- walking a blocked key's backlog; a key's next head is one step of `logs_key` from its head.
CREATE TABLE queue_keys (
  org_id TEXT NOT NULL,
  destination_id TEXT NOT NULL,
  key TEXT NOT NULL,
  pending_count INTEGER NOT NULL,
  head_seq INTEGER NOT NULL,
  head_due INTEGER NOT NULL,
  blocked_since INTEGER,
  PRIMARY KEY (org_id, destination_id, key)
);
CREATE INDEX queue_keys_due ON queue_keys (org_id, destination_id, head_due, head_seq);
CREATE INDEX queue_keys_oldest ON queue_keys (org_id, destination_id, head_seq);
CREATE INDEX queue_keys_blocked ON queue_keys (org_id, destination_id, blocked_since)
  WHERE blocked_since IS NOT NULL;
-- A key's logs in order (`logs_key`): migration 11, as on PostgreSQL.
-- How many of a queue's pending logs are keyed: the rest are delivered strictly in sequence
-- order from `pending_from`, which only unkeyed logs move.
ALTER TABLE queues ADD COLUMN keyed_count INTEGER NOT NULL DEFAULT 0;
-- Keyed logs queued before this version (delivered strictly in order until now) join their keys.
INSERT INTO queue_keys (org_id, destination_id, key, pending_count, head_seq, head_due, blocked_since)
SELECT l.org_id, l.destination_id, l.ordering_key, count(*), min(l.seq),
  (SELECT h.next_attempt_at FROM logs h WHERE h.org_id = l.org_id AND h.destination_id = l.destination_id
     AND h.ordering_key = l.ordering_key AND h.status = 'pending' ORDER BY h.seq LIMIT 1),
  NULL
FROM logs l WHERE l.status = 'pending' AND l.ordering_key IS NOT NULL AND l.destination_id IS NOT NULL
GROUP BY l.org_id, l.destination_id, l.ordering_key;
UPDATE queues SET keyed_count = (SELECT coalesce(sum(k.pending_count), 0) FROM queue_keys k
  WHERE k.org_id = queues.org_id AND k.destination_id = queues.destination_id);
