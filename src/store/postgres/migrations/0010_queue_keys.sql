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
  head_seq BIGINT NOT NULL,
  head_due BIGINT NOT NULL,
  blocked_since BIGINT,
  PRIMARY KEY (org_id, destination_id, key)
);
CREATE INDEX queue_keys_due ON queue_keys (org_id, destination_id, head_due, head_seq);
CREATE INDEX queue_keys_oldest ON queue_keys (org_id, destination_id, head_seq);
CREATE INDEX queue_keys_blocked ON queue_keys (org_id, destination_id, blocked_since)
  WHERE blocked_since IS NOT NULL;
-- A key's logs in order (`logs_key`): built without blocking writes in migration 11.
-- How many of a queue's pending logs are keyed: the rest are delivered strictly in sequence
-- order from `pending_from`, which only unkeyed logs move.
ALTER TABLE queues ADD COLUMN keyed_count BIGINT NOT NULL DEFAULT 0;
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

-- Attempt records (postgres/attempt-batch.ts) that also keep ordering keys: as v1 (migration 6),
-- plus for a keyed log (`ordering_keys[i]` not NULL) its key row: a retry sets when the key's
-- head is due and since when the key is blocked; a log that leaves `pending` moves its key's head
-- to the key's next pending log (or deletes the key row) and leaves the queue's unkeyed mark
-- alone. An unkeyed log's mark moves past unkeyed logs only. Queue row first, then key row, as
-- the accept path locks them, so concurrent calls cannot deadlock. A log no longer pending (an
-- operator skipped it while its attempt was in flight) keeps its status; the attempt is recorded.
CREATE FUNCTION switchboard_record_attempts_v2(
  org_ids text[], destination_ids text[], owners text[],
  attempt_ids text[], log_ids text[], numbers int[], started_ats bigint[], durations int[],
  request_urls text[], status_codes int[], response_excerpts text[], errors text[], outcomes text[],
  statuses text[], next_attempt_ats bigint[], next_attempt_ids text[], failed_reasons text[],
  finished_ats bigint[], releases boolean[],
  alert_ids text[], alert_kinds text[], alert_attempts int[], alert_errors text[], alert_created_ats bigint[],
  ordering_keys text[])
RETURNS TABLE (key text, held boolean, paused_at bigint)
LANGUAGE plpgsql AS $$
DECLARE
  i int;
  queue record;
  log_seq bigint;
  left_queue boolean;
  keyed boolean;
  key_left bigint;
BEGIN
  FOR i IN
    SELECT u.n FROM unnest(org_ids, destination_ids) WITH ORDINALITY AS u(org_id, destination_id, n)
    -- Records of one queue (several keys) in the order given, as their runner made them.
    ORDER BY u.org_id, u.destination_id, u.n
  LOOP
    SELECT s.lease_owner, s.paused_at INTO queue FROM queues s
    WHERE s.org_id = org_ids[i] AND s.destination_id = destination_ids[i] FOR UPDATE;
    key := attempt_ids[i];
    paused_at := queue.paused_at;
    held := queue.lease_owner IS NOT DISTINCT FROM owners[i] AND queue.lease_owner IS NOT NULL;
    IF held THEN
      left_queue := statuses[i] <> 'pending';
      keyed := ordering_keys[i] IS NOT NULL;
      INSERT INTO attempts (id, log_id, number, started_at, duration_ms, request_url, status_code,
        response_excerpt, error, outcome)
      VALUES (attempt_ids[i], log_ids[i], numbers[i], started_ats[i], durations[i], request_urls[i],
        status_codes[i], response_excerpts[i], errors[i], outcomes[i])
      ON CONFLICT (id) DO NOTHING;
      UPDATE logs SET status = statuses[i], attempt_count = attempt_count + 1,
        next_attempt_at = next_attempt_ats[i], next_attempt_id = next_attempt_ids[i],
        failed_reason = failed_reasons[i], updated_at = finished_ats[i]
      WHERE id = log_ids[i] AND status = 'pending' RETURNING seq INTO log_seq;
      -- An operator skipped the log meanwhile (it is `failed`): the queue and key moved on then.
      IF NOT FOUND THEN
        left_queue := false;
        keyed := false;
      END IF;
      IF alert_kinds[i] IS NOT NULL THEN
        INSERT INTO alerts (id, org_id, destination_id, log_id, kind, attempts, error, created_at)
        VALUES (alert_ids[i], org_ids[i], destination_ids[i], log_ids[i], alert_kinds[i], alert_attempts[i],
          alert_errors[i], alert_created_ats[i]);
      END IF;
      IF releases[i] OR alert_kinds[i] IS NOT NULL OR left_queue THEN
        UPDATE queues s SET
          lease_owner = CASE WHEN releases[i] THEN NULL ELSE s.lease_owner END,
          lease_expires_at = CASE WHEN releases[i] THEN NULL ELSE s.lease_expires_at END,
          alert_log_id = CASE alert_kinds[i] WHEN 'failing' THEN log_ids[i] WHEN 'recovered' THEN NULL
                         ELSE s.alert_log_id END,
          pending_count = s.pending_count - CASE WHEN left_queue THEN 1 ELSE 0 END,
          keyed_count = s.keyed_count - CASE WHEN left_queue AND keyed THEN 1 ELSE 0 END,
          -- An unkeyed log left 'pending' above; below it, from the mark, no unkeyed log may be pending.
          pending_from = CASE WHEN left_queue AND NOT keyed AND s.pending_from <= log_seq AND (
              SELECT p.seq FROM logs p WHERE p.org_id = s.org_id AND p.destination_id = s.destination_id
                AND p.seq >= s.pending_from AND p.seq < log_seq AND p.status = 'pending'
                AND p.ordering_key IS NULL
              ORDER BY p.seq LIMIT 1) IS NULL
            THEN log_seq + 1 ELSE s.pending_from END
        WHERE s.org_id = org_ids[i] AND s.destination_id = destination_ids[i];
      END IF;
      IF keyed AND left_queue THEN
        -- The key's next head lies after this log (a walk of logs_key from it on).
        UPDATE queue_keys k SET pending_count = k.pending_count - 1, blocked_since = NULL,
          head_seq = coalesce(n.seq, k.head_seq), head_due = coalesce(n.next_attempt_at, k.head_due)
        FROM (SELECT 1) one LEFT JOIN LATERAL (SELECT p.seq, p.next_attempt_at FROM logs p
            WHERE p.org_id = org_ids[i] AND p.destination_id = destination_ids[i]
              AND p.ordering_key = ordering_keys[i] AND p.status = 'pending' AND p.seq > log_seq
            ORDER BY p.seq LIMIT 1) n ON true
        WHERE k.org_id = org_ids[i] AND k.destination_id = destination_ids[i] AND k.key = ordering_keys[i]
        RETURNING k.pending_count INTO key_left;
        IF key_left <= 0 THEN
          DELETE FROM queue_keys k WHERE k.org_id = org_ids[i] AND k.destination_id = destination_ids[i]
            AND k.key = ordering_keys[i];
        END IF;
      ELSIF keyed THEN
        UPDATE queue_keys k SET head_due = next_attempt_ats[i],
          blocked_since = coalesce(k.blocked_since, finished_ats[i])
        WHERE k.org_id = org_ids[i] AND k.destination_id = destination_ids[i] AND k.key = ordering_keys[i];
      END IF;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;
