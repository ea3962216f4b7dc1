-- Filters and keyset pagination of the data lists (opportunities, contacts, sales targets).
-- Each list walks an index in its own order, `WHERE (tenant) AND key > cursor ORDER BY key
-- LIMIT n`, so a deep page costs what the first does. Opportunities walk the unique
-- (tenant_id, external_opp_id) and contacts the unique (tenant_id, lower(email)) that exist
-- already; sales targets are listed by month, then rep, which no index had.
CREATE INDEX sales_targets_tenant_month_rep_idx ON sales_targets (tenant_id, month, lower(rep_email));

-- "My opportunities" (owner=me, owner_email=…): a rep owns a small part of the tenant's
-- opportunities, which a walk of the whole list in id order would filter out row by row.
-- Ordered by external id within the owner, so the owner's pages are keyset pages too.
CREATE INDEX opportunities_tenant_owner_idx ON opportunities (tenant_id, lower(owner_email), external_opp_id);

-- Only these: every index is written by every import that changes its columns, and the
-- other filters (stage, dates, q) keep a larger share of the rows, so walking the id order
-- and filtering is cheap enough (docs/performance.md).
