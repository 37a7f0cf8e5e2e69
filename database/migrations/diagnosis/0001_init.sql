-- Diagnoses and the jobs their recommendations became. Portable DDL
-- (MySQL/MariaDB and SQLite); the diagnosis itself is JSON in a MEDIUMBLOB
-- (findings, evidence and the LLM's explanation can pass 64 KiB). The
-- columns beside it are what lists filter on.

CREATE TABLE diagnoses (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    cluster_id VARCHAR(36) NOT NULL,
    -- Empty for a whole-cluster diagnosis.
    droplet_id VARCHAR(36) NOT NULL,
    -- `enriching` or `completed`.
    status VARCHAR(16) NOT NULL,
    -- 1 info, 2 warning, 3 critical: lists filter on "at least".
    severity BIGINT NOT NULL,
    request_id VARCHAR(64),
    fingerprint VARCHAR(64) NOT NULL,
    body MEDIUMBLOB NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX diagnoses_request_id ON diagnoses (request_id);
CREATE INDEX diagnoses_cluster ON diagnoses (cluster_id, id);
CREATE INDEX diagnoses_status ON diagnoses (status, updated_at);

-- One job per implemented recommendation: the primary key is what makes
-- implementing twice record one job.
CREATE TABLE implementations (
    diagnosis_id VARCHAR(36) NOT NULL,
    recommendation_id VARCHAR(16) NOT NULL,
    job_id VARCHAR(36) NOT NULL,
    -- The caller's idempotency key of the implementing call, replayed.
    request_id VARCHAR(64),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (diagnosis_id, recommendation_id)
);
