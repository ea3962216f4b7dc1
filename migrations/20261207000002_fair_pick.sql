-- Issue 19: the fair pick. A worker takes the oldest queued job of the tenant with the
-- fewest jobs running and, among those, the one served longest ago: the latter is the
-- newest `started_at` of the tenant's jobs, read through this index.
CREATE INDEX import_jobs_tenant_started_idx ON import_jobs (tenant_id, started_at);

-- A tenant's live runs are counted at every pick: the running jobs only, by tenant, so
-- that a tenant with a long history costs what a new one does.
CREATE INDEX import_jobs_running_tenant_idx ON import_jobs (tenant_id) WHERE state = 'running';

-- Each tenant's queued jobs in upload order: the pick walks the tenants with queued jobs
-- and reads each one's oldest here, and `jobs_ahead` numbers them without a sort.
CREATE INDEX import_jobs_queued_tenant_idx ON import_jobs (tenant_id, created_at, id)
    WHERE state = 'queued';
