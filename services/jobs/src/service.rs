//! The jobs domain service: creation (idempotent by `request_id`), the state
//! machine driven by executors' progress reports, cancel, retry and watch.

use std::{sync::Arc, time::Duration};

use cg_runtime::{
    ApiError,
    activity::{Activity, Severity},
    idempotency::fingerprint,
    kafka::{Event, Failure},
    new_id,
    outbox::NewEvent,
    page::{PageOf, PageRequest},
    time::{now_millis, timestamp},
    topic::{JobRequest, topics},
    types::Id,
    watch::{Changes, watch},
};
use clustergenie_proto::{events::v1 as ev, jobs::v1 as pb};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::{
    domain::{Filter, Job, NewJob, Outcome, Status},
    repo::{Change, Inserted, JobRepository, Result, Transition},
    wire,
};

const WATCH_POLL: Duration = Duration::from_secs(1);

/// The jobs domain service over a repository `R`.
pub struct Jobs<R> {
    repo: Arc<R>,
    changes: Changes,
    stop: CancellationToken,
    /// How long an executor may spend on one attempt.
    attempt_timeout: Duration,
    /// Automatic retries wait a full-jitter backoff from `base` up to `cap`.
    retry_base: Duration,
    retry_cap: Duration,
}

impl<R> Clone for Jobs<R> {
    fn clone(&self) -> Self {
        Self {
            repo: self.repo.clone(),
            changes: self.changes.clone(),
            stop: self.stop.clone(),
            attempt_timeout: self.attempt_timeout,
            retry_base: self.retry_base,
            retry_cap: self.retry_cap,
        }
    }
}

impl<R: JobRepository> Jobs<R> {
    /// `stop` ends watch streams (the service kit cancels it at shutdown).
    pub fn new(repo: R, attempt_timeout: Duration, stop: CancellationToken) -> Self {
        Self {
            repo: Arc::new(repo),
            changes: Changes::default(),
            stop,
            attempt_timeout,
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(60),
        }
    }

    /// Automatic retries wait a full-jitter backoff from `base`, doubling
    /// per attempt, up to `cap`.
    #[must_use]
    pub fn with_retry_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.retry_base = base;
        self.retry_cap = cap;
        self
    }

    fn deadline(&self, now: i64) -> i64 {
        now + i64::try_from(self.attempt_timeout.as_millis()).unwrap_or(i64::MAX)
    }

    pub fn repo(&self) -> &R {
        &self.repo
    }

    pub fn begin_shutdown(&self) {
        self.stop.cancel();
    }

    fn requested(&self, job: &Job, attempt: u32, now: i64) -> NewEvent {
        let deadline = self.deadline(now);
        let message = JobRequest::Run(ev::JobRequested {
            job_id: job.id.clone(),
            cluster_id: job.cluster_id.clone(),
            kind: pb::JobKind::from(job.kind()) as i32,
            action: Some(pb::JobAction::from(&job.action)),
            attempt: i32::try_from(attempt).unwrap_or(i32::MAX),
            deadline: Some(timestamp(deadline)),
            requested_by: job.requested_by.clone(),
        });
        topics::JOBS_REQUESTED.event(&job.cluster_id, &message)
    }

    fn cancel_requested(job: &Job, by: &str) -> NewEvent {
        let message = JobRequest::Cancel(ev::JobCancelRequested {
            job_id: job.id.clone(),
            cluster_id: job.cluster_id.clone(),
            attempt: i32::try_from(job.attempt).unwrap_or(i32::MAX),
            requested_by: by.to_string(),
            time: Some(timestamp(now_millis())),
        });
        topics::JOBS_REQUESTED.event(&job.cluster_id, &message)
    }

    /// The activity-log entry for a change of `job`.
    fn activity(job: &Job, kind: &str, severity: Severity, message: String, now: i64) -> NewEvent {
        Activity::new("jobs", kind, severity, message, now)
            .cluster(&job.cluster_id)
            .job(&job.id)
            .attribute("kind", job.kind().as_str())
            .attribute("attempt", job.attempt.to_string())
            .event()
    }

    #[tracing::instrument(skip_all, fields(cluster_id = %new.cluster_id))]
    pub async fn create(&self, new: NewJob) -> Result<Job> {
        let now = now_millis();
        let job = Job {
            id: new_id(),
            cluster_id: new.cluster_id.to_string(),
            action: new.action.clone(),
            status: Status::Queued,
            progress: 0,
            message: "queued".into(),
            attempt: 1,
            max_attempts: new.max_attempts.get(),
            error: String::new(),
            cancel_requested: false,
            outcome: Outcome::default(),
            source: new.source,
            origin_id: new.origin_id.clone(),
            requested_by: new.requested_by.clone(),
            trace_id: current_trace_id(),
            request_id: new.request_id.as_ref().map(ToString::to_string),
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
            deadline: Some(self.deadline(now)),
            retry_at: None,
        };
        // The same body as the contract names it: cluster, action, source,
        // origin and max_attempts.
        let fp = fingerprint(&[
            new.cluster_id.as_str(),
            &hex(&wire::encode_action(&new.action)),
            new.source.as_str(),
            &new.origin_id,
            &new.max_attempts.get().to_string(),
        ]);
        match self
            .repo
            .insert(
                &job,
                &fp,
                vec![
                    self.requested(&job, 1, now),
                    Self::activity(
                        &job,
                        "job.created",
                        Severity::Info,
                        format!(
                            "{} job created by {}",
                            job.kind().as_str(),
                            job.requested_by
                        ),
                        now,
                    ),
                ],
            )
            .await?
        {
            Inserted::New => {
                tracing::info!(job_id = %job.id, kind = job.kind().as_str(), "job queued");
                self.changes.notify(&job.id);
                Ok(job)
            }
            Inserted::Replayed(id) => self.repo.get(&id).await,
        }
    }

    pub async fn get(&self, id: &Id) -> Result<Job> {
        self.repo.get(id.as_str()).await
    }

    pub async fn list(&self, filter: &Filter, page: &PageRequest) -> Result<PageOf<Job>> {
        self.repo.list(filter, page).await
    }

    /// A queued job is cancelled at once; a running one is asked to stop
    /// and becomes `cancelled` when its executor confirms.
    #[tracing::instrument(skip_all, fields(job_id = %id))]
    pub async fn cancel(&self, id: &Id, by: &str) -> Result<Job> {
        let id = id.as_str();
        let job = self.repo.get(id).await?;
        let now = now_millis();
        let done = match job.status {
            Status::Queued => {
                let mut t = Transition::to(Status::Cancelled, now);
                t.attempt = Some(job.attempt);
                t.cancel_requested = Some(true);
                t.message = Some(format!("cancelled by {by}"));
                let events = vec![
                    Self::cancel_requested(&job, by),
                    Self::activity(
                        &job,
                        "job.cancelled",
                        Severity::Warning,
                        format!(
                            "{} job cancelled by {by} before it ran",
                            job.kind().as_str()
                        ),
                        now,
                    ),
                ];
                self.repo.transition(id, &t, events).await?
            }
            Status::Running => false,
            s => {
                return Err(ApiError::FailedPrecondition(format!(
                    "job is already {}",
                    s.as_str()
                )));
            }
        };
        if !done {
            // Running (or it started meanwhile): ask the executor to stop.
            let mut t = Transition::to(Status::Running, now);
            t.attempt = Some(job.attempt);
            t.cancel_requested = Some(true);
            t.message = Some(format!("cancellation requested by {by}"));
            let asked = self
                .repo
                .transition(id, &t, vec![Self::cancel_requested(&job, by)])
                .await?;
            if !asked {
                let now = self.repo.get(id).await?;
                if now.status.is_terminal() {
                    return Err(ApiError::FailedPrecondition(format!(
                        "job is already {}",
                        now.status.as_str()
                    )));
                }
            }
        }
        self.changes.notify(id);
        self.repo.get(id).await
    }

    /// Re-queues a failed or cancelled job as its next attempt.
    #[tracing::instrument(skip_all, fields(job_id = %id))]
    pub async fn retry(&self, id: &Id) -> Result<Job> {
        let id = id.as_str();
        let job = self.repo.get(id).await?;
        if !matches!(job.status, Status::Failed | Status::Cancelled) {
            return Err(ApiError::FailedPrecondition(format!(
                "only failed or cancelled jobs can be retried; this one is {}",
                job.status.as_str()
            )));
        }
        let now = now_millis();
        let mut t = Transition::to(Status::Queued, now);
        t.attempt = Some(job.attempt);
        t.next_attempt = true;
        t.reset_progress = true;
        t.error = Some(String::new());
        t.cancel_requested = Some(false);
        t.message = Some("queued for retry".into());
        t.deadline = Some(Some(self.deadline(now)));
        t.retry_at = Some(None);
        let events = vec![
            self.requested(&job, job.attempt + 1, now),
            Self::activity(
                &job,
                "job.retried",
                Severity::Info,
                format!(
                    "{} job retried as attempt {}",
                    job.kind().as_str(),
                    job.attempt + 1
                ),
                now,
            ),
        ];
        if !self.repo.transition(id, &t, events).await? {
            return Err(ApiError::FailedPrecondition(
                "the job changed meanwhile; retry again".into(),
            ));
        }
        self.changes.notify(id);
        self.repo.get(id).await
    }

    /// Applies an executor's report. Reports for another attempt, for an
    /// unknown job or that would move a finished job are ignored, so
    /// redelivery and late reports are harmless.
    pub async fn apply_progress(&self, p: &ev::JobProgress) -> Result<bool> {
        let job = match self.repo.get(&p.job_id).await {
            Ok(j) => j,
            Err(ApiError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let Some((t, event)) = self.plan(&job, p, now_millis()) else {
            return Ok(false);
        };
        let applied = self.repo.transition(&job.id, &t, event).await?;
        if applied {
            self.applied(&job.id, &t);
        }
        Ok(applied)
    }

    /// [`Self::apply_progress`] for reports that arrived together, in
    /// order and in one transaction, each planned in its own span (what it
    /// announces carries that report's trace). Returns how many were
    /// applied.
    pub async fn apply_progress_all(
        &self,
        reports: &[(ev::JobProgress, tracing::Span)],
    ) -> Result<usize> {
        let ids: Vec<&str> = reports.iter().map(|(p, _)| p.job_id.as_str()).collect();
        let jobs: std::collections::HashMap<String, Job> = self
            .repo
            .get_many(&ids)
            .await?
            .into_iter()
            .map(|j| (j.id.clone(), j))
            .collect();
        let now = now_millis();
        // Planned from each job as it was read: the transitions' own
        // conditions (state and attempt) decide in order, so a job's
        // "started" and "done" in one batch both apply, and a report that
        // a change before it made stale does not.
        let changes: Vec<Change> = reports
            .iter()
            .filter_map(|(p, span)| {
                let job = jobs.get(&p.job_id)?;
                let (transition, announce) = span.in_scope(|| self.plan(job, p, now))?;
                Some(Change {
                    id: job.id.clone(),
                    transition,
                    announce,
                })
            })
            .collect();
        if changes.is_empty() {
            return Ok(0);
        }
        let applied = self.repo.transition_all(&changes).await?;
        let mut n = 0;
        for (change, applied) in changes.iter().zip(applied) {
            if applied {
                self.applied(&change.id, &change.transition);
                n += 1;
            }
        }
        Ok(n)
    }

    fn applied(&self, id: &str, t: &Transition) {
        metrics::counter!("cg_job_transitions_total", "to" => t.to.as_str()).increment(1);
        self.changes.notify(id);
    }

    /// The transition a report makes of `job` and what it announces;
    /// `None` for a report of another attempt or of no known state.
    fn plan(
        &self,
        job: &Job,
        p: &ev::JobProgress,
        now: i64,
    ) -> Option<(Transition, Vec<NewEvent>)> {
        if u32::try_from(p.attempt).ok() != Some(job.attempt) {
            return None;
        }
        let percent = p.percent.clamp(0, 100).unsigned_abs();
        let outcome = p.result.clone().map(Outcome::from);
        let (t, event) = match ev::JobProgressStatus::try_from(p.status) {
            Ok(ev::JobProgressStatus::Running) => {
                let mut t = Transition::to(Status::Running, now);
                t.progress = Some(percent);
                t.message = Some(p.message.clone());
                t.outcome = outcome.clone();
                (t, vec![])
            }
            Ok(ev::JobProgressStatus::Succeeded) => {
                let mut t = Transition::to(Status::Succeeded, now);
                t.progress = Some(100);
                t.message = Some(if p.message.is_empty() {
                    "succeeded".into()
                } else {
                    p.message.clone()
                });
                t.outcome = outcome.clone();
                let entry = Self::activity(
                    job,
                    "job.succeeded",
                    Severity::Info,
                    format!("{} job succeeded", job.kind().as_str()),
                    now,
                );
                (t, vec![entry])
            }
            Ok(ev::JobProgressStatus::Failed)
                if job.attempt < job.max_attempts && !job.cancel_requested =>
            {
                // The next attempt waits out a backoff; the reconciler
                // requests it when due.
                let wait = cg_runtime::time::backoff(self.retry_base, self.retry_cap, job.attempt);
                let at = now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                let mut t = Transition::to(Status::Queued, now);
                t.next_attempt = true;
                t.reset_progress = true;
                t.error = Some(p.error.clone());
                t.message = Some(format!(
                    "attempt {} failed; retrying in {:.1}s",
                    job.attempt,
                    wait.as_secs_f64()
                ));
                t.retry_at = Some(Some(at));
                t.deadline = Some(None);
                let entry = Self::activity(
                    job,
                    "job.retried",
                    Severity::Warning,
                    format!(
                        "{} job attempt {} failed ({}); retrying in {:.1}s",
                        job.kind().as_str(),
                        job.attempt,
                        p.error,
                        wait.as_secs_f64()
                    ),
                    now,
                );
                (t, vec![entry])
            }
            Ok(ev::JobProgressStatus::Failed) => {
                let mut t = Transition::to(Status::Failed, now);
                t.error = Some(p.error.clone());
                t.message = Some(format!("failed after {} attempt(s)", job.attempt));
                t.outcome = outcome.clone();
                let entry = Self::activity(
                    job,
                    "job.failed",
                    Severity::Error,
                    format!(
                        "{} job failed after {} attempt(s): {}",
                        job.kind().as_str(),
                        job.attempt,
                        p.error
                    ),
                    now,
                );
                (t, vec![entry])
            }
            Ok(ev::JobProgressStatus::Cancelled) => {
                let mut t = Transition::to(Status::Cancelled, now);
                t.message = Some("cancelled".into());
                t.outcome = outcome.clone();
                let entry = Self::activity(
                    job,
                    "job.cancelled",
                    Severity::Warning,
                    format!("{} job cancelled while running", job.kind().as_str()),
                    now,
                );
                (t, vec![entry])
            }
            _ => return None,
        };
        let mut t = t;
        t.attempt = Some(job.attempt);
        Some((t, event))
    }

    /// One round of the reconciler: requests retries whose backoff is over,
    /// and fails attempts still unfinished `margin` after their deadline
    /// (their report was lost, or their request never reached an executor),
    /// which retries them per `max_attempts`. Returns how many jobs moved.
    pub async fn reconcile(&self, margin: Duration) -> Result<usize> {
        let now = now_millis();
        let mut moved = 0;
        for job in self.repo.due_retries(now, 256).await? {
            let mut t = Transition::to(Status::Queued, now);
            t.attempt = Some(job.attempt);
            t.only_waiting_retry = true;
            t.retry_at = Some(None);
            t.deadline = Some(Some(self.deadline(now)));
            t.message = Some(format!("attempt {} requested", job.attempt));
            let event = self.requested(&job, job.attempt, now);
            if self.repo.transition(&job.id, &t, vec![event]).await? {
                self.changes.notify(&job.id);
                moved += 1;
            }
        }
        let cutoff = now - i64::try_from(margin.as_millis()).unwrap_or(i64::MAX);
        for job in self.repo.overdue(cutoff, 256).await? {
            tracing::warn!(job_id = %job.id, attempt = job.attempt, status = job.status.as_str(), "attempt passed its deadline without a report; failing it");
            metrics::counter!("cg_jobs_reconciled_total").increment(1);
            let report = ev::JobProgress {
                job_id: job.id.clone(),
                cluster_id: job.cluster_id.clone(),
                attempt: i32::try_from(job.attempt).unwrap_or(i32::MAX),
                status: ev::JobProgressStatus::Failed as i32,
                error: format!(
                    "attempt {} passed its deadline without a report from an executor",
                    job.attempt
                ),
                ..Default::default()
            };
            if self.apply_progress(&report).await? {
                moved += 1;
            }
        }
        Ok(moved)
    }

    /// The Kafka handler for `cg.jobs.progress`, for reports that arrived
    /// together: applied in one transaction. A report that cannot be read
    /// fails the batch for good, and the consumer retries its records one
    /// by one, so only that one is dead-lettered.
    pub async fn handle_progress_batch(&self, events: Vec<Event>) -> Result<(), Failure> {
        let reports = events
            .iter()
            .map(|e| {
                Ok((
                    topics::JOBS_PROGRESS.decode(e)?,
                    cg_runtime::kafka::record_span(e),
                ))
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        self.apply_progress_all(&reports)
            .await
            .map(|_| ())
            .map_err(Failure::from)
    }

    /// The job now, then each change until it finishes.
    pub fn watch(&self, id: &Id) -> ReceiverStream<Result<Job>> {
        let repo = self.repo.clone();
        watch(
            id.to_string(),
            &self.changes,
            self.stop.clone(),
            WATCH_POLL,
            ApiError::ShuttingDown,
            move |id| {
                let repo = repo.clone();
                async move {
                    let job = repo.get(&id).await?;
                    let done = job.status.is_terminal();
                    Ok((job, done))
                }
            },
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The trace id of the current span, when it is traced.
fn current_trace_id() -> String {
    cg_runtime::kafka::current_traceparent()
        .and_then(|tp| tp.split('-').nth(1).map(str::to_string))
        .unwrap_or_default()
}
