-- The reconciler's view of each job (see the jobs service):
-- deadline: when the current attempt must have ended; an attempt still
--   unfinished a margin later is failed (and retried per max_attempts).
-- retry_at: a failed attempt's retry waiting out its backoff; the next
--   attempt is requested then.
ALTER TABLE jobs ADD COLUMN deadline BIGINT;
ALTER TABLE jobs ADD COLUMN retry_at BIGINT;
CREATE INDEX jobs_deadline ON jobs (status, deadline);
CREATE INDEX jobs_retry_at ON jobs (retry_at);
