//! Jobs on MySQL/MariaDB and SQLite (sqlx `Any`, portable SQL). Each
//! transition is one conditional `UPDATE` plus, in the same transaction,
//! the outbox row announcing it.

use cg_runtime::{
    ApiError,
    db::{Db, Order, Where, is_unique_violation, page_by_id},
    outbox::{self, NewEvent},
    page::{PageOf, PageRequest},
    types::clip,
};
use sqlx::{AnyPool, Row, any::AnyRow};

use super::{Change, Inserted, JobRepository, Result, Transition};
use crate::{
    domain::{Filter, Job, Kind, Source, Status},
    wire,
};

/// Column widths of `jobs.message` and `jobs.error`: an executor's text is
/// cut to fit rather than failing the write (MySQL's strict mode refuses
/// overlong values; SQLite would keep them).
const MESSAGE_CHARS: usize = 1024;
const ERROR_CHARS: usize = 2048;

const COLUMNS: &str = "id, cluster_id, kind, action, status, progress, message, attempt, \
    max_attempts, error, cancel_requested, result, source, origin_id, requested_by, trace_id, \
    request_id, created_at, started_at, finished_at, updated_at, deadline, retry_at";

/// Jobs in a SQL database.
#[derive(Debug, Clone)]
pub struct SqlJobs {
    pool: AnyPool,
    wake: outbox::Wake,
}

fn job_from(row: &AnyRow) -> Result<Job> {
    let bad = |what: String| ApiError::Storage(sqlx::Error::Decode(what.into()));
    let status: String = row.try_get("status")?;
    let source: String = row.try_get("source")?;
    let action: Vec<u8> = row.try_get("action")?;
    let outcome: Vec<u8> = row.try_get("result")?;
    let number = |col: &str| -> Result<u32> {
        Ok(u32::try_from(row.try_get::<i64, _>(col)?).unwrap_or_default())
    };
    Ok(Job {
        id: row.try_get("id")?,
        cluster_id: row.try_get("cluster_id")?,
        action: wire::decode_action(&action).map_err(bad)?,
        status: Status::from_column(&status).ok_or_else(|| bad(format!("job status {status}")))?,
        progress: number("progress")?,
        message: row.try_get("message")?,
        attempt: number("attempt")?,
        max_attempts: number("max_attempts")?,
        error: row.try_get("error")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        outcome: wire::decode_outcome(&outcome).map_err(bad)?,
        source: Source::from_column(&source).ok_or_else(|| bad(format!("job source {source}")))?,
        origin_id: row.try_get("origin_id")?,
        requested_by: row.try_get("requested_by")?,
        trace_id: row.try_get("trace_id")?,
        request_id: row.try_get("request_id")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        updated_at: row.try_get("updated_at")?,
        deadline: row.try_get("deadline")?,
        retry_at: row.try_get("retry_at")?,
    })
}

impl SqlJobs {
    pub fn new(db: &Db) -> Self {
        Self {
            pool: db.pool.clone(),
            wake: db.wake.clone(),
        }
    }
}

impl JobRepository for SqlJobs {
    async fn insert(
        &self,
        job: &Job,
        fingerprint: &str,
        announce: Vec<NewEvent>,
    ) -> Result<Inserted> {
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(&format!(
            "INSERT INTO jobs ({COLUMNS}, fingerprint) VALUES \
             (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?)"
        ))
        .bind(job.id.as_str())
        .bind(job.cluster_id.as_str())
        .bind(job.kind().as_str())
        .bind(wire::encode_action(&job.action))
        .bind(job.status.as_str())
        .bind(i64::from(job.progress))
        .bind(job.message.as_str())
        .bind(i64::from(job.attempt))
        .bind(i64::from(job.max_attempts))
        .bind(job.error.as_str())
        .bind(i64::from(job.cancel_requested))
        .bind(wire::encode_outcome(&job.outcome))
        .bind(job.source.as_str())
        .bind(job.origin_id.as_str())
        .bind(job.requested_by.as_str())
        .bind(job.trace_id.as_str())
        .bind(job.request_id.clone())
        .bind(job.created_at)
        .bind(job.updated_at)
        .bind(job.deadline)
        .bind(job.retry_at)
        .bind(fingerprint)
        .execute(&mut *tx)
        .await;
        match res {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                let row = sqlx::query("SELECT id, fingerprint FROM jobs WHERE request_id = ?")
                    .bind(job.request_id.clone())
                    .fetch_one(&self.pool)
                    .await?;
                let earlier: String = row.try_get("fingerprint")?;
                return if earlier == fingerprint {
                    Ok(Inserted::Replayed(row.try_get("id")?))
                } else {
                    Err(ApiError::IdempotencyMismatch(
                        job.request_id.clone().unwrap_or_default(),
                    ))
                };
            }
            Err(e) => return Err(e.into()),
        }
        for event in announce {
            outbox::enqueue(&mut tx, event).await?;
        }
        tx.commit().await?;
        self.wake.wake();
        Ok(Inserted::New)
    }

    async fn get(&self, id: &str) -> Result<Job> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| ApiError::not_found("job", id))?;
        job_from(&row)
    }

    async fn list(&self, filter: &Filter, page: &PageRequest) -> Result<PageOf<Job>> {
        let mut w = Where::new();
        w.text(
            "cluster_id = ?",
            filter.cluster_id.as_ref().map(ToString::to_string),
        )
        .text("status = ?", filter.status.map(Status::as_str))
        .text("kind = ?", filter.kind.map(Kind::as_str))
        .text("source = ?", filter.source.map(Source::as_str))
        .text("origin_id = ?", filter.origin_id.as_deref());
        page_by_id(
            &self.pool,
            COLUMNS,
            "jobs",
            w,
            Order::NewestFirst,
            page,
            job_from,
            |r| r.id.clone(),
        )
        .await
    }

    async fn transition(&self, id: &str, t: &Transition, announce: Vec<NewEvent>) -> Result<bool> {
        let (sql, binds) = update(id, t);
        let q = bind_all(sqlx::query(&sql), binds);
        if announce.is_empty() {
            // One statement commits on its own: no BEGIN/COMMIT round trips
            // (most progress reports announce nothing).
            return Ok(q.execute(&self.pool).await?.rows_affected() > 0);
        }
        let mut tx = self.pool.begin().await?;
        let changed = q.execute(&mut *tx).await?.rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        for event in announce {
            outbox::enqueue(&mut tx, event).await?;
        }
        tx.commit().await?;
        self.wake.wake();
        Ok(true)
    }

    async fn transition_all(&self, changes: &[Change]) -> Result<Vec<bool>> {
        if let [one] = changes {
            let applied = self
                .transition(&one.id, &one.transition, one.announce.clone())
                .await?;
            return Ok(vec![applied]);
        }
        let mut tx = self.pool.begin().await?;
        let mut applied = Vec::with_capacity(changes.len());
        let mut announced = false;
        for change in changes {
            let (sql, binds) = update(&change.id, &change.transition);
            let changed = bind_all(sqlx::query(&sql), binds)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            if changed {
                for event in &change.announce {
                    outbox::enqueue(&mut tx, event.clone()).await?;
                    announced = true;
                }
            }
            applied.push(changed);
        }
        tx.commit().await?;
        if announced {
            self.wake.wake();
        }
        Ok(applied)
    }

    async fn get_many(&self, ids: &[&str]) -> Result<Vec<Job>> {
        let mut jobs = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "SELECT {COLUMNS} FROM jobs WHERE id IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&self.pool).await? {
                jobs.push(job_from(&row)?);
            }
        }
        Ok(jobs)
    }

    async fn due_retries(&self, now: i64, limit: u32) -> Result<Vec<Job>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE retry_at IS NOT NULL AND retry_at <= ? \
             AND status = 'queued' ORDER BY retry_at LIMIT {limit}"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from).collect()
    }

    async fn overdue(&self, cutoff: i64, limit: u32) -> Result<Vec<Job>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE status IN ('queued', 'running') \
             AND deadline IS NOT NULL AND deadline < ? AND retry_at IS NULL \
             ORDER BY deadline LIMIT {limit}"
        ))
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from).collect()
    }
}

/// A bound value of [`update`]'s statement.
enum Arg {
    I(i64),
    N,
    T(String),
    B(Vec<u8>),
}

/// The UPDATE that makes transition `t` of job `id`, and its binds.
fn update(id: &str, t: &Transition) -> (String, Vec<Arg>) {
    let mut sets = vec!["status = ?".to_string(), "updated_at = ?".to_string()];
    // Binding order follows the SQL text: collect (kind, value) pairs.
    let mut binds = vec![Arg::T(t.to.as_str().into()), Arg::I(t.now)];
    if let Some(p) = t.progress {
        sets.push("progress = CASE WHEN progress < ? THEN ? ELSE progress END".into());
        binds.push(Arg::I(i64::from(p)));
        binds.push(Arg::I(i64::from(p)));
    }
    if t.reset_progress {
        sets.push("progress = 0".into());
    }
    if let Some(m) = &t.message {
        sets.push("message = ?".into());
        binds.push(Arg::T(clip(m, MESSAGE_CHARS)));
    }
    if let Some(e) = &t.error {
        sets.push("error = ?".into());
        binds.push(Arg::T(clip(e, ERROR_CHARS)));
    }
    if t.next_attempt {
        sets.push("attempt = attempt + 1".into());
    }
    if let Some(c) = t.cancel_requested {
        sets.push("cancel_requested = ?".into());
        binds.push(Arg::I(i64::from(c)));
    }
    if let Some(o) = &t.outcome {
        sets.push("result = ?".into());
        binds.push(Arg::B(wire::encode_outcome(o)));
    }
    if let Some(d) = t.deadline {
        sets.push("deadline = ?".into());
        binds.push(d.map_or(Arg::N, Arg::I));
    }
    if let Some(r) = t.retry_at {
        sets.push("retry_at = ?".into());
        binds.push(r.map_or(Arg::N, Arg::I));
    }
    match t.to {
        Status::Running => {
            sets.push("started_at = COALESCE(started_at, ?)".into());
            binds.push(Arg::I(t.now));
        }
        Status::Queued => {
            sets.push("started_at = NULL".into());
            sets.push("finished_at = NULL".into());
        }
        Status::Succeeded | Status::Failed | Status::Cancelled => {
            sets.push("finished_at = ?".into());
            binds.push(Arg::I(t.now));
        }
    }
    let sources = Status::sources(t.to);
    let placeholders = vec!["?"; sources.len()].join(", ");
    let mut sql = format!(
        "UPDATE jobs SET {} WHERE id = ? AND status IN ({placeholders})",
        sets.join(", ")
    );
    binds.push(Arg::T(id.into()));
    for s in sources {
        binds.push(Arg::T(s.as_str().into()));
    }
    if let Some(a) = t.attempt {
        sql.push_str(" AND attempt = ?");
        binds.push(Arg::I(i64::from(a)));
    }
    if t.only_waiting_retry {
        sql.push_str(" AND retry_at IS NOT NULL");
    }
    (sql, binds)
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: Vec<Arg>,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Arg::I(v) => q.bind(v),
            Arg::N => q.bind(None::<i64>),
            Arg::T(v) => q.bind(v),
            Arg::B(v) => q.bind(v),
        };
    }
    q
}
