-- One relay publishes a database's outbox at a time (cg_runtime::outbox):
-- replicas take turns through a lease row, so no row is published twice
-- under normal operation and per-key order holds.
CREATE TABLE runtime_leases (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    holder VARCHAR(64) NOT NULL,
    expires_at BIGINT NOT NULL
);

-- A row the broker keeps refusing (too large, invalid topic) is parked
-- with its error after a few tries, so the rows behind it flow on.
ALTER TABLE outbox ADD COLUMN attempts INT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN last_error VARCHAR(1024);
ALTER TABLE outbox ADD COLUMN parked_at BIGINT;
