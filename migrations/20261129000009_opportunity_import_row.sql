-- The row an opportunities import binds: each chunk's upsert takes one array of these
-- instead of one array per column (Postgres materialises each unnested array on its own;
-- one array of records costs it less per row, see docs/performance.md). Every column an
-- import can write, in this order; columns absent from a file are sent as NULL and left out
-- of the statement.
CREATE TYPE opportunity_import_row AS (
    id                   uuid,
    external_opp_id      text,
    name                 text,
    amount               numeric,
    close_date           date,
    stage                text,
    owner_name           text,
    owner_email          text,
    external_account_id  text,
    account              text,
    website              text,
    type                 text,
    next_step            text
);
