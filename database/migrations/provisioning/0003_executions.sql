-- Job attempts the executor accepted from cg.jobs.requested. A row is
-- written before the record's offset is committed, so a crash loses no
-- job; (job_id, attempt) is unique, so a redelivered request is a no-op,
-- and every step a job takes carries a request_id derived from it, so a
-- resumed attempt repeats no side effect.
CREATE TABLE executions (
    job_id VARCHAR(36) NOT NULL,
    attempt BIGINT NOT NULL,
    cluster_id VARCHAR(36) NOT NULL,
    kind VARCHAR(32) NOT NULL,
    -- clustergenie.jobs.v1.JobAction, protobuf-encoded.
    action BLOB NOT NULL,
    status VARCHAR(16) NOT NULL,
    cancel_requested BIGINT NOT NULL,
    deadline BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX executions_status ON executions (status);
