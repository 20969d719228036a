-- Attempts are read by log and written once, so they are kept in one b-tree ordered by log and
-- number (`WITHOUT ROWID`) instead of a rowid table plus its ID index plus a (log, number) index:
-- two fewer pages written with every attempt's commit (5.4 WAL frames per delivery before).
CREATE TABLE attempts_by_log (
  log_id TEXT NOT NULL,
  number INTEGER NOT NULL,
  id TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  request_url TEXT NOT NULL,
  status_code INTEGER,
  response_excerpt TEXT,
  error TEXT,
  outcome TEXT NOT NULL,
  PRIMARY KEY (log_id, number)
) WITHOUT ROWID;
INSERT INTO attempts_by_log (log_id, number, id, started_at, duration_ms, request_url, status_code,
    response_excerpt, error, outcome)
  SELECT log_id, number, id, started_at, duration_ms, request_url, status_code, response_excerpt, error, outcome
  FROM attempts WHERE true
  ON CONFLICT (log_id, number) DO NOTHING;
DROP TABLE attempts;
ALTER TABLE attempts_by_log RENAME TO attempts;
