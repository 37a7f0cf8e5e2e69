-- DigitalOcean-style numbers beside the UUIDs: droplets and actions get a
-- stable integer from one sequence (a snapshot's image number is its
-- action's), handed out in blocks so creates do not queue on one row.
-- Rows from before this migration get theirs when the service starts.
CREATE TABLE id_numbers (
    kind VARCHAR(16) NOT NULL PRIMARY KEY,
    next_number BIGINT NOT NULL
);
INSERT INTO id_numbers (kind, next_number) VALUES ('object', 100001);

ALTER TABLE droplets ADD COLUMN number BIGINT;
CREATE UNIQUE INDEX droplets_number ON droplets (number);
-- Image numbers of completed snapshots, comma-separated.
ALTER TABLE droplets ADD COLUMN snapshots VARCHAR(2048) NOT NULL DEFAULT '';

ALTER TABLE droplet_actions ADD COLUMN number BIGINT;
CREATE UNIQUE INDEX droplet_actions_number ON droplet_actions (number);
-- The droplet's number, copied in so an action names its droplet without
-- a lookup (DigitalOcean's `resource_id`).
ALTER TABLE droplet_actions ADD COLUMN droplet_number BIGINT;

-- Tags as objects of their own (DigitalOcean's), beside the names on the
-- droplets: created explicitly or by first use, listed even when unused.
CREATE TABLE tags (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL
);
