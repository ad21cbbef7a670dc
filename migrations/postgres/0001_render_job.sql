-- render-engine job store, PostgreSQL.
CREATE TABLE render_job (
    seq                 bigint      GENERATED ALWAYS AS IDENTITY, -- creation order (FIFO tie-break)
    id                  text        PRIMARY KEY,
    product_id          text        NOT NULL,
    variant_id          text,
    status              text        NOT NULL CHECK (status IN
                            ('pending', 'compositing', 'rendering', 'completed', 'failed', 'cancelled')),
    design_file_url     text        NOT NULL,
    composited_file_url text,
    rendered_image_url  text,
    animation_url       text,
    preset              text        NOT NULL,
    template_id         text,
    error_code          text,
    error_message       text,
    attempt             integer     NOT NULL CHECK (attempt >= 1),
    max_attempts        integer     NOT NULL CHECK (max_attempts >= 1),
    started_at          timestamptz,
    completed_at        timestamptz,
    metadata            jsonb,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    deleted_at          timestamptz,
    -- the queue
    priority            integer     NOT NULL DEFAULT 0,
    run_at              timestamptz NOT NULL DEFAULT now(),
    version             bigint      NOT NULL DEFAULT 1,
    lease_owner         text,
    lease_token         text,
    lease_expires_at    timestamptz,
    heartbeat_at        timestamptz,
    cancel_requested_at timestamptz,
    idempotency_key     text        UNIQUE,
    errors              jsonb       NOT NULL DEFAULT '[]',
    CHECK ((lease_token IS NULL) = (lease_expires_at IS NULL))
);

CREATE UNIQUE INDEX render_job_seq_idx ON render_job (seq);
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
