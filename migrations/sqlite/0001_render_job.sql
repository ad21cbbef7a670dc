-- render-engine job store, SQLite.
-- Times are INTEGER microseconds since the Unix epoch (UTC); JSON is TEXT.
CREATE TABLE render_job (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT, -- creation order (FIFO tie-break)
    id                  TEXT    NOT NULL UNIQUE,
    product_id          TEXT    NOT NULL,
    variant_id          TEXT,
    status              TEXT    NOT NULL CHECK (status IN
                            ('pending', 'compositing', 'rendering', 'completed', 'failed', 'cancelled')),
    design_file_url     TEXT    NOT NULL,
    composited_file_url TEXT,
    rendered_image_url  TEXT,
    animation_url       TEXT,
    preset              TEXT    NOT NULL,
    template_id         TEXT,
    error_code          TEXT,
    error_message       TEXT,
    attempt             INTEGER NOT NULL CHECK (attempt >= 1),
    max_attempts        INTEGER NOT NULL CHECK (max_attempts >= 1),
    started_at          INTEGER,
    completed_at        INTEGER,
    metadata            TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    deleted_at          INTEGER,
    -- the queue
    priority            INTEGER NOT NULL DEFAULT 0,
    run_at              INTEGER NOT NULL,
    version             INTEGER NOT NULL DEFAULT 1,
    lease_owner         TEXT,
    lease_token         TEXT,
    lease_expires_at    INTEGER,
    heartbeat_at        INTEGER,
    cancel_requested_at INTEGER,
    idempotency_key     TEXT UNIQUE,
    errors              TEXT    NOT NULL DEFAULT '[]',
    CHECK ((lease_token IS NULL) = (lease_expires_at IS NULL))
);

CREATE INDEX render_job_product_id_idx ON render_job (product_id);
CREATE INDEX render_job_variant_id_idx ON render_job (variant_id);
CREATE INDEX render_job_status_idx ON render_job (status);
CREATE INDEX render_job_created_at_idx ON render_job (created_at DESC, id DESC);
-- serves the claim: the claimable rows in claim order
CREATE INDEX render_job_claim_idx ON render_job (priority DESC, run_at, seq)
    WHERE status = 'pending' AND lease_token IS NULL AND deleted_at IS NULL;
-- serves the rescuer
CREATE INDEX render_job_lease_idx ON render_job (lease_expires_at)
    WHERE lease_token IS NOT NULL;
