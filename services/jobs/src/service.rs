//! The jobs domain service: creation (idempotent by `request_id`), the state
//! machine driven by executors' progress reports, cancel, retry and watch.

use std::time::Duration;

use cg_runtime::{
    idempotency::fingerprint,
    kafka::{Failure, topics},
    new_id,
    time::{now_millis, timestamp},
    watch::{Changes, watch},
};
use clustergenie_proto::{events::v1 as ev, jobs::v1 as pb};
use prost::Message as _;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::{
    domain::{Job, Status, kind_of},
    error::{Error, Result},
    repo::{Announce, Filter, Inserted, JobRepository, Transition},
};

pub const JOB_REQUESTED: &str = "clustergenie.events.v1.JobRequested";
pub const JOB_CANCEL_REQUESTED: &str = "clustergenie.events.v1.JobCancelRequested";
pub const JOB_PROGRESS: &str = "clustergenie.events.v1.JobProgress";

const WATCH_POLL: Duration = Duration::from_secs(1);

/// A validated CreateJob.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub cluster_id: String,
    pub action: pb::JobAction,
    pub request_id: Option<String>,
    pub source: pb::JobSource,
    pub origin_id: String,
    pub max_attempts: i32,
    pub requested_by: String,
}

#[derive(Clone)]
pub struct Jobs {
    repo: JobRepository,
    changes: Changes,
    stop: CancellationToken,
    /// How long an executor may spend on one attempt.
    attempt_timeout: Duration,
}

impl Jobs {
    pub fn new(repo: JobRepository, attempt_timeout: Duration) -> Self {
        Self {
            repo,
            changes: Changes::default(),
            stop: CancellationToken::new(),
            attempt_timeout,
        }
    }

    pub fn repo(&self) -> &JobRepository {
        &self.repo
    }

    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    pub fn begin_shutdown(&self) {
        self.stop.cancel();
    }

    fn requested(&self, job: &Job, attempt: i32, now: i64) -> Announce {
        let deadline = now + i64::try_from(self.attempt_timeout.as_millis()).unwrap_or(i64::MAX);
        Announce {
            topic: topics::JOBS_REQUESTED,
            key: job.cluster_id.clone(),
            event_type: JOB_REQUESTED,
            payload: ev::JobRequested {
                job_id: job.id.clone(),
                cluster_id: job.cluster_id.clone(),
                kind: job.kind as i32,
                action: Some(job.action.clone()),
                attempt,
                deadline: Some(timestamp(deadline)),
                requested_by: job.requested_by.clone(),
            }
            .encode_to_vec(),
        }
    }

    fn cancel_requested(job: &Job, by: &str) -> Announce {
        Announce {
            topic: topics::JOBS_REQUESTED,
            key: job.cluster_id.clone(),
            event_type: JOB_CANCEL_REQUESTED,
            payload: ev::JobCancelRequested {
                job_id: job.id.clone(),
                cluster_id: job.cluster_id.clone(),
                attempt: job.attempt,
                requested_by: by.to_string(),
                time: Some(timestamp(now_millis())),
            }
            .encode_to_vec(),
        }
    }

    #[tracing::instrument(skip_all, fields(cluster_id = %new.cluster_id))]
    pub async fn create(&self, new: NewJob) -> Result<Job> {
        let action = new.action.action.as_ref().ok_or_else(|| {
            Error::InvalidArgument(vec![cg_runtime::FieldViolation::new(
                "action",
                "must be set",
            )])
        })?;
        let now = now_millis();
        let job = Job {
            id: new_id(),
            cluster_id: new.cluster_id.clone(),
            kind: kind_of(action),
            action: new.action.clone(),
            status: Status::Queued,
            progress: 0,
            message: "queued".into(),
            attempt: 1,
            max_attempts: new.max_attempts,
            error: String::new(),
            cancel_requested: false,
            result: pb::JobResult::default(),
            source: new.source,
            origin_id: new.origin_id.clone(),
            requested_by: new.requested_by.clone(),
            trace_id: current_trace_id(),
            request_id: new.request_id.clone(),
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
        };
        let fp = fingerprint(&[
            &new.cluster_id,
            &hex(&new.action.encode_to_vec()),
            new.source.as_str_name(),
            &new.origin_id,
            &new.max_attempts.to_string(),
        ]);
        match self
            .repo
            .insert(&job, &fp, &self.requested(&job, 1, now))
            .await?
        {
            Inserted::New => {
                tracing::info!(job_id = %job.id, kind = job.kind.as_str_name(), "job queued");
                self.changes.notify(&job.id);
                Ok(job)
            }
            Inserted::Replayed(id) => self.repo.get(&id).await,
        }
    }

    pub async fn get(&self, id: &str) -> Result<Job> {
        self.repo.get(id).await
    }

    pub async fn list(
        &self,
        filter: &Filter,
        size: u32,
        before: Option<&str>,
    ) -> Result<(Vec<Job>, Option<String>)> {
        self.repo.list(filter, size, before).await
    }

    /// A queued job is cancelled at once; a running one is asked to stop
    /// and becomes `cancelled` when its executor confirms.
    #[tracing::instrument(skip_all, fields(job_id = %id))]
    pub async fn cancel(&self, id: &str, by: &str) -> Result<Job> {
        let job = self.repo.get(id).await?;
        let now = now_millis();
        let done = match job.status {
            Status::Queued => {
                let mut t = Transition::to(Status::Cancelled, now);
                t.attempt = Some(job.attempt);
                t.cancel_requested = Some(true);
                t.message = Some(format!("cancelled by {by}"));
                self.repo
                    .transition(id, &t, Some(&Self::cancel_requested(&job, by)))
                    .await?
            }
            Status::Running => false,
            s => {
                return Err(Error::FailedPrecondition(format!(
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
                .transition(id, &t, Some(&Self::cancel_requested(&job, by)))
                .await?;
            if !asked {
                let now = self.repo.get(id).await?;
                if now.status.is_terminal() {
                    return Err(Error::FailedPrecondition(format!(
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
    pub async fn retry(&self, id: &str) -> Result<Job> {
        let job = self.repo.get(id).await?;
        if !matches!(job.status, Status::Failed | Status::Cancelled) {
            return Err(Error::FailedPrecondition(format!(
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
        let event = self.requested(&job, job.attempt + 1, now);
        if !self.repo.transition(id, &t, Some(&event)).await? {
            return Err(Error::FailedPrecondition(
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
            Err(Error::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        if p.attempt != job.attempt {
            return Ok(false);
        }
        let now = now_millis();
        let percent = p.percent.clamp(0, 100);
        let (t, event) = match ev::JobProgressStatus::try_from(p.status) {
            Ok(ev::JobProgressStatus::Running) => {
                let mut t = Transition::to(Status::Running, now);
                t.progress = Some(percent);
                t.message = Some(p.message.clone());
                t.result = p.result.clone();
                (t, None)
            }
            Ok(ev::JobProgressStatus::Succeeded) => {
                let mut t = Transition::to(Status::Succeeded, now);
                t.progress = Some(100);
                t.message = Some(if p.message.is_empty() {
                    "succeeded".into()
                } else {
                    p.message.clone()
                });
                t.result = p.result.clone();
                (t, None)
            }
            Ok(ev::JobProgressStatus::Failed)
                if job.attempt < job.max_attempts && !job.cancel_requested =>
            {
                let mut t = Transition::to(Status::Queued, now);
                t.next_attempt = true;
                t.reset_progress = true;
                t.error = Some(p.error.clone());
                t.message = Some(format!("attempt {} failed; retrying", job.attempt));
                (t, Some(self.requested(&job, job.attempt + 1, now)))
            }
            Ok(ev::JobProgressStatus::Failed) => {
                let mut t = Transition::to(Status::Failed, now);
                t.error = Some(p.error.clone());
                t.message = Some(format!("failed after {} attempt(s)", job.attempt));
                t.result = p.result.clone();
                (t, None)
            }
            Ok(ev::JobProgressStatus::Cancelled) => {
                let mut t = Transition::to(Status::Cancelled, now);
                t.message = Some("cancelled".into());
                t.result = p.result.clone();
                (t, None)
            }
            _ => return Ok(false),
        };
        let mut t = t;
        t.attempt = Some(job.attempt);
        let applied = self.repo.transition(&job.id, &t, event.as_ref()).await?;
        if applied {
            metrics::counter!("cg_job_transitions_total", "to" => t.to.as_str()).increment(1);
            self.changes.notify(&job.id);
        }
        Ok(applied)
    }

    /// The Kafka handler for `cg.jobs.progress`.
    pub async fn handle_progress(&self, event: cg_runtime::kafka::Event) -> Result<(), Failure> {
        let progress: ev::JobProgress = event.decode(JOB_PROGRESS)?;
        self.apply_progress(&progress)
            .await
            .map(|_| ())
            .map_err(|e| Failure::Retryable(e.to_string()))
    }

    /// The job now, then each change until it finishes.
    pub fn watch(&self, id: String) -> ReceiverStream<Result<Job>> {
        let repo = self.repo.clone();
        watch(
            id,
            &self.changes,
            self.stop.clone(),
            WATCH_POLL,
            Error::ShuttingDown,
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
