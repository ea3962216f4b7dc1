-- Contacts, keyed by email (case-insensitive) per tenant.
CREATE TABLE contacts (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email         text NOT NULL,
    fullname      text,
    first_name    text,
    last_name     text,
    title         text,
    company_name  text,
    phone         text,
    mobile_phone  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX contacts_tenant_email_key ON contacts (tenant_id, lower(email));

-- A contact can belong to several opportunities.
CREATE TABLE contact_opportunities (
    contact_id      uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    opportunity_id  uuid NOT NULL REFERENCES opportunities (id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (contact_id, opportunity_id)
);
CREATE INDEX contact_opportunities_opportunity_idx ON contact_opportunities (opportunity_id);

-- Sales targets (quotas), one per rep and month; month is the first day of the month.
CREATE TABLE sales_targets (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    rep_email   text NOT NULL,
    month       date NOT NULL CHECK (date_trunc('month', month) = month),
    amount      numeric NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sales_targets_tenant_rep_month_key ON sales_targets (tenant_id, lower(rep_email), month);

CREATE INDEX import_jobs_tenant_kind_state_idx ON import_jobs (tenant_id, kind, state, created_at DESC);
