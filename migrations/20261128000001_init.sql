-- Tenants, their users and the users' API keys.
CREATE TABLE tenants (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email       text NOT NULL,
    is_admin    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_tenant_email_key ON users (tenant_id, lower(email));

-- Only the SHA-256 of a key is stored; the key itself is shown once, at creation.
CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash    bytea NOT NULL UNIQUE,
    key_prefix  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- One row per upload: the source of truth for polling; the Redis queue only carries the id.
CREATE TABLE import_jobs (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind                 text NOT NULL CHECK (kind IN ('opportunities', 'contacts', 'sales_targets')),
    state                text NOT NULL DEFAULT 'queued'
                         CHECK (state IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    file_name            text NOT NULL,
    file_size            bigint NOT NULL,
    column_mapping       jsonb,
    send_error_email     boolean NOT NULL DEFAULT false,
    rows_processed       bigint NOT NULL DEFAULT 0,
    total_original_rows  bigint,
    total_imported_rows  bigint,
    total_error_rows     bigint,
    error                text,
    attempts             integer NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL DEFAULT now(),
    started_at           timestamptz,
    finished_at          timestamptz,
    cancel_requested_at  timestamptz,
    email_claimed_at     timestamptz,
    email_sent_at        timestamptz,
    email_error          text
);
CREATE INDEX import_jobs_tenant_created_idx ON import_jobs (tenant_id, created_at DESC);

CREATE TABLE opportunities (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    external_opp_id      text NOT NULL,
    name                 text NOT NULL,
    amount               numeric,
    close_date           date,
    stage                text,
    forecast             text,
    owner_name           text,
    owner_email          text,
    external_account_id  text,
    account              text,
    website              text,
    type                 text,
    next_step            text,
    active               boolean NOT NULL DEFAULT true,
    activity_index       integer,
    relationship_index   integer,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, external_opp_id)
);
