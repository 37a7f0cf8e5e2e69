-- The runtime's tables, applied to every service's database by the service
-- kit (versions 100000+ are the runtime's; a service's own start at 1).
-- Portable DDL: this file runs unchanged on MySQL/MariaDB and on SQLite.

-- Transactional outbox (see cg_runtime::outbox): a state change and the
-- event announcing it commit together; the relay publishes unsent rows in
-- id order and stamps sent_at.
CREATE TABLE outbox (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    topic VARCHAR(249) NOT NULL,
    event_key VARCHAR(255) NOT NULL,
    event_type VARCHAR(255) NOT NULL,
    payload BLOB NOT NULL,
    traceparent VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbox_unsent ON outbox (sent_at, id);
