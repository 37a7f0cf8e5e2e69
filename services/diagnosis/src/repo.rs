//! Storage of diagnoses and of the jobs their recommendations became. The
//! trait speaks plain domain types; [`SqlDiagnoses`] implements it on
//! MySQL/MariaDB and SQLite, and one suite (`tests/repository.rs`) runs
//! against every implementation. Activity entries are written to the outbox
//! in the transaction of the change they announce.

use std::{collections::HashMap, future::Future};

use cg_runtime::{
    ApiError,
    activity::Activity,
    db::{Db, Order, Where, is_unique_violation, page_by_id, replay},
    outbox::{self, Wake},
    page::{PageOf, PageRequest},
};
use sqlx::{AnyPool, Row, any::AnyRow};

use crate::domain::{Diagnosis, Severity, Status};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Which diagnoses to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DiagnosisFilter {
    pub cluster_id: Option<String>,
    pub droplet_id: Option<String>,
    pub min_severity: Option<Severity>,
    pub since_ms: Option<i64>,
}

/// A recommendation's job as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Implementation {
    pub job_id: String,
    pub request_id: Option<String>,
}

pub trait DiagnosisStore: Send + Sync + 'static {
    /// Stores a new diagnosis, and `activity` with it. The same
    /// `request_id` with the same `fingerprint` answers with the stored
    /// one; with another it is `IdempotencyMismatch`.
    fn insert(
        &self,
        d: &Diagnosis,
        fingerprint: &str,
        activity: Option<&Activity>,
    ) -> impl Future<Output = Result<Diagnosis>> + Send;

    /// The diagnosis stored under `request_id`, checked against
    /// `fingerprint` as `insert` does.
    fn by_request(
        &self,
        request_id: &str,
        fingerprint: &str,
    ) -> impl Future<Output = Result<Option<Diagnosis>>> + Send;

    /// Replaces an enriching diagnosis with its final form, and writes
    /// `activity`; false when it was no longer enriching (another writer
    /// finished it first).
    fn complete(
        &self,
        d: &Diagnosis,
        activity: Option<&Activity>,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// With the jobs of its implemented recommendations.
    fn get(&self, id: &str) -> impl Future<Output = Result<Diagnosis>> + Send;

    /// Newest first.
    fn list(
        &self,
        filter: &DiagnosisFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<PageOf<Diagnosis>>> + Send;

    /// Records the job of a recommendation, and `activity`, unless one is
    /// recorded already: the recorded one (first writer wins).
    fn implement(
        &self,
        diagnosis_id: &str,
        recommendation_id: &str,
        done: &Implementation,
        now: i64,
        activity: Option<&Activity>,
    ) -> impl Future<Output = Result<Implementation>> + Send;

    fn implementation(
        &self,
        diagnosis_id: &str,
        recommendation_id: &str,
    ) -> impl Future<Output = Result<Option<Implementation>>> + Send;

    /// Diagnoses still enriching that were last written before `before`.
    fn enriching_since(&self, before: i64) -> impl Future<Output = Result<Vec<Diagnosis>>> + Send;
}

pub struct SqlDiagnoses {
    pool: AnyPool,
    wake: Wake,
}

impl SqlDiagnoses {
    pub fn new(db: &Db) -> Self {
        Self {
            pool: db.pool.clone(),
            wake: db.wake.clone(),
        }
    }
}

const COLUMNS: &str = "id, body";

fn bad(msg: String) -> ApiError {
    ApiError::Internal(msg)
}

fn diagnosis_from(row: &AnyRow) -> Result<Diagnosis> {
    let body: Vec<u8> = row.try_get("body")?;
    serde_json::from_slice(&body).map_err(|e| bad(format!("diagnosis body: {e}")))
}

fn status_column(s: Status) -> &'static str {
    match s {
        Status::Enriching => "enriching",
        Status::Completed => "completed",
    }
}

fn severity_column(s: Severity) -> i64 {
    match s {
        Severity::Info => 1,
        Severity::Warning => 2,
        Severity::Critical => 3,
    }
}

impl SqlDiagnoses {
    /// Sets `implemented_job_id` on the recommendations of `ds`.
    async fn with_jobs(&self, mut ds: Vec<Diagnosis>) -> Result<Vec<Diagnosis>> {
        if ds.is_empty() {
            return Ok(ds);
        }
        let marks = vec!["?"; ds.len()].join(", ");
        let sql = format!(
            "SELECT diagnosis_id, recommendation_id, job_id FROM implementations \
             WHERE diagnosis_id IN ({marks})"
        );
        let mut q = sqlx::query(&sql);
        for d in &ds {
            q = q.bind(d.id.as_str());
        }
        let mut jobs: HashMap<(String, String), String> = HashMap::new();
        for row in q.fetch_all(&self.pool).await? {
            jobs.insert(
                (
                    row.try_get("diagnosis_id")?,
                    row.try_get("recommendation_id")?,
                ),
                row.try_get("job_id")?,
            );
        }
        for d in &mut ds {
            for r in &mut d.recommendations {
                if let Some(job) = jobs.get(&(d.id.clone(), r.id.clone())) {
                    r.implemented_job_id = Some(job.clone());
                }
            }
        }
        Ok(ds)
    }
}

impl DiagnosisStore for SqlDiagnoses {
    async fn insert(
        &self,
        d: &Diagnosis,
        fingerprint: &str,
        activity: Option<&Activity>,
    ) -> Result<Diagnosis> {
        let body = serde_json::to_vec(d).map_err(|e| bad(format!("diagnosis body: {e}")))?;
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(
            "INSERT INTO diagnoses (id, cluster_id, droplet_id, status, severity, request_id, \
             fingerprint, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(d.id.as_str())
        .bind(d.cluster_id.as_str())
        .bind(d.droplet_id.as_str())
        .bind(status_column(d.status))
        .bind(severity_column(d.severity))
        .bind(d.request_id.clone())
        .bind(fingerprint)
        .bind(body)
        .bind(d.created_at)
        .bind(d.created_at)
        .execute(&mut *tx)
        .await;
        match res {
            Ok(_) => {
                if let Some(a) = activity {
                    outbox::enqueue(&mut tx, a.event()).await?;
                }
                tx.commit().await?;
                if activity.is_some() {
                    self.wake.wake();
                }
                Ok(d.clone())
            }
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                match self
                    .by_request(d.request_id.as_deref().unwrap_or_default(), fingerprint)
                    .await?
                {
                    Some(earlier) => Ok(earlier),
                    None => Err(ApiError::AlreadyExists(format!(
                        "diagnosis {} exists",
                        d.id
                    ))),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn by_request(&self, request_id: &str, fingerprint: &str) -> Result<Option<Diagnosis>> {
        if request_id.is_empty() {
            return Ok(None);
        }
        let found = replay(
            &self.pool,
            "SELECT id, body, fingerprint FROM diagnoses WHERE request_id = ?",
            Some(request_id),
            fingerprint,
            diagnosis_from,
        )
        .await?;
        match found {
            Some(d) => Ok(self.with_jobs(vec![d]).await?.pop()),
            None => Ok(None),
        }
    }

    async fn complete(&self, d: &Diagnosis, activity: Option<&Activity>) -> Result<bool> {
        let body = serde_json::to_vec(d).map_err(|e| bad(format!("diagnosis body: {e}")))?;
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE diagnoses SET status = ?, body = ?, updated_at = ? \
             WHERE id = ? AND status = 'enriching'",
        )
        .bind(status_column(d.status))
        .bind(body)
        .bind(d.created_at + d.duration_ms)
        .bind(d.id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        if let Some(a) = activity {
            outbox::enqueue(&mut tx, a.event()).await?;
        }
        tx.commit().await?;
        if activity.is_some() {
            self.wake.wake();
        }
        Ok(true)
    }

    async fn get(&self, id: &str) -> Result<Diagnosis> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM diagnoses WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| ApiError::not_found("diagnosis", id))?;
        let d = diagnosis_from(&row)?;
        Ok(self
            .with_jobs(vec![d])
            .await?
            .pop()
            .expect("one in, one out"))
    }

    async fn list(&self, f: &DiagnosisFilter, page: &PageRequest) -> Result<PageOf<Diagnosis>> {
        let mut w = Where::new();
        w.text("cluster_id = ?", f.cluster_id.clone())
            .text("droplet_id = ?", f.droplet_id.clone())
            .int("severity >= ?", f.min_severity.map(severity_column))
            .int("created_at >= ?", f.since_ms);
        let page: PageOf<Diagnosis> = page_by_id(
            &self.pool,
            COLUMNS,
            "diagnoses",
            w,
            Order::NewestFirst,
            page,
            diagnosis_from,
            |d: &Diagnosis| d.id.clone(),
        )
        .await?;
        let next_after = page.next_after.clone();
        Ok(PageOf {
            items: self.with_jobs(page.items).await?,
            next_after,
        })
    }

    async fn implement(
        &self,
        diagnosis_id: &str,
        recommendation_id: &str,
        done: &Implementation,
        now: i64,
        activity: Option<&Activity>,
    ) -> Result<Implementation> {
        let mut tx = self.pool.begin().await?;
        let res = sqlx::query(
            "INSERT INTO implementations (diagnosis_id, recommendation_id, job_id, request_id, \
             created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(diagnosis_id)
        .bind(recommendation_id)
        .bind(done.job_id.as_str())
        .bind(done.request_id.clone())
        .bind(now)
        .execute(&mut *tx)
        .await;
        match res {
            Ok(_) => {
                if let Some(a) = activity {
                    outbox::enqueue(&mut tx, a.event()).await?;
                }
                tx.commit().await?;
                if activity.is_some() {
                    self.wake.wake();
                }
                Ok(done.clone())
            }
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                self.implementation(diagnosis_id, recommendation_id)
                    .await?
                    .ok_or_else(|| ApiError::Internal("an implementation vanished".into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn implementation(
        &self,
        diagnosis_id: &str,
        recommendation_id: &str,
    ) -> Result<Option<Implementation>> {
        let row = sqlx::query(
            "SELECT job_id, request_id FROM implementations \
             WHERE diagnosis_id = ? AND recommendation_id = ?",
        )
        .bind(diagnosis_id)
        .bind(recommendation_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Implementation {
                job_id: r.try_get("job_id")?,
                request_id: r.try_get("request_id")?,
            })
        })
        .transpose()
    }

    async fn enriching_since(&self, before: i64) -> Result<Vec<Diagnosis>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM diagnoses WHERE status = 'enriching' AND updated_at < ? \
             ORDER BY id LIMIT 100"
        ))
        .bind(before)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(diagnosis_from)
        .collect()
    }
}
