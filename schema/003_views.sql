-- ftpmirror state, version 3: views for the questions operators ask.

-- The newest run of each job.
CREATE VIEW last_runs AS
SELECT r.* FROM runs r
WHERE r.id = (SELECT max(id) FROM runs WHERE job = r.job);

-- Jobs whose newest finished run did not succeed, with how many runs in a
-- row have failed and when the job last succeeded (NULL: never).
CREATE VIEW failing_jobs AS
SELECT r.job, r.status, r.finished_at, r.message,
       (SELECT count(*) FROM runs f WHERE f.job = r.job
         AND f.status IN ('failed', 'partial', 'aborted')
         AND f.id > coalesce((SELECT max(id) FROM runs o
                              WHERE o.job = r.job AND o.status = 'ok'), 0))
         AS failures_in_a_row,
       (SELECT max(finished_at) FROM runs o
         WHERE o.job = r.job AND o.status = 'ok') AS last_ok
FROM runs r
WHERE r.id = (SELECT max(id) FROM runs WHERE job = r.job AND status != 'running')
  AND r.status != 'ok';

-- What changed in the public trees, newest first.
CREATE VIEW recent_changes AS
SELECT e.time, r.job, e.action, e.path, e.bytes, e.detail, e.run_id
FROM events e JOIN runs r ON r.id = e.run_id
WHERE e.action IN ('add', 'change', 'delete')
ORDER BY e.id DESC;
