-- Portable DDL: this file runs unchanged on MySQL/MariaDB and on SQLite.
-- Times are unix milliseconds; ids are UUIDv7 strings (time ordered).

CREATE TABLE clusters (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    name VARCHAR(63) NOT NULL,
    description VARCHAR(1024) NOT NULL,
    region VARCHAR(16) NOT NULL,
    status VARCHAR(16) NOT NULL,
    -- ",a,b," so one tag matches with INSTR(tags, ',a,') (tags never hold ',').
    tags VARCHAR(2048) NOT NULL,
    -- Droplets not archived. Creates and destroys move it inside their
    -- transaction, which also locks the cluster row against a concurrent delete.
    live_droplets BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX clusters_name ON clusters (name);
CREATE INDEX clusters_region ON clusters (region, id);

CREATE TABLE droplets (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    cluster_id VARCHAR(36) NOT NULL,
    -- Copied from the cluster (and renamed with it) so a droplet names its
    -- cluster even after a forced delete removed the cluster row.
    cluster_name VARCHAR(63) NOT NULL,
    name VARCHAR(63) NOT NULL,
    -- = name while the droplet lives, NULL once archived: unique per cluster
    -- among live droplets (NULLs never collide in a unique index).
    live_name VARCHAR(63),
    region VARCHAR(16) NOT NULL,
    size VARCHAR(32) NOT NULL,
    image VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL,
    -- The simulated cloud's address slot in the region; live_slot is NULL once
    -- archived so the address can be reused. Capacity = number of slots.
    slot BIGINT NOT NULL,
    live_slot BIGINT,
    public_ipv4 VARCHAR(15) NOT NULL,
    private_ipv4 VARCHAR(15) NOT NULL,
    tags VARCHAR(2048) NOT NULL,
    -- The unfinished action holding the droplet, if any.
    locked_by VARCHAR(36),
    -- When a `new` droplet finishes booting.
    boot_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX droplets_live_name ON droplets (cluster_id, live_name);
CREATE UNIQUE INDEX droplets_live_slot ON droplets (region, live_slot);
CREATE INDEX droplets_cluster ON droplets (cluster_id, id);
CREATE INDEX droplets_status ON droplets (status, id);
CREATE INDEX droplets_region ON droplets (region, id);

CREATE TABLE droplet_actions (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    droplet_id VARCHAR(36) NOT NULL,
    cluster_id VARCHAR(36) NOT NULL,
    region VARCHAR(16) NOT NULL,
    type VARCHAR(16) NOT NULL,
    status VARCHAR(16) NOT NULL,
    -- The action's argument: target size (resize), new name (rename), snapshot name.
    param VARCHAR(255) NOT NULL,
    error VARCHAR(1024) NOT NULL,
    started_at BIGINT NOT NULL,
    -- When the simulated cloud finishes it; survives restarts.
    due_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX droplet_actions_droplet ON droplet_actions (droplet_id, id);
CREATE INDEX droplet_actions_status ON droplet_actions (status, due_at);
CREATE INDEX droplet_actions_cluster ON droplet_actions (cluster_id, status);

CREATE TABLE idempotency_keys (
    scope VARCHAR(32) NOT NULL,
    request_id VARCHAR(64) NOT NULL,
    fingerprint VARCHAR(64) NOT NULL,
    resource_id VARCHAR(36) NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, request_id)
);
