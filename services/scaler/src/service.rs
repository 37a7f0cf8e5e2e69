//! The scaler: policies on a [`ScalerStore`], evaluated by the HPA engine as
//! each cluster's sample batch arrives, with decisions recorded and acted on
//! through jobs.
//!
//! Acting is made safe against replicas and crashes in three steps. First
//! the decision is recorded with the cluster state by compare-and-set, the
//! state marking its job as pending: of two evaluators only one gets there.
//! Then the job is created with the decision id as its `request_id`, so
//! asking again returns the same job. Last the job id replaces the pending
//! mark. An evaluation that finds a pending mark (the process died between
//! the steps, or jobs was down) asks again before anything else.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use cg_runtime::{
    ApiError,
    activity::{Activity, Severity},
    idempotency, new_id,
    page::{PageOf, PageRequest},
    time::millis_of,
    types::{Id, RequestId},
};
use clustergenie_proto::events::v1 as ev;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::{
    decision::{Decision, JobSpec},
    hpa::{self, Action, DropletLoad, History, Inputs, Metric, MetricReading},
    platform::{DropletInfo, Platform, ScaleJob},
    policy::{Invalid, Policy, PolicySpec, RawSpec},
    repo::{ClusterState, DecisionFilter, ScalerStore},
};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// A droplet's latest sample.
#[derive(Debug, Clone, Copy)]
struct Latest {
    time_ms: i64,
    values: [f64; Metric::ALL.len()],
}

struct Inner<S> {
    store: S,
    platform: Platform,
    /// Latest sample per droplet, per cluster.
    samples: Mutex<HashMap<String, HashMap<String, Latest>>>,
    sample_window_ms: i64,
    /// Batches handled, to sweep the samples now and then.
    batches: std::sync::atomic::AtomicU64,
    decisions: broadcast::Sender<Arc<Decision>>,
    recorded: Notify,
    stop: CancellationToken,
}

/// The scaler service's domain, shared by the consumer and the API.
pub struct Scaler<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Scaler<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

/// What changes in an update: the fields the mask named, parsed.
#[derive(Debug, Clone, Default)]
pub struct PolicyPatch {
    /// The mask's paths (validated against the known ones).
    pub paths: Vec<String>,
    /// The new values, read only for the named paths.
    pub values: RawSpec,
}

fn bad(violations: Vec<Invalid>) -> ApiError {
    ApiError::InvalidArgument(
        violations
            .into_iter()
            .map(|i| cg_runtime::FieldViolation::new(i.field, i.message))
            .collect(),
    )
}

fn fingerprint(cluster: &str, spec: &PolicySpec) -> String {
    let schedules = serde_json::to_string(&spec.schedules).unwrap_or_default();
    idempotency::fingerprint(&[
        cluster,
        spec.name.as_str(),
        spec.metric.slug(),
        &spec.target.to_string(),
        &spec.min.to_string(),
        &spec.max.to_string(),
        &spec.size,
        &spec.image,
        &spec.up_window_ms.to_string(),
        &spec.down_window_ms.to_string(),
        &schedules,
        &spec.enabled.to_string(),
    ])
}

impl<S: ScalerStore> Scaler<S> {
    /// The scaler and the task that tails recorded decisions for watchers
    /// (on every replica, so a watcher sees what any replica recorded).
    pub fn new(
        store: S,
        platform: Platform,
        sample_window_ms: i64,
        stop: CancellationToken,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (decisions, _) = broadcast::channel(1024);
        let scaler = Self {
            inner: Arc::new(Inner {
                store,
                platform,
                samples: Mutex::default(),
                sample_window_ms,
                batches: std::sync::atomic::AtomicU64::new(0),
                decisions,
                recorded: Notify::new(),
                stop,
            }),
        };
        let tail = scaler.clone().tail();
        (scaler, tail)
    }

    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// Checks what only provisioning knows: the cluster, size and image.
    async fn check_references(&self, cluster: &str, spec: &PolicySpec) -> Result<()> {
        self.require_cluster(cluster).await?;
        let platform = &self.inner.platform;
        let mut v = Vec::new();
        if platform.size_price(&spec.size).await?.is_none() {
            v.push(Invalid::new("size", format!("unknown size {}", spec.size)));
        }
        if !platform.image_exists(&spec.image).await? {
            v.push(Invalid::new(
                "image",
                format!("unknown image {}", spec.image),
            ));
        }
        if v.is_empty() { Ok(()) } else { Err(bad(v)) }
    }

    #[tracing::instrument(skip(self, raw), fields(cluster = %cluster))]
    pub async fn create_policy(
        &self,
        cluster: &Id,
        raw: RawSpec,
        request_id: Option<RequestId>,
        now: i64,
    ) -> Result<Policy> {
        let spec = PolicySpec::parse(raw).map_err(bad)?;
        self.check_references(cluster.as_str(), &spec).await?;
        let fp = fingerprint(cluster.as_str(), &spec);
        let policy = Policy {
            id: new_id(),
            cluster_id: cluster.as_str().to_string(),
            spec,
            request_id: request_id.map(|r| r.as_str().to_string()),
            created_at: now,
            updated_at: now,
        };
        let stored = self.inner.store.insert_policy(&policy, &fp).await?;
        tracing::info!(policy = %stored.id, name = stored.spec.name.as_str(), "policy created");
        Ok(stored)
    }

    pub async fn policy(&self, id: &Id) -> Result<Policy> {
        self.inner.store.policy(id.as_str()).await
    }

    pub async fn policies(
        &self,
        cluster: Option<&Id>,
        page: &PageRequest,
    ) -> Result<PageOf<Policy>> {
        self.inner
            .store
            .policies(cluster.map(Id::as_str), page)
            .await
    }

    /// Applies the mask's fields over the stored policy; the rest stays as
    /// it was.
    #[tracing::instrument(skip(self, patch), fields(policy = %id))]
    pub async fn update_policy(&self, id: &Id, patch: PolicyPatch, now: i64) -> Result<Policy> {
        // Read, merge, write if unchanged since the read; again if not.
        for _ in 0..3 {
            if let Some(updated) = self.try_update_policy(id, &patch, now).await? {
                return Ok(updated);
            }
        }
        Err(ApiError::Contention)
    }

    async fn try_update_policy(
        &self,
        id: &Id,
        patch: &PolicyPatch,
        now: i64,
    ) -> Result<Option<Policy>> {
        let current = self.inner.store.policy(id.as_str()).await?;
        let s = &current.spec;
        let has = |p: &str| patch.paths.iter().any(|x| x == p);
        let v = &patch.values;
        let raw = RawSpec {
            name: if has("name") {
                v.name.clone()
            } else {
                s.name.as_str().to_string()
            },
            metric: if has("metric") {
                v.metric
            } else {
                Some(s.metric)
            },
            target: if has("target_value") {
                v.target
            } else {
                s.target
            },
            min: if has("min_droplets") {
                v.min
            } else {
                i64::from(s.min)
            },
            max: if has("max_droplets") {
                v.max
            } else {
                i64::from(s.max)
            },
            size: if has("size") {
                v.size.clone()
            } else {
                s.size.clone()
            },
            image: if has("image") {
                v.image.clone()
            } else {
                s.image.clone()
            },
            up_window_ms: if has("scale_up_stabilization") {
                v.up_window_ms
            } else {
                Some(s.up_window_ms)
            },
            down_window_ms: if has("scale_down_stabilization") {
                v.down_window_ms
            } else {
                Some(s.down_window_ms)
            },
            schedules: if has("schedules") {
                v.schedules.clone()
            } else {
                s.schedules.clone()
            },
            enabled: if has("enabled") { v.enabled } else { s.enabled },
        };
        let spec = PolicySpec::parse(raw).map_err(bad)?;
        if spec.size != s.size || spec.image != s.image {
            self.check_references(&current.cluster_id, &spec).await?;
        }
        let read_at = current.updated_at;
        let updated = Policy {
            spec,
            // Strictly later, so the next writer's compare sees this write.
            updated_at: now.max(read_at + 1),
            ..current
        };
        self.inner.store.update_policy(&updated, read_at).await
    }

    pub async fn delete_policy(&self, id: &Id) -> Result<()> {
        self.inner.store.delete_policy(id.as_str()).await
    }

    /// `NOT_FOUND` unless provisioning knows the cluster.
    async fn require_cluster(&self, cluster: &str) -> Result<()> {
        match self.inner.platform.cluster_cost(cluster).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found("cluster", cluster)),
        }
    }

    pub async fn cluster_scaling(&self, cluster: &Id) -> Result<ClusterState> {
        self.require_cluster(cluster.as_str()).await?;
        self.inner.store.cluster(cluster.as_str()).await
    }

    pub async fn set_cost_cap(&self, cluster: &Id, cents: i64, now: i64) -> Result<ClusterState> {
        self.require_cluster(cluster.as_str()).await?;
        self.inner
            .store
            .set_cost_cap(cluster.as_str(), cents, now)
            .await
    }

    pub async fn decisions(
        &self,
        filter: &DecisionFilter,
        page: &PageRequest,
    ) -> Result<PageOf<Decision>> {
        self.inner.store.decisions(filter, page).await
    }

    /// Remembers a batch's samples and evaluates its cluster. A batch older
    /// than the sample window (a consumer catching up) is only remembered:
    /// acting on a past load would be wrong. A failed evaluation is logged,
    /// not retried: the next batch evaluates afresh.
    pub async fn handle_samples(&self, batch: &ev::MetricSamples, now: i64) {
        let mut clusters: BTreeMap<String, i64> = BTreeMap::new();
        {
            let mut all = self.inner.samples.lock().expect("samples lock");
            for s in &batch.samples {
                let Some(t) = s.time.as_ref().and_then(millis_of) else {
                    continue;
                };
                let latest = Latest {
                    time_ms: t,
                    values: Metric::ALL.map(|m| crate::wire::sample_value(m, s)),
                };
                let droplets = all.entry(s.cluster_id.clone()).or_default();
                let keep = droplets.get(&s.droplet_id).is_none_or(|l| l.time_ms <= t);
                if keep {
                    droplets.insert(s.droplet_id.clone(), latest);
                }
                let newest = clusters.entry(s.cluster_id.clone()).or_insert(t);
                *newest = (*newest).max(t);
            }
        }
        self.sweep(now);
        for (cluster, newest) in clusters {
            if newest < now - self.inner.sample_window_ms {
                continue;
            }
            match self.evaluate(&cluster, Mode::Batch, now).await {
                // Reaction time: from the newest sample of the batch that
                // breached to its scaling job, created.
                Ok(Evaluated::Decided(d)) if d.job_id.is_some() => {
                    let took = cg_runtime::time::now_millis().saturating_sub(newest).max(0);
                    metrics::histogram!("cg_scaler_reaction_seconds").record(took as f64 / 1000.0);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(cluster = %cluster, error = %e, "evaluation failed; the next batch evaluates again");
                }
            }
        }
    }

    /// Now and then, forgets clusters whose samples stopped long ago (deleted,
    /// or their partition moved to another replica).
    fn sweep(&self, now: i64) {
        const EVERY: u64 = 1024;
        let n = self
            .inner
            .batches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if !n.is_multiple_of(EVERY) {
            return;
        }
        let stale = now - 10 * self.inner.sample_window_ms;
        let mut all = self.inner.samples.lock().expect("samples lock");
        all.retain(|_, droplets| {
            droplets.retain(|_, l| l.time_ms >= stale);
            !droplets.is_empty()
        });
    }

    /// EvaluateNow: the same evaluation, on demand; `FAILED_PRECONDITION`
    /// without a policy to weigh.
    #[tracing::instrument(skip(self), fields(cluster = %cluster))]
    pub async fn evaluate_now(&self, cluster: &Id, dry_run: bool, now: i64) -> Result<Decision> {
        self.require_cluster(cluster.as_str()).await?;
        let mode = if dry_run { Mode::DryRun } else { Mode::Now };
        match self.evaluate(cluster.as_str(), mode, now).await? {
            Evaluated::Decided(d) => Ok(*d),
            Evaluated::NoPolicy if dry_run => Err(ApiError::FailedPrecondition(format!(
                "cluster {cluster} has no scaling policy"
            ))),
            Evaluated::NoPolicy => Err(ApiError::FailedPrecondition(format!(
                "cluster {cluster} has no enabled scaling policy (a dry run also tries disabled ones)"
            ))),
            Evaluated::Lost => Err(ApiError::Contention),
        }
    }

    /// Readings over the cluster's live droplets. As the HPA does on the
    /// way up, a droplet without a fresh sample (still booting, off, or
    /// silent) counts as idle, so a cluster that just grew is not grown
    /// again on its old droplets' load before the new ones report; and an
    /// active droplet without one marks the reading missing, which forbids
    /// scaling down.
    fn readings(
        &self,
        cluster: &str,
        live: &[DropletInfo],
        now: i64,
    ) -> (BTreeMap<Metric, MetricReading>, HashMap<String, Latest>) {
        // Only live droplets are kept: destroyed ones leave the memory here.
        let samples: HashMap<String, Latest> = {
            let mut all = self.inner.samples.lock().expect("samples lock");
            match all.get_mut(cluster) {
                Some(kept) => {
                    kept.retain(|id, _| live.iter().any(|d| d.id == *id));
                    kept.clone()
                }
                None => HashMap::new(),
            }
        };
        let fresh = |id: &str| {
            samples
                .get(id)
                .filter(|l| l.time_ms >= now - self.inner.sample_window_ms)
        };
        let reporting: Vec<&Latest> = live.iter().filter_map(|d| fresh(&d.id)).collect();
        let missing = live.iter().any(|d| d.active && fresh(&d.id).is_none());
        let mut readings = BTreeMap::new();
        if !reporting.is_empty() {
            for m in Metric::ALL {
                let sum: f64 = reporting.iter().map(|l| l.values[m.index()]).sum();
                readings.insert(
                    m,
                    MetricReading {
                        average: sum / live.len() as f64,
                        missing,
                    },
                );
            }
        }
        (readings, samples)
    }

    /// Asks jobs again for a job recorded as pending; true once it exists
    /// or the mark is given up. A decision whose job jobs refuses for good
    /// (the cluster gone, say), or that waited longer than the sample window
    /// (its counts are stale by then), is abandoned: the mark is cleared, an
    /// activity entry says why, and the next evaluation decides afresh.
    async fn confirm_pending(&self, state: &mut ClusterState, now: i64) -> Result<bool> {
        let Some(decision_id) = state.pending_decision_id.clone() else {
            return Ok(true);
        };
        let mut decision = self.inner.store.decision(&decision_id).await?;
        let Some(job) = decision.job.clone() else {
            return self
                .abandon(state, &decision, "it asks for no change", now)
                .await;
        };
        if now - decision.created_at > self.inner.sample_window_ms {
            return self
                .abandon(
                    state,
                    &decision,
                    "its job could not be created in time",
                    now,
                )
                .await;
        }
        let created = self
            .inner
            .platform
            .create_scale_job(ScaleJob {
                cluster_id: &decision.cluster_id,
                decision_id: &decision.id,
                target: decision.desired,
                size: &job.size,
                image: &job.image,
                remove: &decision.removed_droplet_ids,
            })
            .await;
        let job_id = match created {
            Ok(id) => id,
            Err(e) if e.is_transient() || matches!(e, ApiError::Unavailable(_)) => return Err(e),
            Err(e) => {
                return self
                    .abandon(state, &decision, &format!("jobs refused it: {e}"), now)
                    .await;
            }
        };
        decision.job_id = Some(job_id.clone());
        let next = ClusterState {
            last_job_id: Some(job_id.clone()),
            pending_decision_id: None,
            version: state.version + 1,
            updated_at: now,
            ..state.clone()
        };
        if !self.inner.store.attach_job(&next, &decision).await? {
            return Ok(false);
        }
        tracing::info!(decision = %decision.id, job = %job_id, "scaling job created");
        *state = next;
        self.inner.recorded.notify_one();
        Ok(true)
    }

    /// Clears a pending mark whose job will not be made, saying why.
    async fn abandon(
        &self,
        state: &mut ClusterState,
        decision: &Decision,
        why: &str,
        now: i64,
    ) -> Result<bool> {
        let next = ClusterState {
            pending_decision_id: None,
            version: state.version + 1,
            updated_at: now,
            ..state.clone()
        };
        let entry = Activity::new(
            "scaler",
            "scaler.abandoned",
            Severity::Warning,
            format!(
                "decision {} ({} → {}) abandoned: {why}",
                decision.id, decision.current, decision.desired
            ),
            now,
        )
        .cluster(&decision.cluster_id)
        .decision(&decision.id);
        if !self.inner.store.record(&next, None, Some(&entry)).await? {
            return Ok(false);
        }
        tracing::warn!(decision = %decision.id, why, "scaling decision abandoned");
        *state = next;
        Ok(true)
    }

    async fn evaluate(&self, cluster: &str, mode: Mode, now: i64) -> Result<Evaluated> {
        let dry_run = mode == Mode::DryRun;
        let platform = &self.inner.platform;
        let mut state = self.inner.store.cluster(cluster).await?;
        // A job left pending is seen to first, whatever became of the policies.
        if !dry_run && !self.confirm_pending(&mut state, now).await? {
            return Ok(Evaluated::Lost);
        }
        // A dry run also weighs disabled policies, so a policy can be tried
        // before it is enabled to act.
        let policies = if dry_run {
            self.inner.store.all_policies(cluster).await?
        } else {
            self.inner.store.enabled_policies(cluster).await?
        };
        if policies.is_empty() {
            return Ok(Evaluated::NoPolicy);
        }
        let mut job_in_progress = state.pending_decision_id.is_some();
        if let Some(job) = state.last_job_id.clone() {
            if platform.job_done(&job).await? {
                state.last_job_id = None;
            } else {
                job_in_progress = true;
            }
        }
        let droplets = platform.droplets(cluster).await?;
        let (readings, samples) = self.readings(cluster, &droplets, now);
        // Samples are kept by the replica that reads the cluster's partition:
        // on another one an explicit evaluation would see none and decide on
        // nothing, so it is refused rather than recorded.
        if mode == Mode::Now && readings.is_empty() && droplets.iter().any(|d| d.active) {
            return Err(ApiError::Unavailable(format!(
                "no recent samples of cluster {cluster} here (the replica reading its \
                 samples evaluates it, or they stopped arriving); try again, or dry-run"
            )));
        }
        let capped = state.monthly_cost_cap_cents > 0;
        let mut rules = Vec::with_capacity(policies.len());
        for p in &policies {
            // Under a cap, a size the catalog no longer prices would make
            // added droplets free: nothing is decided until it is fixed.
            let price = if capped {
                platform.size_price(&p.spec.size).await?.ok_or_else(|| {
                    ApiError::FailedPrecondition(format!(
                        "policy {} adds droplets of size {}, which the catalog no longer \
                         prices, so the cluster's cost cap cannot be kept; change its size",
                        p.spec.name.as_str(),
                        p.spec.size
                    ))
                })?
            } else {
                0
            };
            rules.push(p.rule(price));
        }
        let inputs = Inputs {
            now_ms: now,
            current: u32::try_from(droplets.len()).unwrap_or(u32::MAX),
            readings,
            job_in_progress,
            monthly_cost_cents: if capped {
                platform.cluster_cost(cluster).await?.unwrap_or(0)
            } else {
                0
            },
            cost_cap_cents: capped.then_some(state.monthly_cost_cap_cents),
        };
        let mut history: History = if state.history.is_empty() {
            History::default()
        } else {
            serde_json::from_str(&state.history).unwrap_or_else(|e| {
                tracing::warn!(cluster, error = %e, "unreadable stabilization history; starting over");
                History::default()
            })
        };
        let eval = hpa::evaluate(&rules, &inputs, &history);
        let winner = eval
            .winner
            .as_ref()
            .and_then(|w| policies.iter().find(|p| &p.id == w));
        let id = if dry_run { String::new() } else { new_id() };
        let mut decision = Decision::new(id, cluster, inputs.current, &eval, dry_run, now);
        let acted = !dry_run && eval.action != Action::None;
        if eval.action == Action::ScaleDown {
            let metric = winner.map_or(Metric::CpuPercent, |p| p.spec.metric);
            let loads: Vec<DropletLoad> = droplets
                .iter()
                .map(|d| DropletLoad {
                    id: d.id.clone(),
                    created_ms: d.created_ms,
                    load: samples.get(&d.id).map_or(0.0, |l| l.values[metric.index()]),
                    in_action: d.locked,
                })
                .collect();
            let n = (inputs.current - eval.desired) as usize;
            // A job names at most 100 (jobs' bound); the executor picks the rest.
            decision.removed_droplet_ids = hpa::choose_victims(&loads, n.min(100));
        }
        if eval.action != Action::None {
            decision.job = winner.map(|p| JobSpec {
                size: p.spec.size.clone(),
                image: p.spec.image.clone(),
            });
        }
        if dry_run {
            return Ok(Evaluated::Decided(Box::new(decision)));
        }

        history.record(now, &eval, acted);
        let summary = decision.summary();
        // An explicit evaluation is always recorded: someone asked for it.
        let worth_recording =
            acted || mode == Mode::Now || state.last_summary.as_deref() != Some(summary.as_str());
        let next = ClusterState {
            history: serde_json::to_string(&history)
                .map_err(|e| ApiError::Internal(format!("history: {e}")))?,
            last_summary: Some(summary),
            pending_decision_id: if acted {
                Some(decision.id.clone())
            } else {
                state.pending_decision_id.clone()
            },
            version: state.version + 1,
            updated_at: now,
            ..state.clone()
        };
        let activity = worth_recording.then(|| entry(&decision));
        let recorded = self
            .inner
            .store
            .record(
                &next,
                worth_recording.then_some(&decision),
                activity.as_ref(),
            )
            .await?;
        if !recorded {
            tracing::debug!(cluster, "another evaluation recorded first");
            return Ok(Evaluated::Lost);
        }
        if worth_recording {
            tracing::info!(
                cluster,
                decision = %decision.id,
                action = decision.action.as_str(),
                current = decision.current,
                desired = decision.desired,
                "scaling decision"
            );
            self.inner.recorded.notify_one();
        }
        if acted {
            let mut state = next;
            match self.confirm_pending(&mut state, now).await {
                Ok(_) => {
                    if state.pending_decision_id.is_none() {
                        decision.job_id = state.last_job_id;
                    }
                }
                Err(e) => {
                    tracing::warn!(cluster, decision = %decision.id, error = %e, "scaling job not created yet; the next evaluation asks again");
                }
            }
        }
        Ok(Evaluated::Decided(Box::new(decision)))
    }

    /// Decisions as they are recorded (by any replica), for one cluster or
    /// all, until the client goes away or the service stops.
    pub fn watch(&self, cluster: Option<String>) -> ReceiverStream<Result<Decision>> {
        let (tx, rx) = mpsc::channel(16);
        let mut recorded = self.inner.decisions.subscribe();
        let stop = self.inner.stop.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    () = tx.closed() => return,
                    () = stop.cancelled() => {
                        let _ = tx.send(Err(ApiError::ShuttingDown)).await;
                        return;
                    }
                    next = recorded.recv() => next,
                };
                match next {
                    Ok(d) => {
                        let wanted = cluster.as_deref().is_none_or(|c| c == d.cluster_id);
                        if wanted && tx.send(Ok((*d).clone())).await.is_err() {
                            return;
                        }
                    }
                    // Saying so beats a silent gap: the client lists what it
                    // missed and watches again.
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let _ = tx
                            .send(Err(ApiError::Unavailable(format!(
                                "the watch fell {n} decisions behind; list them and watch again"
                            ))))
                            .await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        ReceiverStream::new(rx)
    }

    /// Tails the decisions table for watchers: woken by this replica's
    /// records, and every half second for other replicas'.
    async fn tail(self) {
        let inner = &self.inner;
        // Start at the newest, so watchers see what comes after they connect.
        let mut after = loop {
            match inner.store.last_seq().await {
                Ok(seq) => break seq,
                Err(e) => {
                    tracing::warn!(error = %e, "decision tail cannot read yet");
                    tokio::select! {
                        () = inner.stop.cancelled() => return,
                        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        loop {
            tokio::select! {
                () = inner.stop.cancelled() => return,
                () = inner.recorded.notified() => {}
                () = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
            }
            match inner.store.decisions_after(None, after, 500).await {
                Ok(rows) => {
                    for (seq, d) in rows {
                        after = seq;
                        // No watcher is fine.
                        let _ = inner.decisions.send(Arc::new(d));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "decision tail read failed"),
            }
        }
    }
}

/// What asked for an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A sample batch arrived.
    Batch,
    /// EvaluateNow.
    Now,
    /// EvaluateNow with `dry_run`.
    DryRun,
}

/// What one evaluation came to.
enum Evaluated {
    Decided(Box<Decision>),
    NoPolicy,
    /// Another evaluator recorded first; this one did nothing.
    Lost,
}

/// The activity entry of a recorded decision.
fn entry(d: &Decision) -> Activity {
    let (kind, severity) = match d.action {
        Action::ScaleUp => ("scaler.scale_up", Severity::Info),
        Action::ScaleDown => ("scaler.scale_down", Severity::Info),
        Action::None => ("scaler.hold", Severity::Info),
    };
    let mut a = Activity::new(
        "scaler",
        kind,
        severity,
        format!("{} → {}: {}", d.current, d.desired, d.explanation),
        d.created_at,
    )
    .cluster(&d.cluster_id)
    .decision(&d.id);
    if let Some(w) = &d.winner {
        a = a.attribute("policy", w.clone());
    }
    a
}
