-- The running attempt's progress as its worker last recorded it (attempt, stage, percent,
-- message, eta_seconds, updated_at); NULL when the job is not running.
ALTER TABLE render_job ADD COLUMN progress jsonb;
