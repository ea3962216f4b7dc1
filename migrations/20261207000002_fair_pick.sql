-- Issue 19: the fair pick. A worker takes the oldest queued job of the tenant with the
-- fewest jobs running and, among those, the one served longest ago: the latter is the
-- newest `started_at` of the tenant's jobs, read through this index.
CREATE INDEX import_jobs_tenant_started_idx ON import_jobs (tenant_id, started_at);
