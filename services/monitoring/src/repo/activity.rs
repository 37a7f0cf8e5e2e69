//! The activity log on MySQL/MariaDB and SQLite (sqlx `Any`). Seqs come
//! from one counter row, updated first in each append's transaction: its
//! lock makes appends commit in seq order.

use std::collections::BTreeMap;

use cg_runtime::{ApiError, db::Db};
use sqlx::{AnyPool, Row, any::AnyRow};

use super::{ActivityStore, Result};
use crate::activity::{Entry, Filter, Severity};

const COLUMNS: &str = "seq, id, time_ms, cluster_id, source, kind, severity, message, \
    droplet_id, job_id, diagnosis_id, decision_id, health_check_id, trace_id, attributes";

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

/// `WHERE` clauses and their text arguments for `filter`.
fn clauses(filter: &Filter) -> (Vec<String>, Vec<Arg>) {
    let mut c = Vec::new();
    let mut a = Vec::new();
    if let Some(v) = &filter.cluster_id {
        c.push("cluster_id = ?".into());
        a.push(Arg::T(v.clone()));
    }
    if let Some(k) = &filter.kind {
        if let Some(prefix) = k.strip_suffix('.') {
            // A range instead of LIKE: '/' sorts right after '.'.
            c.push("kind >= ? AND kind < ?".into());
            a.push(Arg::T(format!("{prefix}.")));
            a.push(Arg::T(format!("{prefix}/")));
        } else {
            c.push("kind = ?".into());
            a.push(Arg::T(k.clone()));
        }
    }
    if let Some(s) = filter.min_severity {
        c.push("severity >= ?".into());
        a.push(Arg::I(s as i64));
    }
    if let Some(v) = &filter.source {
        c.push("source = ?".into());
        a.push(Arg::T(v.clone()));
    }
    if let Some(v) = &filter.droplet_id {
        c.push("droplet_id = ?".into());
        a.push(Arg::T(v.clone()));
    }
    if let Some(v) = &filter.job_id {
        c.push("job_id = ?".into());
        a.push(Arg::T(v.clone()));
    }
    if let Some(t) = filter.start_ms {
        c.push("time_ms >= ?".into());
        a.push(Arg::I(t));
    }
    if let Some(t) = filter.end_ms {
        c.push("time_ms < ?".into());
        a.push(Arg::I(t));
    }
    if let Some(text) = &filter.text {
        let escaped: String = text
            .chars()
            .flat_map(|ch| match ch {
                '!' | '%' | '_' => vec!['!', ch],
                _ => vec![ch],
            })
            .collect();
        c.push("LOWER(message) LIKE ? ESCAPE '!'".into());
        a.push(Arg::T(format!("%{escaped}%")));
    }
    (c, a)
}

enum Arg {
    I(i64),
    T(String),
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
        let (mut c, args) = clauses(filter);
        if seq.is_some() {
            c.push(seq_clause.into());
        }
        let where_ = if c.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", c.join(" AND "))
        };
        let sql =
            format!("SELECT {COLUMNS} FROM activity {where_} ORDER BY seq {order} LIMIT {limit}");
        let mut q = sqlx::query(&sql);
        for a in args {
            q = match a {
                Arg::I(v) => q.bind(v),
                Arg::T(v) => q.bind(v),
            };
        }
        if let Some(s) = seq {
            q = q.bind(s);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(entry_from)
            .collect()
    }
}

impl ActivityStore for SqlActivity {
    async fn append(&self, entries: &[Entry]) -> Result<u64> {
        if entries.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin().await?;
        // The counter row first: its lock orders concurrent appends.
        let n = i64::try_from(entries.len()).unwrap_or(i64::MAX);
        sqlx::query("UPDATE activity_log_state SET next_seq = next_seq + ? WHERE name = 'log'")
            .bind(n)
            .execute(&mut *tx)
            .await?;
        let next: i64 =
            sqlx::query_scalar("SELECT next_seq FROM activity_log_state WHERE name = 'log'")
                .fetch_one(&mut *tx)
                .await?;
        let mut seq = next - n;
        let mut inserted = 0;
        for e in entries {
            let exists: Option<i64> = sqlx::query_scalar("SELECT seq FROM activity WHERE id = ?")
                .bind(e.id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_some() {
                continue;
            }
            let attributes = serde_json::to_string(&e.attributes)
                .map_err(|err| ApiError::Internal(format!("activity attributes: {err}")))?;
            sqlx::query(&format!(
                "INSERT INTO activity ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
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
            .bind(attributes)
            .execute(&mut *tx)
            .await?;
            seq += 1;
            inserted += 1;
        }
        tx.commit().await?;
        Ok(inserted)
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
