//! Metric history on MySQL/MariaDB and SQLite (sqlx `Any`). Samples go in
//! as multi-row inserts that skip rows already stored; charts read rollups
//! aggregated by the database, so a day of a large cluster is a few
//! thousand rows on the wire.

use std::collections::{BTreeMap, HashMap};

use cg_runtime::{
    ApiError,
    db::{Backend, Db},
};
use sqlx::{AnyPool, Row, any::AnyRow};

use super::{DropletState, DropletWindow, MetricStore, Result};
use crate::domain::{self, Agg, DropletStatus, Metric, Sample};

/// Rows per multi-row insert: 9 or 29 placeholders each stays far below
/// both backends' limits on bound parameters.
const SAMPLE_CHUNK: usize = 1000;
const ROLLUP_CHUNK: usize = 500;
const DROPLET_CHUNK: usize = 1000;

const SAMPLE_COLUMNS: &str = "cluster_id, droplet_id, time_ms, cpu_percent, memory_percent, \
    disk_percent, network_in_mbps, network_out_mbps, load_1m";

/// `metric_series.last_ms` is written at most this often per droplet, so
/// most batches write samples only; readers widen their ranges by it.
const SERIES_STALE_MS: i64 = 60_000;

#[derive(Debug, Clone)]
pub struct SqlMetrics {
    pool: AnyPool,
    backend: Backend,
    /// When this process last wrote each series' `last_ms`.
    written: std::sync::Arc<std::sync::Mutex<HashMap<(String, String), i64>>>,
}

impl SqlMetrics {
    pub fn new(db: &Db) -> Self {
        Self {
            pool: db.pool.clone(),
            backend: db.backend,
            written: std::sync::Arc::default(),
        }
    }

    /// `INSERT` that skips rows whose key exists (each backend's spelling).
    fn insert_ignore(&self) -> &'static str {
        match self.backend {
            Backend::MySql => "INSERT IGNORE INTO",
            Backend::Sqlite => "INSERT OR IGNORE INTO",
        }
    }
}

fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 2 + 2);
    s.push('(');
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s.push(')');
    s
}

fn rows_of(n: usize, width: usize) -> String {
    let one = placeholders(width);
    let mut s = String::with_capacity(n * (one.len() + 1));
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&one);
    }
    s
}

fn sample_from(row: &AnyRow) -> Result<Sample> {
    let mut values = [0.0; 6];
    for m in Metric::ALL {
        values[m.index()] = row.try_get(m.column())?;
    }
    Ok(Sample {
        cluster_id: row.try_get("cluster_id")?,
        droplet_id: row.try_get("droplet_id")?,
        time_ms: row.try_get("time_ms")?,
        values,
    })
}

fn rollup_columns() -> String {
    let mut cols = String::from("granularity, cluster_id, droplet_id, bucket_ms, samples");
    for m in Metric::ALL {
        for part in ["sum", "min", "max", "p95"] {
            cols.push_str(&format!(", {}_{part}", m.column()));
        }
    }
    cols
}

impl MetricStore for SqlMetrics {
    async fn insert(&self, samples: &[Sample]) -> Result<u64> {
        if samples.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        let mut inserted = 0;
        for chunk in samples.chunks(SAMPLE_CHUNK) {
            let sql = format!(
                "{} metric_samples ({SAMPLE_COLUMNS}) VALUES {}",
                self.insert_ignore(),
                rows_of(chunk.len(), 9)
            );
            let mut q = sqlx::query(&sql);
            for s in chunk {
                q = q
                    .bind(s.cluster_id.as_str())
                    .bind(s.droplet_id.as_str())
                    .bind(s.time_ms);
                for v in s.values {
                    q = q.bind(v);
                }
            }
            inserted += q.execute(&mut *tx).await?.rows_affected();
        }
        // The droplets that reported and when last, for listing a range's
        // series: new droplets first, then one update per (cluster, time)
        // (a sampling tick shares one time across its cluster).
        let mut latest: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for s in samples {
            let t = latest
                .entry((s.cluster_id.as_str(), s.droplet_id.as_str()))
                .or_insert(s.time_ms);
            *t = (*t).max(s.time_ms);
        }
        if let Ok(written) = self.written.lock() {
            latest.retain(|(c, d), t| {
                written
                    .get(&((*c).to_string(), (*d).to_string()))
                    .is_none_or(|w| *w < *t - SERIES_STALE_MS)
            });
        }
        let series: Vec<_> = latest.iter().collect();
        for chunk in series.chunks(SAMPLE_CHUNK) {
            let sql = format!(
                "{} metric_series (cluster_id, droplet_id, last_ms) VALUES {}",
                self.insert_ignore(),
                rows_of(chunk.len(), 3)
            );
            let mut q = sqlx::query(&sql);
            for ((cluster, droplet), t) in chunk {
                q = q.bind(*cluster).bind(*droplet).bind(**t);
            }
            q.execute(&mut *tx).await?;
        }
        let mut by_time: BTreeMap<(&str, i64), Vec<&str>> = BTreeMap::new();
        for ((cluster, droplet), t) in &latest {
            by_time.entry((cluster, *t)).or_default().push(droplet);
        }
        for ((cluster, t), droplets) in by_time {
            for chunk in droplets.chunks(SAMPLE_CHUNK) {
                let sql = format!(
                    "UPDATE metric_series SET last_ms = ? WHERE cluster_id = ? AND last_ms < ? \
                     AND droplet_id IN {}",
                    placeholders(chunk.len())
                );
                let mut q = sqlx::query(&sql).bind(t).bind(cluster).bind(t);
                for d in chunk {
                    q = q.bind(*d);
                }
                q.execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        if let Ok(mut written) = self.written.lock() {
            for ((c, d), t) in latest {
                written.insert((c.to_string(), d.to_string()), t);
            }
        }
        Ok(inserted)
    }

    async fn droplets(
        &self,
        cluster: &str,
        from: i64,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT droplet_id FROM metric_series WHERE cluster_id = ? AND last_ms >= ? {} \
             ORDER BY droplet_id LIMIT {limit}",
            if after.is_some() {
                "AND droplet_id > ?"
            } else {
                ""
            }
        );
        let mut q = sqlx::query_scalar(&sql)
            .bind(cluster)
            .bind(from - SERIES_STALE_MS);
        if let Some(a) = after {
            q = q.bind(a);
        }
        Ok(q.fetch_all(&self.pool).await?)
    }

    async fn raw(
        &self,
        cluster: &str,
        droplets: &[String],
        from: i64,
        to: i64,
        limit: u32,
    ) -> Result<Vec<Sample>> {
        if droplets.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {SAMPLE_COLUMNS} FROM metric_samples WHERE cluster_id = ? \
             AND droplet_id IN {} AND time_ms >= ? AND time_ms <= ? \
             ORDER BY droplet_id, time_ms LIMIT {limit}",
            placeholders(droplets.len())
        );
        let mut q = sqlx::query(&sql).bind(cluster);
        for d in droplets {
            q = q.bind(d.as_str());
        }
        q.bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(sample_from)
            .collect()
    }

    async fn rollups(
        &self,
        granularity: i64,
        cluster: &str,
        droplets: &[String],
        metrics: &[Metric],
        from: i64,
        until: i64,
        width: i64,
        average: bool,
    ) -> Result<Vec<(String, Metric, i64, Agg)>> {
        if droplets.is_empty() || from >= until {
            return Ok(Vec::new());
        }
        // A step equal to the level reads its rows as they are (in key
        // order, no grouping); a wider one merges them in the database.
        let plain = width == granularity && !average;
        let mut cols = String::new();
        for m in metrics {
            let c = m.column();
            if plain {
                cols.push_str(&format!(", {c}_sum, {c}_min, {c}_max, {c}_p95"));
            } else {
                cols.push_str(&format!(
                    ", SUM({c}_sum), MIN({c}_min), MAX({c}_max), MAX({c}_p95)"
                ));
            }
        }
        let (droplet, group) = if average {
            ("''", "b")
        } else {
            ("droplet_id", "droplet_id, b")
        };
        let sql = if plain {
            format!(
                "SELECT droplet_id AS d, bucket_ms - (bucket_ms % ?) AS b, samples AS n{cols} \
                 FROM metric_rollups WHERE granularity = ? AND cluster_id = ? \
                 AND droplet_id IN {} AND bucket_ms >= ? AND bucket_ms < ? \
                 ORDER BY droplet_id, bucket_ms",
                placeholders(droplets.len())
            )
        } else {
            format!(
                "SELECT {droplet} AS d, bucket_ms - (bucket_ms % ?) AS b, \
                 CAST(SUM(samples) AS SIGNED) AS n{cols} \
                 FROM metric_rollups WHERE granularity = ? AND cluster_id = ? \
                 AND droplet_id IN {} AND bucket_ms >= ? AND bucket_ms < ? \
                 GROUP BY {group} ORDER BY {group}",
                placeholders(droplets.len())
            )
        };
        let mut q = sqlx::query(&sql)
            .bind(width)
            .bind(granularity)
            .bind(cluster);
        for d in droplets {
            q = q.bind(d.as_str());
        }
        let rows = q.bind(from).bind(until).fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len() * metrics.len());
        for row in &rows {
            let d: String = row.try_get(0)?;
            let b: i64 = row.try_get(1)?;
            let n: i64 = row.try_get(2)?;
            for (i, m) in metrics.iter().enumerate() {
                let at = 3 + i * 4;
                out.push((
                    d.clone(),
                    *m,
                    b,
                    Agg {
                        count: n,
                        sum: row.try_get(at)?,
                        min: row.try_get(at + 1)?,
                        max: row.try_get(at + 2)?,
                        p95: row.try_get(at + 3)?,
                    },
                ));
            }
        }
        Ok(out)
    }

    async fn mark(&self, granularity: i64) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT done_until FROM metric_rollup_marks WHERE granularity = ?")
                .bind(granularity)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn oldest(&self, from: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar::<_, Option<i64>>(
            "SELECT MIN(time_ms) FROM metric_samples WHERE time_ms >= ?",
        )
        .bind(from)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn roll_up(&self, granularity: i64, from: i64, until: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let samples = sqlx::query(&format!(
            "SELECT {SAMPLE_COLUMNS} FROM metric_samples WHERE time_ms >= ? AND time_ms < ?"
        ))
        .bind(from)
        .bind(until)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(sample_from)
        .collect::<Result<Vec<_>>>()?;
        let rollups = domain::roll_up(&samples, granularity);
        // Recomputed whole, so a rerun over late samples corrects the range.
        sqlx::query(
            "DELETE FROM metric_rollups WHERE granularity = ? AND bucket_ms >= ? AND bucket_ms < ?",
        )
        .bind(granularity)
        .bind(from)
        .bind(until)
        .execute(&mut *tx)
        .await?;
        let columns = rollup_columns();
        for chunk in rollups.chunks(ROLLUP_CHUNK) {
            let sql = format!(
                "INSERT INTO metric_rollups ({columns}) VALUES {}",
                rows_of(chunk.len(), 29)
            );
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(granularity)
                    .bind(r.cluster_id.as_str())
                    .bind(r.droplet_id.as_str())
                    .bind(r.bucket_ms)
                    .bind(r.metrics[0].count);
                for a in &r.metrics {
                    q = q.bind(a.sum).bind(a.min).bind(a.max).bind(a.p95);
                }
            }
            q.execute(&mut *tx).await?;
        }
        let moved = sqlx::query(
            "UPDATE metric_rollup_marks SET done_until = ? WHERE granularity = ? AND done_until <= ?",
        )
        .bind(until)
        .bind(granularity)
        .bind(until)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            sqlx::query(&format!(
                "{} metric_rollup_marks (granularity, done_until) VALUES (?, ?)",
                self.insert_ignore()
            ))
            .bind(granularity)
            .bind(until)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(rollups.len() as u64)
    }

    async fn delete_raw(&self, before: i64) -> Result<u64> {
        Ok(sqlx::query("DELETE FROM metric_samples WHERE time_ms < ?")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn delete_rollups(&self, granularity: i64, before: i64) -> Result<u64> {
        let n = sqlx::query("DELETE FROM metric_rollups WHERE granularity = ? AND bucket_ms < ?")
            .bind(granularity)
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        // Droplets silent since before the oldest history kept are gone.
        if granularity == domain::LEVELS[domain::LEVELS.len() - 1] {
            sqlx::query("DELETE FROM metric_series WHERE last_ms < ?")
                .bind(before)
                .execute(&self.pool)
                .await?;
        }
        Ok(n)
    }

    async fn record_droplets(&self, states: &[DropletState]) -> Result<()> {
        // One upsert: a row is written unless the stored event is newer, so
        // a late, older event does not roll a status back (the same
        // droplet twice in one statement is applied in order).
        let upsert = match self.backend {
            Backend::MySql => {
                "ON DUPLICATE KEY UPDATE \
                 cluster_id = IF(VALUES(event_ms) >= event_ms, VALUES(cluster_id), cluster_id), \
                 status = IF(VALUES(event_ms) >= event_ms, VALUES(status), status), \
                 event_ms = GREATEST(event_ms, VALUES(event_ms))"
            }
            Backend::Sqlite => {
                "ON CONFLICT (id) DO UPDATE SET cluster_id = excluded.cluster_id, \
                 status = excluded.status, event_ms = excluded.event_ms \
                 WHERE excluded.event_ms >= droplets.event_ms"
            }
        };
        for chunk in states.chunks(DROPLET_CHUNK) {
            let sql = format!(
                "INSERT INTO droplets (id, cluster_id, status, event_ms) VALUES {} {upsert}",
                vec!["(?, ?, ?, ?)"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query(&sql);
            for s in chunk {
                q = q
                    .bind(s.droplet.as_str())
                    .bind(s.cluster.as_str())
                    .bind(s.status.as_str())
                    .bind(s.event_ms);
            }
            q.execute(&self.pool).await?;
        }
        Ok(())
    }

    async fn droplet_counts(&self, cluster: &str) -> Result<Vec<(DropletStatus, i64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) FROM droplets WHERE cluster_id = ? GROUP BY status ORDER BY status",
        )
        .bind(cluster)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in &rows {
            let status: String = row.try_get(0)?;
            let status = DropletStatus::from_column(&status).ok_or_else(|| {
                ApiError::Storage(sqlx::Error::Decode(
                    format!("droplet status {status}").into(),
                ))
            })?;
            out.push((status, row.try_get(1)?));
        }
        out.sort();
        Ok(out)
    }

    async fn window(&self, cluster: &str, since: i64) -> Result<Vec<DropletWindow>> {
        let sums: String = Metric::ALL
            .iter()
            .map(|m| format!(", SUM({})", m.column()))
            .collect();
        let sql = format!(
            "SELECT droplet_id, COUNT(*), MAX(time_ms){sums} FROM metric_samples \
             WHERE cluster_id = ? AND droplet_id IN \
             (SELECT droplet_id FROM metric_series WHERE cluster_id = ? AND last_ms >= ?) \
             AND time_ms >= ? GROUP BY droplet_id ORDER BY droplet_id"
        );
        let rows = sqlx::query(&sql)
            .bind(cluster)
            .bind(cluster)
            .bind(since - SERIES_STALE_MS)
            .bind(since)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let mut sums = [0.0; 6];
                for (i, s) in sums.iter_mut().enumerate() {
                    *s = row.try_get(3 + i)?;
                }
                Ok(DropletWindow {
                    droplet_id: row.try_get(0)?,
                    samples: row.try_get(1)?,
                    last_ms: row.try_get(2)?,
                    sums,
                })
            })
            .collect()
    }

    async fn knows(&self, cluster: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM metric_series WHERE cluster_id = ?) \
             + (SELECT COUNT(*) FROM droplets WHERE cluster_id = ?)",
        )
        .bind(cluster)
        .bind(cluster)
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }
}
