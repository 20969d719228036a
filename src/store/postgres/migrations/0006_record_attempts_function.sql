-- The attempt records of a batch (postgres/attempt-batch.ts), as one function call: one round
-- trip and one commit for the batch, as before, but simple statements whose plans the function
-- keeps, instead of one ten-part statement that cost ~0.4 ms to run for a single record (the
-- delivery of a lone destination waits for it between every two logs). Versioned by name: a
-- later change adds a new function, so instances still running the old code keep theirs.
--
-- For each record, in queue key order (as every writer of queue rows locks them, so concurrent
-- calls cannot deadlock): lock the queue row; if `owners[i]` no longer holds its lease (another
-- instance took the queue over), write nothing; else record the attempt, move the log, write the
-- alert the delivery engine raised, and update the queue (release, open alert, depth, mark).
CREATE FUNCTION switchboard_record_attempts_v1(
  org_ids text[], destination_ids text[], owners text[],
  attempt_ids text[], log_ids text[], numbers int[], started_ats bigint[], durations int[],
  request_urls text[], status_codes int[], response_excerpts text[], errors text[], outcomes text[],
  statuses text[], next_attempt_ats bigint[], next_attempt_ids text[], failed_reasons text[],
  finished_ats bigint[], releases boolean[],
  alert_ids text[], alert_kinds text[], alert_attempts int[], alert_errors text[], alert_created_ats bigint[])
RETURNS TABLE (key text, held boolean, paused_at bigint)
LANGUAGE plpgsql AS $$
DECLARE
  i int;
  queue record;
  log_seq bigint;
BEGIN
  FOR i IN
    SELECT u.n FROM unnest(org_ids, destination_ids) WITH ORDINALITY AS u(org_id, destination_id, n)
    ORDER BY u.org_id, u.destination_id
  LOOP
    SELECT s.lease_owner, s.paused_at INTO queue FROM queues s
    WHERE s.org_id = org_ids[i] AND s.destination_id = destination_ids[i] FOR UPDATE;
    key := attempt_ids[i];
    paused_at := queue.paused_at;
    held := queue.lease_owner IS NOT DISTINCT FROM owners[i] AND queue.lease_owner IS NOT NULL;
    IF held THEN
      INSERT INTO attempts (id, log_id, number, started_at, duration_ms, request_url, status_code,
        response_excerpt, error, outcome)
      VALUES (attempt_ids[i], log_ids[i], numbers[i], started_ats[i], durations[i], request_urls[i],
        status_codes[i], response_excerpts[i], errors[i], outcomes[i])
      ON CONFLICT (id) DO NOTHING;
      UPDATE logs SET status = statuses[i], attempt_count = attempt_count + 1,
        next_attempt_at = next_attempt_ats[i], next_attempt_id = next_attempt_ids[i],
        failed_reason = failed_reasons[i], updated_at = finished_ats[i]
      WHERE id = log_ids[i] RETURNING seq INTO log_seq;
      IF alert_kinds[i] IS NOT NULL THEN
        INSERT INTO alerts (id, org_id, destination_id, log_id, kind, attempts, error, created_at)
        VALUES (alert_ids[i], org_ids[i], destination_ids[i], log_ids[i], alert_kinds[i], alert_attempts[i],
          alert_errors[i], alert_created_ats[i]);
      END IF;
      IF releases[i] OR alert_kinds[i] IS NOT NULL OR statuses[i] <> 'pending' THEN
        UPDATE queues s SET
          lease_owner = CASE WHEN releases[i] THEN NULL ELSE s.lease_owner END,
          lease_expires_at = CASE WHEN releases[i] THEN NULL ELSE s.lease_expires_at END,
          alert_log_id = CASE alert_kinds[i] WHEN 'failing' THEN log_ids[i] WHEN 'recovered' THEN NULL
                         ELSE s.alert_log_id END,
          pending_count = s.pending_count - CASE WHEN statuses[i] <> 'pending' THEN 1 ELSE 0 END,
          -- The log itself left 'pending' above; below it, from the mark, nothing may be pending.
          pending_from = CASE WHEN statuses[i] <> 'pending' AND s.pending_from <= log_seq AND (
              SELECT p.seq FROM logs p WHERE p.org_id = s.org_id AND p.destination_id = s.destination_id
                AND p.seq >= s.pending_from AND p.seq < log_seq AND p.status = 'pending'
              ORDER BY p.seq LIMIT 1) IS NULL
            THEN log_seq + 1 ELSE s.pending_from END
        WHERE s.org_id = org_ids[i] AND s.destination_id = destination_ids[i];
      END IF;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;
