-- Jobs and their state machine. Portable DDL (MySQL/MariaDB and SQLite).

CREATE TABLE jobs (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    cluster_id VARCHAR(36) NOT NULL,
    kind VARCHAR(32) NOT NULL,
    -- clustergenie.jobs.v1.JobAction, protobuf-encoded.
    action BLOB NOT NULL,
    status VARCHAR(16) NOT NULL,
    progress BIGINT NOT NULL,
    message VARCHAR(1024) NOT NULL,
    -- The current attempt (1-based); progress for another attempt is ignored.
    attempt BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    error VARCHAR(2048) NOT NULL,
    cancel_requested BIGINT NOT NULL,
    -- clustergenie.jobs.v1.JobResult, protobuf-encoded.
    result BLOB NOT NULL,
    source VARCHAR(32) NOT NULL,
    origin_id VARCHAR(64) NOT NULL,
    requested_by VARCHAR(255) NOT NULL,
    trace_id VARCHAR(32) NOT NULL,
    request_id VARCHAR(64),
    fingerprint VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX jobs_request_id ON jobs (request_id);
CREATE INDEX jobs_cluster ON jobs (cluster_id, id);
CREATE INDEX jobs_status ON jobs (status, id);
