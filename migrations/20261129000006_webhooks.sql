-- Webhook endpoints of a tenant and the deliveries owed to them (issue 9, part 5).
-- Postgres is the only truth: a job's end inserts its deliveries in the same transaction,
-- and workers claim due deliveries from here (FOR UPDATE SKIP LOCKED plus a lease).

CREATE TABLE webhook_endpoints (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url          text NOT NULL,
    description  text,
    -- Kept to sign deliveries (HMAC needs the secret itself); shown once at creation and
    -- never returned or logged afterwards.
    secret       text NOT NULL,
    created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_tenant_created_idx ON webhook_endpoints (tenant_id, created_at DESC);

-- One row per (endpoint, finished job). Deleting the endpoint deletes its deliveries,
-- which stops the pending ones.
CREATE TABLE webhook_deliveries (
    id                uuid PRIMARY KEY,
    endpoint_id       uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    job_id            uuid NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    event             text NOT NULL,
    -- The exact body sent (and signed) on every attempt: the job as it was when it ended.
    payload           text NOT NULL,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'delivered', 'failed')),
    -- Attempts started; counted when a worker claims the delivery, so a worker that dies
    -- mid-send still uses one up.
    attempts          integer NOT NULL DEFAULT 0,
    -- When a pending delivery is due; while a worker holds it, when its lease lapses.
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    lease_token       uuid,
    last_attempt_at   timestamptz,
    last_status_code  integer,
    last_error        text,
    last_duration_ms  integer,
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, job_id, event)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_endpoint_created_idx ON webhook_deliveries (endpoint_id, created_at DESC);
CREATE INDEX webhook_deliveries_job_idx ON webhook_deliveries (job_id);
