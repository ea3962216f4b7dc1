-- Fair webhook claims (issue 18).
--
-- A worker counts each tenant's deliveries in flight (claimed, lease not lapsed) before
-- claiming more, so that one tenant's slow or dead endpoints hold at most
-- WEBHOOK_MAX_IN_FLIGHT_PER_TENANT sends at a time. Few rows are leased at any moment;
-- this index finds them without reading the pending backlog.
CREATE INDEX webhook_deliveries_leased_idx ON webhook_deliveries (endpoint_id)
    WHERE state = 'pending' AND lease_token IS NOT NULL;

-- Claims take each endpoint's oldest due deliveries, then go round the tenants: one short
-- scan of this index per endpoint, however many deliveries a tenant has pending.
CREATE INDEX webhook_deliveries_endpoint_due_idx
    ON webhook_deliveries (endpoint_id, next_attempt_at, id) WHERE state = 'pending';
