//! The job executor: consumes `cg.jobs.requested` into a bounded worker pool
//! (N tokio workers fed by an mpsc channel; a full channel pauses
//! consumption, nothing is dropped). Each attempt is first recorded in
//! `executions` (so a crash loses nothing and a redelivery is a no-op), runs
//! under its deadline and a cancellation token, and reports on
//! `cg.jobs.progress` through the outbox. Every step carries a request_id
//! derived from the job, so a resumed attempt repeats no side effect.
//!
//! Ownership: each executor (one per process start) has an id; the attempts
//! it accepted are its own, under a lease it renews by heartbeat. An
//! attempt whose lease expired (its replica died or stopped) is taken over
//! by whichever replica's sweep claims it first, by a conditional update;
//! an executor that finds it no longer owns an attempt stops running it and
//! reports nothing, so no attempt runs (or ends) on two replicas.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use cg_runtime::{
    db::is_unique_violation,
    kafka::{Event, Failure},
    outbox::{self, NewEvent},
    page::PageRequest,
    time::{now_millis, timestamp},
    topic::{JobRequest, topics},
    types::RequestId,
    watch::changed,
};
use clustergenie_proto::{events::v1 as ev, jobs::v1 as jobs};
use prost::Message as _;
use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::{
    Service, catalog,
    domain::{ActionStatus, DropletName, DropletStatus, Id, Tags},
    repo::DropletFilter,
    service::{ActionRequest, CreateAction, CreateDroplet},
};

/// Latencies kept per kind for the percentiles GetExecutorStats answers.
const LATENCY_WINDOW: usize = 1024;
/// How long a step waits for a change notice before reading again anyway
/// (the change may have happened on another replica).
const RECHECK: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    pub workers: usize,
    /// Accepted attempts waiting for a worker; when full, intake pauses.
    pub queue: usize,
    /// How long an attempt stays this executor's without a heartbeat: a
    /// dead replica's attempts are taken over after this. Heartbeats go
    /// out every third of it.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// At shutdown, attempts in progress may finish within this; what is
    /// left is handed to another replica.
    #[serde(with = "humantime_serde")]
    pub drain: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            workers: 4,
            queue: 64,
            lease: Duration::from_secs(10),
            drain: Duration::from_secs(10),
        }
    }
}

impl ExecutorConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=256).contains(&self.workers) || !(1..=100_000).contains(&self.queue) {
            return Err("executor.workers must be 1–256 and executor.queue 1–100000".into());
        }
        if !(Duration::from_millis(300)..=Duration::from_secs(600)).contains(&self.lease) {
            return Err("executor.lease must be between 300ms and 10m".into());
        }
        if self.drain > Duration::from_secs(600) {
            return Err("executor.drain must be at most 10m".into());
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    job_id: String,
    attempt: i64,
}

#[derive(Default)]
struct KindStats {
    completed: i64,
    failed: i64,
    recent: VecDeque<Duration>,
}

/// Per-kind latency percentiles and counts.
#[derive(Debug, Clone)]
pub struct KindLatency {
    pub kind: String,
    pub completed: i64,
    pub failed: i64,
    pub p50: Duration,
    pub p99: Duration,
}

#[derive(Debug, Clone)]
pub struct Stats {
    pub workers: usize,
    pub busy: usize,
    pub queue_capacity: usize,
    pub queue_length: usize,
    pub latencies: Vec<KindLatency>,
}

struct Inner {
    /// This executor's id: the owner of the attempts it runs.
    id: String,
    lease: Duration,
    /// How long attempts in progress may run on after shutdown began.
    drain: Duration,
    /// Ends the heartbeat: only once attempts drained and were released,
    /// so a draining attempt keeps its lease.
    released: CancellationToken,
    service: Service,
    pool: AnyPool,
    wake: outbox::Wake,
    tx: mpsc::Sender<Key>,
    workers: usize,
    queue: usize,
    busy: AtomicUsize,
    /// Busy workers and queued attempts, for the System page.
    board: cg_runtime::status::Pool,
    /// The user's cancel, per attempt in progress.
    running: Mutex<HashMap<Key, CancellationToken>>,
    /// Ends an attempt in progress that another replica took over.
    lost: Mutex<HashMap<Key, CancellationToken>>,
    stats: Mutex<HashMap<String, KindStats>>,
    stop: CancellationToken,
}

#[derive(Clone)]
pub struct Executor(Arc<Inner>);

/// How an attempt ended.
enum End {
    Succeeded(jobs::JobResult),
    Failed(String, jobs::JobResult),
    Cancelled(jobs::JobResult),
}

impl Executor {
    /// Starts the workers, the heartbeat and the sweep that takes over
    /// attempts whose lease expired (also those a previous process left).
    pub async fn start(
        service: Service,
        db: &cg_runtime::db::Db,
        config: &ExecutorConfig,
        status: &cg_runtime::status::Status,
        stop: CancellationToken,
    ) -> Result<Self, sqlx::Error> {
        let (tx, rx) = mpsc::channel(config.queue);
        let inner = Arc::new(Inner {
            // Says which process owns an attempt, for operators and tests.
            id: format!("pid{}-{}", std::process::id(), cg_runtime::new_id()),
            lease: config.lease,
            drain: config.drain,
            released: CancellationToken::new(),
            service,
            pool: db.pool.clone(),
            wake: db.wake.clone(),
            tx,
            workers: config.workers,
            queue: config.queue,
            busy: AtomicUsize::new(0),
            board: status.pool("executor", config.workers, config.queue),
            running: Mutex::new(HashMap::new()),
            lost: Mutex::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
            stop,
        });
        metrics::gauge!("cg_executor_workers").set(config.workers as f64);
        metrics::gauge!("cg_executor_queue_capacity").set(config.queue as f64);
        let this = Self(inner);
        tracing::info!(executor = %this.0.id, "executor started");
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..config.workers {
            let (this, rx) = (this.clone(), rx.clone());
            tokio::spawn(async move { this.work(rx).await });
        }
        // Fails start when the database is away, like the rest of start.
        this.take_over().await?;
        tokio::spawn(this.clone().keep_leases());
        Ok(this)
    }

    fn lease_until(&self) -> i64 {
        now_millis() + i64::try_from(self.0.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// Renews this executor's leases every third of a lease and takes over
    /// expired ones (until shutdown begins), until its attempts were
    /// released.
    async fn keep_leases(self) {
        let beat = self.0.lease / 3;
        let mut failures = 0u32;
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                () = self.0.released.cancelled() => return,
                () = tokio::time::sleep(beat) => {}
            }
            let result = async {
                self.heartbeat().await?;
                if self.0.stop.is_cancelled() {
                    return Ok(());
                }
                self.take_over().await
            }
            .await;
            match result {
                Ok(()) => {
                    failures = 0;
                    renewed = Instant::now();
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(executor = %self.0.id, error = %e, failures, "executor heartbeat failed");
                    // Unrenewed, the leases may have been taken over by now:
                    // stop what runs here rather than run it twice.
                    if renewed.elapsed() > self.0.lease
                        && let Ok(lost) = self.0.lost.lock()
                    {
                        for token in lost.values() {
                            token.cancel();
                        }
                    }
                }
            }
        }
    }

    /// Renews the leases of this executor's unfinished attempts, and stops
    /// running any that another replica took over meanwhile.
    async fn heartbeat(&self) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE executions SET lease_until = ? WHERE owner = ? AND status IN ('pending', 'running')",
        )
        .bind(self.lease_until())
        .bind(self.0.id.as_str())
        .execute(&self.0.pool)
        .await?;
        let rows = sqlx::query(
            "SELECT job_id, attempt, cancel_requested FROM executions \
             WHERE owner = ? AND status IN ('pending', 'running')",
        )
        .bind(self.0.id.as_str())
        .fetch_all(&self.0.pool)
        .await?;
        let mut owned = std::collections::HashSet::new();
        for row in &rows {
            let key = key_of(row)?;
            // A cancel that reached another replica (the one that accepted
            // the attempt before it was taken over) lands here.
            if row.try_get::<i64, _>(2)? != 0
                && let Some(token) = self
                    .0
                    .running
                    .lock()
                    .ok()
                    .and_then(|r| r.get(&key).cloned())
            {
                token.cancel();
            }
            owned.insert(key);
        }
        // Attempts running here that the read did not list: taken over, or
        // (far more often) finished between the read and now.
        let missing: Vec<(Key, CancellationToken)> = self
            .0
            .lost
            .lock()
            .map(|lost| {
                lost.iter()
                    .filter(|(key, _)| !owned.contains(*key))
                    .map(|(k, t)| (k.clone(), t.clone()))
                    .collect()
            })
            .unwrap_or_default();
        for (key, token) in missing {
            let owner: Option<Option<String>> =
                sqlx::query_scalar("SELECT owner FROM executions WHERE job_id = ? AND attempt = ?")
                    .bind(key.job_id.as_str())
                    .bind(key.attempt)
                    .fetch_optional(&self.0.pool)
                    .await?;
            if owner.flatten().as_deref() != Some(self.0.id.as_str()) {
                tracing::warn!(job_id = %key.job_id, attempt = key.attempt, "attempt taken over by another replica; stopping it here");
                token.cancel();
            }
        }
        Ok(())
    }

    /// Claims attempts whose lease expired and queues them here.
    async fn take_over(&self) -> Result<(), sqlx::Error> {
        let now = now_millis();
        let expired: Vec<Key> = sqlx::query(
            "SELECT job_id, attempt FROM executions WHERE status IN ('pending', 'running') \
             AND lease_until < ? AND (owner IS NULL OR owner <> ?) ORDER BY created_at LIMIT 256",
        )
        .bind(now)
        .bind(self.0.id.as_str())
        .fetch_all(&self.0.pool)
        .await?
        .iter()
        .map(key_of)
        .collect::<Result<_, _>>()?;
        for key in expired {
            let claimed = sqlx::query(
                "UPDATE executions SET owner = ?, lease_until = ? WHERE job_id = ? AND attempt = ? \
                 AND status IN ('pending', 'running') AND lease_until < ?",
            )
            .bind(self.0.id.as_str())
            .bind(self.lease_until())
            .bind(key.job_id.as_str())
            .bind(key.attempt)
            .bind(now)
            .execute(&self.0.pool)
            .await?
            .rows_affected();
            if claimed == 1 {
                tracing::info!(executor = %self.0.id, job_id = %key.job_id, attempt = key.attempt, "took over an attempt whose lease expired");
                metrics::counter!("cg_executor_takeovers_total").increment(1);
                let tx = self.0.tx.clone();
                let stop = self.0.stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = tx.send(key) => {}
                        () = stop.cancelled() => {}
                    }
                });
            }
        }
        Ok(())
    }

    /// Waits (at most the drain period and a little) until no attempt is
    /// in progress here, then lets other replicas take this executor's
    /// unfinished attempts at once. Called at shutdown.
    pub async fn release(&self) {
        let until = Instant::now() + self.0.drain + Duration::from_secs(1);
        while self.0.busy.load(Ordering::Relaxed) > 0 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.0.released.cancel();
        let released = sqlx::query(
            "UPDATE executions SET lease_until = 0 WHERE owner = ? AND status IN ('pending', 'running')",
        )
        .bind(self.0.id.as_str())
        .execute(&self.0.pool)
        .await;
        match released {
            Ok(r) if r.rows_affected() > 0 => {
                tracing::info!(executor = %self.0.id, count = r.rows_affected(), "released unfinished attempts");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not release attempts; they are taken over when their lease expires")
            }
        }
    }

    pub fn stats(&self) -> Stats {
        let latencies = self
            .0
            .stats
            .lock()
            .map(|s| {
                s.iter()
                    .map(|(kind, k)| {
                        let mut sorted: Vec<Duration> = k.recent.iter().copied().collect();
                        sorted.sort_unstable();
                        let at = |q: f64| {
                            sorted
                                .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
                                .copied()
                                .unwrap_or_default()
                        };
                        KindLatency {
                            kind: kind.clone(),
                            completed: k.completed,
                            failed: k.failed,
                            p50: at(0.5),
                            p99: at(0.99),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        Stats {
            workers: self.0.workers,
            busy: self.0.busy.load(Ordering::Relaxed),
            queue_capacity: self.0.queue,
            queue_length: self.0.queue - self.0.tx.capacity(),
            latencies,
        }
    }

    /// The Kafka handler for `cg.jobs.requested`, for requests that arrived
    /// together: the attempts between two cancels are recorded with one
    /// statement, then queued in order. A request that cannot be read fails
    /// the batch for good, and the consumer retries its records one by one,
    /// so only that one is dead-lettered.
    pub async fn handle_batch(&self, events: Vec<Event>) -> Result<(), Failure> {
        let mut requests = Vec::with_capacity(events.len());
        for event in &events {
            let span = cg_runtime::kafka::record_span(event);
            requests.push((topics::JOBS_REQUESTED.decode(event)?, span));
        }
        let mut runs = Vec::new();
        for (request, span) in requests {
            match request {
                JobRequest::Run(req) => {
                    let traceparent = span
                        .in_scope(cg_runtime::kafka::current_traceparent)
                        .unwrap_or_default();
                    runs.push(Accepted::parse(req, traceparent)?);
                }
                // Runs before a cancel are recorded first: it may be theirs.
                JobRequest::Cancel(req) => {
                    self.accept(std::mem::take(&mut runs)).await?;
                    self.cancel(req).instrument(span).await?;
                }
            }
        }
        self.accept(runs).await
    }

    /// Records new attempts (redelivered ones were accepted already) and
    /// queues them for the workers.
    async fn accept(&self, runs: Vec<Accepted>) -> Result<(), Failure> {
        let mut seen = std::collections::HashSet::new();
        let mut runs: Vec<Accepted> = runs
            .into_iter()
            .filter(|r| seen.insert((r.job_id.clone(), r.attempt)))
            .collect();
        if runs.is_empty() {
            return Ok(());
        }
        if runs.len() > 1 {
            let sql = format!(
                "SELECT job_id, attempt FROM executions WHERE job_id IN ({})",
                vec!["?"; runs.len()].join(", ")
            );
            let mut q = sqlx::query(&sql);
            for r in &runs {
                q = q.bind(r.job_id.as_str());
            }
            let mut known = std::collections::HashSet::new();
            for row in q.fetch_all(&self.0.pool).await.map_err(retryable)? {
                let job_id: String = row.try_get(0).map_err(retryable)?;
                let attempt: i64 = row.try_get(1).map_err(retryable)?;
                known.insert((job_id, attempt));
            }
            runs.retain(|r| !known.contains(&(r.job_id.clone(), r.attempt)));
            if runs.is_empty() {
                return Ok(());
            }
        }
        let row = "(?, ?, ?, ?, ?, 'pending', 0, ?, ?, NULL, ?, ?, ?)";
        let sql = format!(
            "INSERT INTO executions (job_id, attempt, cluster_id, kind, action, status, \
             cancel_requested, deadline, created_at, finished_at, owner, lease_until, \
             traceparent) VALUES {}",
            vec![row; runs.len()].join(", ")
        );
        let (now, lease_until) = (now_millis(), self.lease_until());
        let mut q = sqlx::query(&sql);
        for r in &runs {
            q = q
                .bind(r.job_id.as_str())
                .bind(r.attempt)
                .bind(r.cluster_id.as_str())
                .bind(r.kind)
                .bind(r.action.as_slice())
                .bind(r.deadline)
                .bind(now)
                .bind(self.0.id.as_str())
                .bind(lease_until)
                .bind(r.traceparent.as_str());
        }
        match q.execute(&self.0.pool).await {
            Ok(_) => {}
            // Redelivered: this attempt was accepted already.
            Err(e) if is_unique_violation(&e) && runs.len() == 1 => return Ok(()),
            // Another replica accepted one of them meanwhile (a rebalance):
            // the retry finds it recorded and leaves it out.
            Err(e) => return Err(retryable(e)),
        }
        for r in runs {
            let key = Key {
                job_id: r.job_id,
                attempt: r.attempt,
            };
            // Waits while the queue is full: intake pauses, nothing drops.
            tokio::select! {
                sent = self.0.tx.send(key) => {
                    if sent.is_err() {
                        tracing::warn!("executor stopped; the attempt resumes at the next start");
                        return Ok(());
                    }
                }
                () = self.0.stop.cancelled() => return Ok(()),
            }
        }
        Ok(())
    }

    async fn cancel(&self, req: ev::JobCancelRequested) -> Result<(), Failure> {
        sqlx::query("UPDATE executions SET cancel_requested = 1 WHERE job_id = ? AND attempt = ?")
            .bind(req.job_id.as_str())
            .bind(i64::from(req.attempt))
            .execute(&self.0.pool)
            .await
            .map_err(retryable)?;
        let key = Key {
            job_id: req.job_id,
            attempt: i64::from(req.attempt),
        };
        if let Some(token) = self
            .0
            .running
            .lock()
            .ok()
            .and_then(|r| r.get(&key).cloned())
        {
            token.cancel();
        }
        Ok(())
    }

    async fn work(self, rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Key>>>) {
        loop {
            let key = tokio::select! {
                biased;
                () = self.0.stop.cancelled() => return,
                key = async { rx.lock().await.recv().await } => match key {
                    Some(k) => k,
                    None => return,
                },
            };
            let busy = self.0.busy.fetch_add(1, Ordering::Relaxed) + 1;
            let queued = self.0.queue - self.0.tx.capacity();
            metrics::gauge!("cg_executor_busy_workers").set(busy as f64);
            metrics::gauge!("cg_executor_queue_length").set(queued as f64);
            self.0.board.set_busy(busy);
            self.0.board.set_queued(queued);
            if let Err(e) = self.run(&key).await {
                // The row stays pending/running and this executor keeps its
                // lease: it tries again after a pause (the database may be
                // away for a while).
                tracing::error!(job_id = %key.job_id, error = %e, "job attempt could not be recorded; retrying");
                let (tx, stop) = (self.0.tx.clone(), self.0.stop.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        () = stop.cancelled() => {}
                        () = tokio::time::sleep(Duration::from_secs(1)) => {
                            let _ = tx.send(key).await;
                        }
                    }
                });
            }
            let busy = self.0.busy.fetch_sub(1, Ordering::Relaxed) - 1;
            metrics::gauge!("cg_executor_busy_workers").set(busy as f64);
            self.0.board.set_busy(busy);
            self.0.board.set_queued(self.0.queue - self.0.tx.capacity());
        }
    }

    async fn run(&self, key: &Key) -> Result<(), sqlx::Error> {
        // Registered before the row is read: a cancel lands either in the
        // row (read below) or on this token, never in between.
        let token = CancellationToken::new();
        let lost = CancellationToken::new();
        if let Ok(mut r) = self.0.running.lock() {
            r.insert(key.clone(), token.clone());
        }
        if let Ok(mut l) = self.0.lost.lock() {
            l.insert(key.clone(), lost.clone());
        }
        let result = self.attempt(key, token, lost).await;
        if let Ok(mut r) = self.0.running.lock() {
            r.remove(key);
        }
        if let Ok(mut l) = self.0.lost.lock() {
            l.remove(key);
        }
        result
    }

    async fn attempt(
        &self,
        key: &Key,
        token: CancellationToken,
        lost: CancellationToken,
    ) -> Result<(), sqlx::Error> {
        let Some(row) = sqlx::query(
            "SELECT cluster_id, kind, action, status, cancel_requested, deadline, owner, traceparent \
             FROM executions \
             WHERE job_id = ? AND attempt = ?",
        )
        .bind(key.job_id.as_str())
        .bind(key.attempt)
        .fetch_optional(&self.0.pool)
        .await?
        else {
            return Ok(());
        };
        let status: String = row.try_get("status")?;
        if status == "done" {
            return Ok(());
        }
        let owner: Option<String> = row.try_get("owner")?;
        if owner.as_deref() != Some(self.0.id.as_str()) {
            // Queued here, then taken over by another replica meanwhile.
            return Ok(());
        }
        let span = tracing::info_span!(
            "job attempt",
            job_id = %key.job_id,
            attempt = key.attempt,
        );
        cg_runtime::telemetry::continue_trace(&span, &row.try_get::<String, _>("traceparent")?);
        self.run_attempt(key, &row, token, lost)
            .instrument(span)
            .await
    }

    /// The attempt whose row `row` is, in its trace's span.
    async fn run_attempt(
        &self,
        key: &Key,
        row: &sqlx::any::AnyRow,
        token: CancellationToken,
        lost: CancellationToken,
    ) -> Result<(), sqlx::Error> {
        let cluster_id: String = row.try_get("cluster_id")?;
        let kind: String = row.try_get("kind")?;
        let deadline: i64 = row.try_get("deadline")?;
        let action = jobs::JobAction::decode(row.try_get::<Vec<u8>, _>("action")?.as_slice())
            .unwrap_or_default();
        let report = Reporter {
            owner: self.0.id.clone(),
            wake: self.0.wake.clone(),
            pool: self.0.pool.clone(),
            job_id: key.job_id.clone(),
            cluster_id: cluster_id.clone(),
            attempt: key.attempt,
            steps: Arc::default(),
        };
        if row.try_get::<i64, _>("cancel_requested")? != 0 {
            return report
                .finish(End::Cancelled(jobs::JobResult::default()))
                .await;
        }
        let left = deadline.saturating_sub(now_millis());
        if left <= 0 {
            return report
                .finish(End::Failed(
                    "deadline passed before the job started".into(),
                    jobs::JobResult::default(),
                ))
                .await;
        }
        // The running mark and the report saying so commit together: one
        // transaction on the job's critical path instead of two.
        let mut tx = self.0.pool.begin().await?;
        let started = sqlx::query(
            "UPDATE executions SET status = 'running' WHERE job_id = ? AND attempt = ? AND owner = ?",
        )
        .bind(key.job_id.as_str())
        .bind(key.attempt)
        .bind(self.0.id.as_str())
        .execute(&mut *tx)
        .await?;
        if started.rows_affected() == 0 {
            // MySQL counts only changed rows: an attempt already `running`
            // changes nothing. Whether it is still ours decides.
            let owner: Option<Option<String>> =
                sqlx::query_scalar("SELECT owner FROM executions WHERE job_id = ? AND attempt = ?")
                    .bind(key.job_id.as_str())
                    .bind(key.attempt)
                    .fetch_optional(&mut *tx)
                    .await?;
            if owner.flatten().as_deref() != Some(self.0.id.as_str()) {
                tx.rollback().await?;
                return Ok(());
            }
        }
        outbox::enqueue(
            &mut tx,
            report.event(
                ev::JobProgressStatus::Running,
                0,
                "started",
                "",
                &jobs::JobResult::default(),
            ),
        )
        .await?;
        tx.commit().await?;
        report.wake.wake();

        // The token is the user's cancel only: shutdown aborts the attempt
        // below instead, leaving it `running` for the next start.
        let started = Instant::now();
        let step = Steps {
            service: self.0.service.clone(),
            job_id: key.job_id.clone(),
            cluster_id,
            report: report.clone(),
            cancel: token.clone(),
        };
        // A panicking job fails its attempt; the worker lives on.
        let task = tokio::spawn(async move { step.execute(action).await }.in_current_span());
        let abort = task.abort_handle();
        let outcome = tokio::select! {
            joined = task => match joined {
                Ok(end) => Some(end),
                Err(e) if e.is_panic() => Some(End::Failed("the executor panicked running this job".into(), jobs::JobResult::default())),
                Err(_) => None,
            },
            () = tokio::time::sleep(Duration::from_millis(u64::try_from(left).unwrap_or(0))) => {
                abort.abort();
                Some(End::Failed("the job ran past its deadline".into(), jobs::JobResult::default()))
            }
            // Shutdown: the attempt may finish within the drain period;
            // otherwise it stays `running`, its lease is released, and
            // another replica (or the next start) takes it over.
            () = async {
                self.0.stop.cancelled().await;
                tokio::time::sleep(self.0.drain).await;
            } => {
                abort.abort();
                None
            }
            // Taken over elsewhere: the new owner runs and reports it.
            () = lost.cancelled() => {
                abort.abort();
                None
            }
        };
        let Some(end) = outcome else { return Ok(()) };
        let outcome = match end {
            End::Succeeded(_) => "succeeded",
            End::Failed(..) => "failed",
            End::Cancelled(_) => "cancelled",
        };
        metrics::histogram!("cg_job_attempt_seconds", "kind" => kind.clone(), "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        if let Ok(mut s) = self.0.stats.lock() {
            let k = s.entry(kind).or_default();
            match end {
                End::Succeeded(_) => k.completed += 1,
                _ => k.failed += 1,
            }
            k.recent.push_back(started.elapsed());
            if k.recent.len() > LATENCY_WINDOW {
                k.recent.pop_front();
            }
        }
        report.finish(end).await
    }
}

/// How often at most an attempt reports its steps. A state change (running,
/// the end) is reported at once; steps in between are coalesced, so a job
/// that finishes within this reports no step at all, and a long one reports
/// its latest step this often.
const STEP_REPORTS_EVERY: Duration = Duration::from_millis(200);

/// Reports an attempt's progress on `cg.jobs.progress`, through the outbox.
#[derive(Clone)]
struct Reporter {
    /// An attempt's end is reported only while this executor owns it.
    owner: String,
    wake: outbox::Wake,
    pool: AnyPool,
    job_id: String,
    cluster_id: String,
    attempt: i64,
    steps: Arc<Mutex<StepReports>>,
}

/// The step report waiting for its turn, if any.
#[derive(Default)]
struct StepReports {
    latest: Option<(i32, String, jobs::JobResult)>,
    /// A task will send `latest` when the interval is up.
    scheduled: bool,
    /// The end was reported: late steps are dropped.
    ended: bool,
}

impl Reporter {
    fn event(
        &self,
        status: ev::JobProgressStatus,
        percent: i32,
        message: &str,
        error: &str,
        result: &jobs::JobResult,
    ) -> NewEvent {
        let progress = ev::JobProgress {
            job_id: self.job_id.clone(),
            cluster_id: self.cluster_id.clone(),
            attempt: i32::try_from(self.attempt).unwrap_or(i32::MAX),
            status: status as i32,
            percent,
            message: message.to_string(),
            error: error.to_string(),
            result: Some(result.clone()),
            time: Some(timestamp(now_millis())),
        };
        topics::JOBS_PROGRESS.event(&self.cluster_id, &progress)
    }

    /// Records a step; it is reported after [`STEP_REPORTS_EVERY`], as
    /// the latest step then, unless the attempt has ended meanwhile.
    fn step(&self, percent: i32, message: &str, result: &jobs::JobResult) {
        let Ok(mut steps) = self.steps.lock() else {
            return;
        };
        if steps.ended {
            return;
        }
        steps.latest = Some((percent, message.to_string(), result.clone()));
        if steps.scheduled {
            return;
        }
        steps.scheduled = true;
        let report = self.clone();
        tokio::spawn(
            async move {
                tokio::time::sleep(STEP_REPORTS_EVERY).await;
                let latest = report.steps.lock().ok().and_then(|mut s| {
                    s.scheduled = false;
                    if s.ended { None } else { s.latest.take() }
                });
                if let Some((percent, message, result)) = latest
                    && let Err(e) = report.progress(percent, &message, &result).await
                {
                    tracing::warn!(job_id = %report.job_id, error = %e, "progress report failed");
                }
            }
            .in_current_span(),
        );
    }

    async fn progress(
        &self,
        percent: i32,
        message: &str,
        result: &jobs::JobResult,
    ) -> Result<(), sqlx::Error> {
        // Not checked against the owner: a step report of an attempt taken
        // over meanwhile changes nothing but a percentage, and the executor
        // that lost it stops at its next heartbeat. Its end is guarded.
        let mut conn = self.pool.acquire().await?;
        outbox::enqueue(
            &mut conn,
            self.event(ev::JobProgressStatus::Running, percent, message, "", result),
        )
        .await?;
        self.wake.wake();
        Ok(())
    }

    /// The final report and the execution's end, in one transaction.
    async fn finish(&self, end: End) -> Result<(), sqlx::Error> {
        if let Ok(mut steps) = self.steps.lock() {
            steps.ended = true;
            steps.latest = None;
        }
        let event = match &end {
            End::Succeeded(r) => self.event(ev::JobProgressStatus::Succeeded, 100, "done", "", r),
            End::Failed(e, r) => self.event(ev::JobProgressStatus::Failed, 0, "failed", e, r),
            End::Cancelled(r) => {
                self.event(ev::JobProgressStatus::Cancelled, 0, "cancelled", "", r)
            }
        };
        let mut tx = self.pool.begin().await?;
        let ended = sqlx::query(
            "UPDATE executions SET status = 'done', finished_at = ? \
             WHERE job_id = ? AND attempt = ? AND owner = ? AND status <> 'done'",
        )
        .bind(now_millis())
        .bind(self.job_id.as_str())
        .bind(self.attempt)
        .bind(self.owner.as_str())
        .execute(&mut *tx)
        .await?;
        if ended.rows_affected() == 0 {
            // Another replica owns (or ended) the attempt: it reports.
            tracing::warn!(job_id = %self.job_id, attempt = self.attempt, "attempt no longer ours; not reporting its end");
            return Ok(());
        }
        outbox::enqueue(&mut tx, event).await?;
        tx.commit().await?;
        self.wake.wake();
        Ok(())
    }
}

/// The droplet operations a job performs.
struct Steps {
    service: Service,
    job_id: String,
    cluster_id: String,
    report: Reporter,
    cancel: CancellationToken,
}

type StepResult<T> = Result<T, String>;

impl Steps {
    async fn execute(self, action: jobs::JobAction) -> End {
        let mut result = jobs::JobResult::default();
        let outcome = self.dispatch(action, &mut result).await;
        match outcome {
            Ok(()) => End::Succeeded(result),
            Err(_) if self.cancel.is_cancelled() => End::Cancelled(result),
            Err(e) => End::Failed(e, result),
        }
    }

    async fn dispatch(
        &self,
        action: jobs::JobAction,
        result: &mut jobs::JobResult,
    ) -> StepResult<()> {
        use jobs::job_action::Action as A;
        match action.action.ok_or("the job has no action")? {
            A::ProvisionDroplets(p) => {
                let prefix = if p.name_prefix.is_empty() {
                    "node".to_string()
                } else {
                    p.name_prefix
                };
                for i in 0..p.count {
                    let id = self
                        .create(&prefix, i, &p.size, &p.image, &format!("create:{i}"))
                        .await?;
                    result.created_droplet_ids.push(id);
                    self.progress(
                        ((i + 1) * 100 / p.count.max(1)).min(99),
                        &format!("created {} of {}", i + 1, p.count),
                        result,
                    );
                }
                self.wait_active(&result.created_droplet_ids.clone()).await
            }
            A::DestroyDroplet(p) => {
                self.service
                    .destroy_droplet(&parse_id(&p.droplet_id)?)
                    .await
                    .map_err(|e| e.to_string())?;
                result.destroyed_droplet_ids.push(p.droplet_id);
                Ok(())
            }
            A::ResizeDroplet(p) => {
                let size = catalog::size_by_slug(&p.size)
                    .ok_or_else(|| format!("unknown size {:?}", p.size))?;
                self.act(&p.droplet_id, ActionRequest::Resize(size), "resize")
                    .await?;
                result.affected_droplet_ids.push(p.droplet_id);
                Ok(())
            }
            A::RebootDroplet(p) => {
                self.act(
                    &p.droplet_id,
                    ActionRequest::Plain(crate::domain::ActionType::Reboot),
                    "reboot",
                )
                .await?;
                result.affected_droplet_ids.push(p.droplet_id);
                Ok(())
            }
            A::PowerCycleDroplet(p) => {
                self.act(
                    &p.droplet_id,
                    ActionRequest::Plain(crate::domain::ActionType::PowerCycle),
                    "power_cycle",
                )
                .await?;
                result.affected_droplet_ids.push(p.droplet_id);
                Ok(())
            }
            A::ScaleCluster(p) => self.scale(p, result).await,
        }
    }

    fn progress(&self, percent: i32, message: &str, result: &jobs::JobResult) {
        self.report.step(percent, message, result);
    }

    fn check_cancel(&self) -> StepResult<()> {
        if self.cancel.is_cancelled() {
            Err("cancelled".into())
        } else {
            Ok(())
        }
    }

    async fn create(
        &self,
        prefix: &str,
        i: i32,
        size: &str,
        image: &str,
        step: &str,
    ) -> StepResult<String> {
        self.check_cancel()?;
        let short = &self.job_id[self.job_id.len().saturating_sub(8)..];
        let name = DropletName::parse(&format!("{prefix}-{short}-{i}"))
            .map_err(|e| format!("droplet name: {e}"))?;
        let droplet = self
            .service
            .create_droplet(CreateDroplet {
                cluster_id: parse_id(&self.cluster_id)?,
                name,
                size: catalog::size_by_slug(size)
                    .ok_or_else(|| format!("unknown size {size:?}"))?,
                image: catalog::image_by_slug(image)
                    .ok_or_else(|| format!("unknown image {image:?}"))?,
                tags: Tags::default(),
                request_id: Some(RequestId::derived(format!("job:{}:{step}", self.job_id))),
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok(droplet.id)
    }

    /// Runs a droplet action and waits for it to end.
    async fn act(&self, droplet_id: &str, action: ActionRequest, step: &str) -> StepResult<()> {
        self.check_cancel()?;
        let a = self
            .service
            .create_action(CreateAction {
                droplet_id: parse_id(droplet_id)?,
                action,
                request_id: Some(RequestId::derived(format!("job:{}:{step}", self.job_id))),
            })
            .await
            .map_err(|e| e.to_string())?;
        let id = parse_id(&a.id)?;
        let mut notices = self.service.changes().subscribe();
        loop {
            // An action in flight is not abandoned on cancel: the droplet
            // would stay locked. It ends on its own; the job then stops.
            let a = self
                .service
                .get_action(&id)
                .await
                .map_err(|e| e.to_string())?;
            match a.status {
                ActionStatus::Completed => return self.check_cancel(),
                ActionStatus::Errored => {
                    return Err(format!("{} errored: {}", a.kind.as_str(), a.error));
                }
                ActionStatus::InProgress => changed(&mut notices, id.as_str(), RECHECK).await,
            }
        }
    }

    async fn wait_active(&self, ids: &[String]) -> StepResult<()> {
        for id in ids {
            let id = parse_id(id)?;
            let mut notices = self.service.changes().subscribe();
            loop {
                self.check_cancel()?;
                let d = self
                    .service
                    .get_droplet(&id)
                    .await
                    .map_err(|e| e.to_string())?;
                match d.status {
                    DropletStatus::New => changed(&mut notices, id.as_str(), RECHECK).await,
                    DropletStatus::Archive => {
                        return Err(format!("droplet {} was destroyed meanwhile", d.id));
                    }
                    _ => break,
                }
            }
        }
        Ok(())
    }

    async fn live(&self) -> StepResult<Vec<crate::domain::Droplet>> {
        Ok(self
            .service
            .list_droplets(
                &DropletFilter {
                    cluster_id: Some(self.cluster_id.clone()),
                    ..DropletFilter::default()
                },
                &PageRequest {
                    size: 1000,
                    after: None,
                },
            )
            .await
            .map_err(|e| e.to_string())?
            .items)
    }

    /// Grows by creating droplets, or shrinks by destroying the ones the
    /// job names first, then the unhealthy (off) ones, then the newest.
    async fn scale(&self, p: jobs::ScaleCluster, result: &mut jobs::JobResult) -> StepResult<()> {
        let mut live = self.live().await?;
        let target =
            usize::try_from(p.target_count).map_err(|_| "target_count must not be negative")?;
        let start = live.len();
        if start < target {
            for i in start..target {
                let n = i32::try_from(i).unwrap_or(i32::MAX);
                let id = self
                    .create("node", n, &p.size, &p.image, &format!("scale:{n}"))
                    .await?;
                result.created_droplet_ids.push(id);
                let done = i + 1 - start;
                self.progress(
                    i32::try_from(done * 90 / (target - start)).unwrap_or(90),
                    &format!("created {done} of {}", target - start),
                    result,
                );
            }
            self.wait_active(&result.created_droplet_ids.clone())
                .await?;
        } else if start > target {
            // The ones asked for first (the scaler picked idle, least loaded
            // droplets), in the order given, unless an action holds them;
            // then the unhealthy (off) ones, then the newest.
            let asked = |d: &crate::domain::Droplet| {
                p.remove_droplet_ids
                    .iter()
                    .position(|r| *r == d.id)
                    .filter(|_| d.locked_by.is_none())
                    .unwrap_or(usize::MAX)
            };
            // A droplet an action holds goes last: destroying it would fail.
            live.sort_by(|a, b| {
                let off = |d: &crate::domain::Droplet| d.status == DropletStatus::Off;
                let locked = |d: &crate::domain::Droplet| d.locked_by.is_some();
                asked(a)
                    .cmp(&asked(b))
                    .then_with(|| locked(a).cmp(&locked(b)))
                    .then_with(|| off(b).cmp(&off(a)))
                    .then_with(|| b.id.cmp(&a.id))
            });
            for (n, d) in live.iter().take(start - target).enumerate() {
                self.check_cancel()?;
                self.service
                    .destroy_droplet(&parse_id(&d.id)?)
                    .await
                    .map_err(|e| e.to_string())?;
                result.destroyed_droplet_ids.push(d.id.clone());
                self.progress(
                    i32::try_from((n + 1) * 90 / (start - target)).unwrap_or(90),
                    &format!("destroyed {} of {}", n + 1, start - target),
                    result,
                );
            }
        }
        Ok(())
    }
}

/// A requested attempt as the executor records it.
struct Accepted {
    job_id: String,
    attempt: i64,
    cluster_id: String,
    kind: &'static str,
    action: Vec<u8>,
    deadline: i64,
    traceparent: String,
}

impl Accepted {
    fn parse(req: ev::JobRequested, traceparent: String) -> Result<Self, Failure> {
        let Some(action) = req.action.as_ref() else {
            return Err(Failure::Permanent("JobRequested without an action".into()));
        };
        let deadline = req.deadline.map_or(i64::MAX, |t| {
            t.seconds.saturating_mul(1000) + i64::from(t.nanos / 1_000_000)
        });
        let kind = jobs::JobKind::try_from(req.kind)
            .unwrap_or(jobs::JobKind::Unspecified)
            .as_str_name();
        Ok(Self {
            action: action.encode_to_vec(),
            job_id: req.job_id,
            attempt: i64::from(req.attempt),
            cluster_id: req.cluster_id,
            kind,
            deadline,
            traceparent,
        })
    }
}

/// A database failure while handling a record: retried.
fn retryable(e: sqlx::Error) -> Failure {
    Failure::from(cg_runtime::ApiError::from(e))
}

fn parse_id(raw: &str) -> StepResult<Id> {
    Id::parse(raw).map_err(|e| format!("id {raw:?}: {e}"))
}

fn key_of(row: &sqlx::any::AnyRow) -> Result<Key, sqlx::Error> {
    Ok(Key {
        job_id: row.try_get(0)?,
        attempt: row.try_get(1)?,
    })
}
