-- Synthetic health checks, their verdicts per droplet and their results.
-- Portable DDL (MySQL/MariaDB and SQLite).

CREATE TABLE health_checks (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    cluster_id VARCHAR(36) NOT NULL,
    name VARCHAR(63) NOT NULL,
    kind VARCHAR(8) NOT NULL,
    port BIGINT NOT NULL,
    path VARCHAR(255) NOT NULL,
    interval_ms BIGINT NOT NULL,
    timeout_ms BIGINT NOT NULL,
    unhealthy_threshold BIGINT NOT NULL,
    healthy_threshold BIGINT NOT NULL,
    enabled BIGINT NOT NULL,
    -- When the next round is due; replicas claim a round by moving it
    -- (a conditional update), so each round runs once.
    next_run_ms BIGINT NOT NULL,
    request_id VARCHAR(64),
    fingerprint VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX health_checks_name ON health_checks (cluster_id, name);
CREATE UNIQUE INDEX health_checks_request_id ON health_checks (request_id);
CREATE INDEX health_checks_due ON health_checks (enabled, next_run_ms);

-- A check's current verdict on one droplet.
CREATE TABLE health_states (
    check_id VARCHAR(36) NOT NULL,
    droplet_id VARCHAR(36) NOT NULL,
    cluster_id VARCHAR(36) NOT NULL,
    state VARCHAR(16) NOT NULL,
    consecutive_failures BIGINT NOT NULL,
    consecutive_successes BIGINT NOT NULL,
    last_result_ms BIGINT NOT NULL,
    last_message VARCHAR(255) NOT NULL,
    PRIMARY KEY (check_id, droplet_id)
);
CREATE INDEX health_states_cluster ON health_states (cluster_id);

CREATE TABLE health_results (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    check_id VARCHAR(36) NOT NULL,
    cluster_id VARCHAR(36) NOT NULL,
    droplet_id VARCHAR(36) NOT NULL,
    healthy BIGINT NOT NULL,
    latency_us BIGINT NOT NULL,
    message VARCHAR(255) NOT NULL,
    time_ms BIGINT NOT NULL
);
CREATE INDEX health_results_check ON health_results (check_id, id);
CREATE INDEX health_results_cluster ON health_results (cluster_id, id);
CREATE INDEX health_results_time ON health_results (time_ms);

-- Faults injected into droplets (from `cg.droplets.events`), which the
-- probes take into account.
CREATE TABLE droplet_faults (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    droplet_id VARCHAR(36) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    end_ms BIGINT NOT NULL
);
CREATE INDEX droplet_faults_droplet ON droplet_faults (droplet_id);
