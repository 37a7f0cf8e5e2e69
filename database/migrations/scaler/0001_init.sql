-- Scaling policies, per-cluster settings and evaluation state, and the
-- decisions made. Portable DDL (MySQL/MariaDB and SQLite); JSON goes in
-- BLOB columns, which both read back as bytes (MEDIUMBLOB where 64 KiB may
-- not do: an hour of a flapping history, a decision over many policies;
-- SQLite reads any *BLOB as a blob).

CREATE TABLE scaling_policies (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    cluster_id VARCHAR(36) NOT NULL,
    name VARCHAR(63) NOT NULL,
    metric VARCHAR(32) NOT NULL,
    target_value DOUBLE NOT NULL,
    min_droplets BIGINT NOT NULL,
    max_droplets BIGINT NOT NULL,
    size VARCHAR(64) NOT NULL,
    image VARCHAR(64) NOT NULL,
    up_window_ms BIGINT NOT NULL,
    down_window_ms BIGINT NOT NULL,
    -- JSON array of schedules (cron, time zone, duration, min, max).
    schedules BLOB NOT NULL,
    enabled BIGINT NOT NULL,
    request_id VARCHAR(64),
    fingerprint VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX scaling_policies_name ON scaling_policies (cluster_id, name);
CREATE UNIQUE INDEX scaling_policies_request_id ON scaling_policies (request_id);

-- One row per cluster the scaler has settings or history for. `version`
-- makes every write a compare-and-set: of two replicas that evaluated the
-- same cluster at once (a rebalance overlap), only one records and acts.
CREATE TABLE scaling_clusters (
    cluster_id VARCHAR(36) NOT NULL PRIMARY KEY,
    monthly_cost_cap_cents BIGINT NOT NULL,
    -- JSON: recent proposals and scale events (the stabilization history).
    history MEDIUMBLOB NOT NULL,
    -- The last scaling job created, until it is seen to finish.
    last_job_id VARCHAR(36),
    -- A decision recorded to act whose job is not confirmed yet: the next
    -- evaluation asks jobs again (idempotent by the decision id).
    pending_decision_id VARCHAR(36),
    -- What the last recorded decision said, to record changes only.
    last_summary VARCHAR(255),
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE scaling_decisions (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    -- Commit order, from scaling_sequence: watchers tail by it (ids are
    -- made before their transaction, so they can commit out of order).
    -- A decision that gets its job takes a new one, to be streamed again.
    seq BIGINT NOT NULL,
    cluster_id VARCHAR(36) NOT NULL,
    action VARCHAR(16) NOT NULL,
    -- The policy ids that took part, space-separated with a space before
    -- the first and after the last, so LIKE '% id %' finds whole ids.
    policy_ids BLOB NOT NULL,
    -- The whole decision (JSON): inputs, recommendations, reasons, job.
    body MEDIUMBLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX scaling_decisions_cluster ON scaling_decisions (cluster_id, id);
CREATE UNIQUE INDEX scaling_decisions_seq ON scaling_decisions (seq);

-- The decisions' sequence. Taking a number updates this row, whose lock is
-- held until commit: numbers commit in the order they are taken.
CREATE TABLE scaling_sequence (
    name VARCHAR(32) NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO scaling_sequence (name, value) VALUES ('decisions', 0);
