-- Metric history. Portable DDL (MySQL/MariaDB and SQLite).
--
-- One row per droplet and sampling time, one column per metric: a sample
-- batch is one multi-row insert, and a redelivered batch is ignored by the
-- primary key (so (droplet, metric, time) is stored once). The key starts
-- with the cluster and droplet, so a chart reads a few contiguous ranges.
CREATE TABLE metric_samples (
    cluster_id VARCHAR(36) NOT NULL,
    droplet_id VARCHAR(36) NOT NULL,
    time_ms BIGINT NOT NULL,
    cpu_percent DOUBLE NOT NULL,
    memory_percent DOUBLE NOT NULL,
    disk_percent DOUBLE NOT NULL,
    network_in_mbps DOUBLE NOT NULL,
    network_out_mbps DOUBLE NOT NULL,
    load_1m DOUBLE NOT NULL,
    PRIMARY KEY (cluster_id, droplet_id, time_ms)
);
-- Rollups and retention walk the table by time.
CREATE INDEX metric_samples_time ON metric_samples (time_ms);

-- Downsampled history: one row per granularity (ms: 60000, 3600000),
-- droplet and bucket, with count, sum, min, max and 95th percentile per
-- metric. Sums (not averages) so buckets merge exactly.
CREATE TABLE metric_rollups (
    granularity BIGINT NOT NULL,
    cluster_id VARCHAR(36) NOT NULL,
    droplet_id VARCHAR(36) NOT NULL,
    bucket_ms BIGINT NOT NULL,
    samples BIGINT NOT NULL,
    cpu_percent_sum DOUBLE NOT NULL,
    cpu_percent_min DOUBLE NOT NULL,
    cpu_percent_max DOUBLE NOT NULL,
    cpu_percent_p95 DOUBLE NOT NULL,
    memory_percent_sum DOUBLE NOT NULL,
    memory_percent_min DOUBLE NOT NULL,
    memory_percent_max DOUBLE NOT NULL,
    memory_percent_p95 DOUBLE NOT NULL,
    disk_percent_sum DOUBLE NOT NULL,
    disk_percent_min DOUBLE NOT NULL,
    disk_percent_max DOUBLE NOT NULL,
    disk_percent_p95 DOUBLE NOT NULL,
    network_in_mbps_sum DOUBLE NOT NULL,
    network_in_mbps_min DOUBLE NOT NULL,
    network_in_mbps_max DOUBLE NOT NULL,
    network_in_mbps_p95 DOUBLE NOT NULL,
    network_out_mbps_sum DOUBLE NOT NULL,
    network_out_mbps_min DOUBLE NOT NULL,
    network_out_mbps_max DOUBLE NOT NULL,
    network_out_mbps_p95 DOUBLE NOT NULL,
    load_1m_sum DOUBLE NOT NULL,
    load_1m_min DOUBLE NOT NULL,
    load_1m_max DOUBLE NOT NULL,
    load_1m_p95 DOUBLE NOT NULL,
    PRIMARY KEY (granularity, cluster_id, droplet_id, bucket_ms)
);
CREATE INDEX metric_rollups_time ON metric_rollups (granularity, bucket_ms);

-- How far each granularity is rolled up: every bucket before `done_until`
-- is in metric_rollups, and raw samples before it may be dropped.
CREATE TABLE metric_rollup_marks (
    granularity BIGINT NOT NULL PRIMARY KEY,
    done_until BIGINT NOT NULL
);

-- What monitoring knows of each droplet from `cg.droplets.events`: its
-- cluster and latest status, for summaries. `event_ms` keeps the newest
-- event's time so a late, older event does not roll the status back.
CREATE TABLE droplets (
    id VARCHAR(36) NOT NULL PRIMARY KEY,
    cluster_id VARCHAR(36) NOT NULL,
    status VARCHAR(16) NOT NULL,
    event_ms BIGINT NOT NULL
);
CREATE INDEX droplets_cluster ON droplets (cluster_id, status);

-- Which droplets of a cluster reported, and when last: a query lists the
-- droplets of its range here, then reads each one's key range.
CREATE TABLE metric_series (
    cluster_id VARCHAR(36) NOT NULL,
    droplet_id VARCHAR(36) NOT NULL,
    last_ms BIGINT NOT NULL,
    PRIMARY KEY (cluster_id, droplet_id)
);
