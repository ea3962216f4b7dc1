-- API keys managed through the API (`/api/v1/keys`) and the dashboard: each key carries its
-- own role (authorization reads the key's role, no longer the user's `is_admin`, so one
-- person can hold an admin key and a narrower member key), a label people recognise it by,
-- who made it, when it was last used and when it stops working.
ALTER TABLE api_keys
    ADD COLUMN label        text CHECK (label IS NULL OR char_length(label) BETWEEN 1 AND 100),
    ADD COLUMN role         text NOT NULL DEFAULT 'member' CHECK (role IN ('admin', 'member')),
    -- The key that created this one; NULL for keys made by `batch-import keys create` or the
    -- first-start bootstrap. A creator revoked later stays named (keys are never deleted).
    ADD COLUMN created_by   uuid REFERENCES api_keys (id) ON DELETE SET NULL,
    -- Recorded at most about once a minute per key (see `db::accounts::find_principal`).
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN expires_at   timestamptz;

-- Existing keys keep the rights they had: their user's.
UPDATE api_keys k SET role = 'admin' FROM users u WHERE u.id = k.user_id AND u.is_admin;

-- Every insert names the role from now on.
ALTER TABLE api_keys ALTER COLUMN role DROP DEFAULT;

-- A tenant's keys are reached through its users: list them, count its admins.
CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at);
