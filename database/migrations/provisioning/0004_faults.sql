-- Injected faults. `live_kind` holds the kind while the fault is open and
-- NULL once its end has been applied, so the unique index allows one open
-- fault per kind per droplet (MySQL and SQLite both allow repeated NULLs).
CREATE TABLE faults (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    droplet_id VARCHAR(36) NOT NULL,
    cluster_id VARCHAR(36) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    live_kind VARCHAR(16),
    start_at BIGINT NOT NULL,
    -- When it ends (or ended): start + duration, or earlier when cleared.
    end_at BIGINT NOT NULL,
    -- 1 once the end was applied (a crashed droplet restarted) and announced.
    ended BIGINT NOT NULL
);
CREATE UNIQUE INDEX faults_live ON faults (droplet_id, live_kind);
CREATE INDEX faults_due ON faults (ended, end_at);
CREATE INDEX faults_cluster ON faults (cluster_id, id);

-- Work one replica does for all (sampling the fleet's load): whoever holds
-- an unexpired lease does it, and renews it each round.
CREATE TABLE leases (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    holder VARCHAR(36) NOT NULL,
    expires_at BIGINT NOT NULL
);
