-- The `completed_after` filter of a job list (jobs finished since a time, e.g. what a
-- plugin polls for new outputs): only finished jobs have a completed_at.
CREATE INDEX render_job_completed_at_idx ON render_job (completed_at)
    WHERE completed_at IS NOT NULL;
