-- The fleet's activity log. Portable DDL (MySQL/MariaDB and SQLite).
--
-- `seq` is the stream position (an entry's cursor). It is drawn from
-- activity_log_state under that row's lock, in the transaction that
-- inserts the entry, so entries commit in `seq` order: a reader that saw
-- seq n never later finds a smaller one appear. That is what lets a
-- stream replay `seq > cursor` and then follow live with no gap.
CREATE TABLE activity (
    seq BIGINT NOT NULL PRIMARY KEY,
    id VARCHAR(64) NOT NULL,
    time_ms BIGINT NOT NULL,
    cluster_id VARCHAR(36) NOT NULL,
    source VARCHAR(32) NOT NULL,
    kind VARCHAR(64) NOT NULL,
    severity BIGINT NOT NULL,
    message VARCHAR(1024) NOT NULL,
    droplet_id VARCHAR(36) NOT NULL,
    job_id VARCHAR(36) NOT NULL,
    diagnosis_id VARCHAR(36) NOT NULL,
    decision_id VARCHAR(36) NOT NULL,
    health_check_id VARCHAR(36) NOT NULL,
    trace_id VARCHAR(32) NOT NULL,
    -- JSON object of string → string.
    attributes VARCHAR(4096) NOT NULL
);
CREATE UNIQUE INDEX activity_id ON activity (id);
CREATE INDEX activity_cluster ON activity (cluster_id, seq);
CREATE INDEX activity_time ON activity (time_ms);

-- The next seq to hand out, and the highest seq retention removed (a
-- cursor below it cannot be resumed without a gap).
CREATE TABLE activity_log_state (
    name VARCHAR(16) NOT NULL PRIMARY KEY,
    next_seq BIGINT NOT NULL,
    trimmed_through BIGINT NOT NULL
);
INSERT INTO activity_log_state (name, next_seq, trimmed_through) VALUES ('log', 1, 0);
