//! Jobs on MySQL/MariaDB and SQLite (sqlx `Any`, portable SQL). Each
//! transition is one conditional `UPDATE` plus, in the same transaction,
//! the outbox row announcing it.

use cg_runtime::{
    db::{Db, is_unique_violation},
    outbox::{self, NewEvent},
};
use clustergenie_proto::jobs::v1 as pb;
use prost::Message as _;
use sqlx::{AnyPool, Row, any::AnyRow};

use crate::{
    domain::{Job, Status},
    error::{Error, Result},
};

/// Column widths of `jobs.message` and `jobs.error`: an executor's text is
/// cut to fit rather than failing the write (MySQL's strict mode refuses
/// overlong values; SQLite would keep them).
const MESSAGE_CHARS: usize = 1024;
const ERROR_CHARS: usize = 2048;

fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

const COLUMNS: &str = "id, cluster_id, kind, action, status, progress, message, attempt, \
    max_attempts, error, cancel_requested, result, source, origin_id, requested_by, trace_id, \
    request_id, created_at, started_at, finished_at, updated_at";

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub cluster_id: Option<String>,
    pub status: Option<Status>,
    pub kind: Option<pb::JobKind>,
    pub source: Option<pb::JobSource>,
    pub origin_id: Option<String>,
}

/// A state change, applied only when the job is in one of the states `to`
/// may be entered from (and, when given, still on `attempt`).
#[derive(Debug, Clone)]
pub struct Transition {
    pub to: Status,
    pub attempt: Option<i32>,
    /// Progress only rises (a late report cannot lower it).
    pub progress: Option<i32>,
    pub reset_progress: bool,
    pub message: Option<String>,
    pub error: Option<String>,
    pub next_attempt: bool,
    pub cancel_requested: Option<bool>,
    pub result: Option<pb::JobResult>,
    pub now: i64,
}

impl Transition {
    pub fn to(to: Status, now: i64) -> Self {
        Self {
            to,
            attempt: None,
            progress: None,
            reset_progress: false,
            message: None,
            error: None,
            next_attempt: false,
            cancel_requested: None,
            result: None,
            now,
        }
    }
}

/// An owned outbox event.
#[derive(Debug, Clone)]
pub struct Announce {
    pub topic: &'static str,
    pub key: String,
    pub event_type: &'static str,
    pub payload: Vec<u8>,
}

pub enum Inserted {
    New,
    Replayed(String),
}

#[derive(Debug, Clone)]
pub struct JobRepository {
    pool: AnyPool,
}

fn kind_column(kind: pb::JobKind) -> &'static str {
    kind.as_str_name()
}

fn source_column(source: pb::JobSource) -> &'static str {
    source.as_str_name()
}

fn job_from(row: &AnyRow) -> Result<Job> {
    let decode_err = |what: &str| Error::Storage(sqlx::Error::Decode(what.to_string().into()));
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let source: String = row.try_get("source")?;
    let action: Vec<u8> = row.try_get("action")?;
    let result: Vec<u8> = row.try_get("result")?;
    Ok(Job {
        id: row.try_get("id")?,
        cluster_id: row.try_get("cluster_id")?,
        kind: pb::JobKind::from_str_name(&kind).ok_or_else(|| decode_err("job kind"))?,
        action: pb::JobAction::decode(action.as_slice()).map_err(|_| decode_err("job action"))?,
        status: Status::from_column(&status).ok_or_else(|| decode_err("job status"))?,
        progress: i32::try_from(row.try_get::<i64, _>("progress")?).unwrap_or(0),
        message: row.try_get("message")?,
        attempt: i32::try_from(row.try_get::<i64, _>("attempt")?).unwrap_or(1),
        max_attempts: i32::try_from(row.try_get::<i64, _>("max_attempts")?).unwrap_or(1),
        error: row.try_get("error")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        result: pb::JobResult::decode(result.as_slice()).map_err(|_| decode_err("job result"))?,
        source: pb::JobSource::from_str_name(&source).unwrap_or(pb::JobSource::Unspecified),
        origin_id: row.try_get("origin_id")?,
        requested_by: row.try_get("requested_by")?,
        trace_id: row.try_get("trace_id")?,
        request_id: row.try_get("request_id")?,
        created_at: row.try_get("created_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl JobRepository {
    pub fn new(db: &Db) -> Self {
        Self {
            pool: db.pool.clone(),
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    async fn announce(tx: &mut sqlx::AnyConnection, event: &Announce) -> Result<()> {
        outbox::enqueue(
            tx,
            NewEvent {
                topic: event.topic,
                key: &event.key,
                event_type: event.event_type,
                payload: event.payload.clone(),
            },
        )
        .await?;
        Ok(())
    }

    /// Inserts a queued job and announces it, or answers the job an earlier
    /// call with the same `request_id` created.
    pub async fn insert(&self, job: &Job, fingerprint: &str, event: &Announce) -> Result<Inserted> {
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(&format!(
            "INSERT INTO jobs ({COLUMNS}, fingerprint) VALUES \
             (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)"
        ))
        .bind(job.id.as_str())
        .bind(job.cluster_id.as_str())
        .bind(kind_column(job.kind))
        .bind(job.action.encode_to_vec())
        .bind(job.status.as_str())
        .bind(i64::from(job.progress))
        .bind(job.message.as_str())
        .bind(i64::from(job.attempt))
        .bind(i64::from(job.max_attempts))
        .bind(job.error.as_str())
        .bind(i64::from(job.cancel_requested))
        .bind(job.result.encode_to_vec())
        .bind(source_column(job.source))
        .bind(job.origin_id.as_str())
        .bind(job.requested_by.as_str())
        .bind(job.trace_id.as_str())
        .bind(job.request_id.clone())
        .bind(job.created_at)
        .bind(job.updated_at)
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
                    Err(Error::IdempotencyMismatch(
                        job.request_id.clone().unwrap_or_default(),
                    ))
                };
            }
            Err(e) => return Err(e.into()),
        }
        Self::announce(&mut tx, event).await?;
        tx.commit().await?;
        outbox::wake();
        Ok(Inserted::New)
    }

    pub async fn get(&self, id: &str) -> Result<Job> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        job_from(&row)
    }

    /// Newest first.
    pub async fn list(
        &self,
        filter: &Filter,
        size: u32,
        before: Option<&str>,
    ) -> Result<(Vec<Job>, Option<String>)> {
        let mut clauses = Vec::new();
        let mut args: Vec<String> = Vec::new();
        let mut and = |c: &'static str, a: String| {
            clauses.push(c);
            args.push(a);
        };
        if let Some(v) = &filter.cluster_id {
            and("cluster_id = ?", v.clone());
        }
        if let Some(v) = filter.status {
            and("status = ?", v.as_str().into());
        }
        if let Some(v) = filter.kind {
            and("kind = ?", kind_column(v).into());
        }
        if let Some(v) = filter.source {
            and("source = ?", source_column(v).into());
        }
        if let Some(v) = &filter.origin_id {
            and("origin_id = ?", v.clone());
        }
        if let Some(v) = before {
            and("id < ?", v.into());
        }
        let where_ = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM jobs {where_} ORDER BY id DESC LIMIT {}",
            size + 1
        );
        let mut q = sqlx::query(&sql);
        for a in &args {
            q = q.bind(a.as_str());
        }
        let mut jobs = q
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(job_from)
            .collect::<Result<Vec<_>>>()?;
        let more = jobs.len() > size as usize;
        jobs.truncate(size as usize);
        let next = if more {
            jobs.last().map(|j| j.id.clone())
        } else {
            None
        };
        Ok((jobs, next))
    }

    /// Applies `t` (and announces `event`) if the job may make it; false
    /// when it may not (already finished, another attempt, a race lost).
    pub async fn transition(
        &self,
        id: &str,
        t: &Transition,
        event: Option<&Announce>,
    ) -> Result<bool> {
        let mut sets = vec!["status = ?".to_string(), "updated_at = ?".to_string()];
        // Binding order follows the SQL text: collect (kind, value) pairs.
        enum Arg {
            I(i64),
            T(String),
            B(Vec<u8>),
        }
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
        if let Some(r) = &t.result {
            sets.push("result = ?".into());
            binds.push(Arg::B(r.encode_to_vec()));
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
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = match b {
                Arg::I(v) => q.bind(v),
                Arg::T(v) => q.bind(v),
                Arg::B(v) => q.bind(v),
            };
        }
        let mut tx = self.pool.begin().await?;
        let changed = q.execute(&mut *tx).await?.rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        if let Some(event) = event {
            Self::announce(&mut tx, event).await?;
        }
        tx.commit().await?;
        if event.is_some() {
            outbox::wake();
        }
        Ok(true)
    }
}

#[cfg(test)]
mod clip_tests {
    use super::*;

    #[test]
    fn overlong_text_is_cut_to_whole_characters() {
        assert_eq!(clip("héllo", 2), "hé");
        assert_eq!(clip("ok", 10), "ok");
        assert_eq!(clip(&"x".repeat(5000), MESSAGE_CHARS).chars().count(), 1024);
    }
}
