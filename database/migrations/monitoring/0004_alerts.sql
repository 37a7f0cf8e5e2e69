-- Alert rules and their alerts. Portable DDL (MySQL/MariaDB and SQLite).

CREATE TABLE alert_rules (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    cluster_id VARCHAR(36) NOT NULL,
    name VARCHAR(63) NOT NULL,
    metric VARCHAR(32) NOT NULL,
    comparison VARCHAR(8) NOT NULL,
    threshold DOUBLE NOT NULL,
    for_ms BIGINT NOT NULL,
    severity BIGINT NOT NULL,
    request_id VARCHAR(64),
    fingerprint VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX alert_rules_name ON alert_rules (cluster_id, name);
CREATE UNIQUE INDEX alert_rules_request_id ON alert_rules (request_id);

CREATE TABLE alerts (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    rule_id VARCHAR(36) NOT NULL,
    rule_name VARCHAR(63) NOT NULL,
    cluster_id VARCHAR(36) NOT NULL,
    droplet_id VARCHAR(36) NOT NULL,
    state VARCHAR(16) NOT NULL,
    value DOUBLE NOT NULL,
    -- The newest sample that moved or kept the alert, so a redelivered
    -- older one cannot move it back.
    last_ms BIGINT NOT NULL,
    started_ms BIGINT NOT NULL,
    fired_ms BIGINT,
    resolved_ms BIGINT,
    -- rule/droplet while pending or firing, NULL once resolved: at most one
    -- open alert per rule and droplet, whatever replicas race.
    open_key VARCHAR(80)
);
CREATE UNIQUE INDEX alerts_open ON alerts (open_key);
CREATE INDEX alerts_cluster ON alerts (cluster_id, id);
CREATE INDEX alerts_rule ON alerts (rule_id, id);
