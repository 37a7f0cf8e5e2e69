//! The activity log on MySQL/MariaDB and SQLite (sqlx `Any`). Seqs come
//! from one counter row, updated first in each append's transaction: its
//! lock makes appends commit in seq order.

use std::collections::BTreeMap;

use cg_runtime::{
    ApiError,
    db::{Arg, Db, Where},
};
use sqlx::{AnyPool, Row, any::AnyRow};

use super::{ActivityStore, Result};
use crate::activity::{Entry, Filter, Severity};

const COLUMNS: &str = "seq, id, time_ms, cluster_id, source, kind, severity, message, \
    droplet_id, job_id, diagnosis_id, decision_id, health_check_id, trace_id, attributes";

/// Rows per multi-row statement: 15 binds each stays far below every
/// engine's limit on bound parameters.
const ROWS_PER_STATEMENT: usize = 200;

#[derive(Debug, Clone)]
pub struct SqlActivity {
    pool: AnyPool,
}

impl SqlActivity {
    pub fn new(db: &Db) -> Self {
        Self {
            pool: db.pool.clone(),
        }
    }
}

fn bad(what: String) -> ApiError {
    ApiError::Storage(sqlx::Error::Decode(what.into()))
}

fn entry_from(row: &AnyRow) -> Result<Entry> {
    let severity: i64 = row.try_get("severity")?;
    let attributes: String = row.try_get("attributes")?;
    Ok(Entry {
        seq: row.try_get("seq")?,
        id: row.try_get("id")?,
        time_ms: row.try_get("time_ms")?,
        cluster_id: row.try_get("cluster_id")?,
        source: row.try_get("source")?,
        kind: row.try_get("kind")?,
        severity: Severity::from_number(severity)
            .ok_or_else(|| bad(format!("activity severity {severity}")))?,
        message: row.try_get("message")?,
        droplet_id: row.try_get("droplet_id")?,
        job_id: row.try_get("job_id")?,
        diagnosis_id: row.try_get("diagnosis_id")?,
        decision_id: row.try_get("decision_id")?,
        health_check_id: row.try_get("health_check_id")?,
        trace_id: row.try_get("trace_id")?,
        attributes: serde_json::from_str::<BTreeMap<String, String>>(&attributes)
            .map_err(|e| bad(format!("activity attributes: {e}")))?,
    })
}

/// The `WHERE` of `filter`.
fn clauses(filter: &Filter) -> Where {
    let mut w = Where::new();
    w.text("cluster_id = ?", filter.cluster_id.as_deref());
    if let Some(k) = &filter.kind {
        match k.strip_suffix('.') {
            // A range instead of LIKE: '/' sorts right after '.'.
            Some(prefix) => {
                w.with(
                    "kind >= ? AND kind < ?",
                    vec![
                        Arg::Text(format!("{prefix}.")),
                        Arg::Text(format!("{prefix}/")),
                    ],
                );
            }
            None => {
                w.text("kind = ?", Some(k.as_str()));
            }
        }
    }
    w.int("severity >= ?", filter.min_severity.map(|s| s as i64))
        .text("source = ?", filter.source.as_deref())
        .text("droplet_id = ?", filter.droplet_id.as_deref())
        .text("job_id = ?", filter.job_id.as_deref())
        .int("time_ms >= ?", filter.start_ms)
        .int("time_ms < ?", filter.end_ms);
    if let Some(text) = &filter.text {
        let escaped: String = text
            .chars()
            .flat_map(|ch| match ch {
                '!' | '%' | '_' => vec!['!', ch],
                _ => vec![ch],
            })
            .collect();
        w.text(
            "LOWER(message) LIKE ? ESCAPE '!'",
            Some(format!("%{escaped}%")),
        );
    }
    w
}

impl SqlActivity {
    async fn select(
        &self,
        filter: &Filter,
        seq_clause: &str,
        seq: Option<i64>,
        order: &str,
        limit: u32,
    ) -> Result<Vec<Entry>> {
        let mut w = clauses(filter);
        w.int(seq_clause, seq);
        let sql = format!(
            "SELECT {COLUMNS} FROM activity {} ORDER BY seq {order} LIMIT {limit}",
            w.sql()
        );
        w.bind(sqlx::query(&sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(entry_from)
            .collect()
    }
}

impl ActivityStore for SqlActivity {
    async fn append(&self, entries: &[Entry]) -> Result<u64> {
        // An id twice in one call is stored once, as it is across calls.
        let mut seen = std::collections::HashSet::new();
        let entries: Vec<&Entry> = entries
            .iter()
            .filter(|e| seen.insert(e.id.as_str()))
            .collect();
        if entries.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        // The counter row first: its lock orders concurrent appends, and
        // the existence check below sees every append that came before.
        let reserved = i64::try_from(entries.len()).unwrap_or(i64::MAX);
        sqlx::query("UPDATE activity_log_state SET next_seq = next_seq + ? WHERE name = 'log'")
            .bind(reserved)
            .execute(&mut *tx)
            .await?;
        let next: i64 =
            sqlx::query_scalar("SELECT next_seq FROM activity_log_state WHERE name = 'log'")
                .fetch_one(&mut *tx)
                .await?;
        let mut stored = std::collections::HashSet::new();
        for chunk in entries.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT id FROM activity WHERE id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut query = sqlx::query_scalar::<_, String>(&sql);
            for e in chunk {
                query = query.bind(e.id.as_str());
            }
            stored.extend(query.fetch_all(&mut *tx).await?);
        }
        let new: Vec<&Entry> = entries
            .into_iter()
            .filter(|e| !stored.contains(&e.id))
            .collect();
        let inserted = i64::try_from(new.len()).unwrap_or(i64::MAX);
        let mut seq = next - reserved;
        for chunk in new.chunks(ROWS_PER_STATEMENT) {
            let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
            let sql = format!(
                "INSERT INTO activity ({COLUMNS}) VALUES {}",
                vec![row; chunk.len()].join(", ")
            );
            let mut query = sqlx::query(&sql);
            for e in chunk {
                let attributes = serde_json::to_string(&e.attributes)
                    .map_err(|err| ApiError::Internal(format!("activity attributes: {err}")))?;
                query = query
                    .bind(seq)
                    .bind(e.id.as_str())
                    .bind(e.time_ms)
                    .bind(e.cluster_id.as_str())
                    .bind(e.source.as_str())
                    .bind(e.kind.as_str())
                    .bind(e.severity as i64)
                    .bind(e.message.as_str())
                    .bind(e.droplet_id.as_str())
                    .bind(e.job_id.as_str())
                    .bind(e.diagnosis_id.as_str())
                    .bind(e.decision_id.as_str())
                    .bind(e.health_check_id.as_str())
                    .bind(e.trace_id.as_str())
                    .bind(attributes);
                seq += 1;
            }
            query.execute(&mut *tx).await?;
        }
        // Seqs stay gapless: what was reserved for ids already stored is
        // handed back while the counter row is still locked.
        if inserted < reserved {
            sqlx::query("UPDATE activity_log_state SET next_seq = next_seq - ? WHERE name = 'log'")
                .bind(reserved - inserted)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(inserted.unsigned_abs())
    }

    async fn newest(&self, filter: &Filter, before: Option<i64>, limit: u32) -> Result<Vec<Entry>> {
        self.select(filter, "seq < ?", before, "DESC", limit).await
    }

    async fn after(&self, filter: &Filter, after: i64, limit: u32) -> Result<Vec<Entry>> {
        self.select(filter, "seq > ?", Some(after), "ASC", limit)
            .await
    }

    async fn bounds(&self) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT trimmed_through, next_seq FROM activity_log_state WHERE name = 'log'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get(0)?, row.try_get::<i64, _>(1)? - 1))
    }

    async fn trim(&self, before: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let through: Option<i64> =
            sqlx::query_scalar("SELECT MAX(seq) FROM activity WHERE time_ms < ?")
                .bind(before)
                .fetch_one(&mut *tx)
                .await?;
        let Some(through) = through else {
            return Ok(0);
        };
        let removed = sqlx::query("DELETE FROM activity WHERE seq <= ?")
            .bind(through)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE activity_log_state SET trimmed_through = ? WHERE name = 'log' AND trimmed_through < ?",
        )
        .bind(through)
        .bind(through)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(removed)
    }
}
