//! The diagnosis service: read a snapshot, run the rules, store the answer
//! at once; when asked, let the LLM explain it in the background and store
//! the enriched answer; turn recommendations into jobs, once each.

use std::{sync::Arc, time::Duration};

use cg_runtime::{
    ApiError,
    activity::{Activity, Severity as ActivitySeverity},
    page::{PageOf, PageRequest},
    time::now_millis,
    types::{Id, RequestId},
};
use clustergenie_proto::jobs::v1 as jpb;
use futures::{FutureExt as _, future::BoxFuture};
use sha2::{Digest as _, Sha256};
use tokio::sync::oneshot;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    analyzers::{Rules, analyze},
    domain::{self, Diagnosis, Enrichment, Severity, Status},
    facts::{DropletState, Snapshot},
    llm::{self, Enricher, Masker, tools::PlatformTools},
    platform::{Ask, Platform},
    repo::{DiagnosisFilter, DiagnosisStore, Implementation},
    wire,
};

/// What a diagnosis is asked for, parsed.
#[derive(Debug, Clone)]
pub struct DiagnoseCmd {
    pub cluster_id: Id,
    pub droplet_id: Option<Id>,
    pub use_llm: bool,
    pub request_id: Option<RequestId>,
}

impl DiagnoseCmd {
    /// What a reused `request_id` must match.
    pub fn fingerprint(&self) -> String {
        let body = format!(
            "{}|{}|{}",
            self.cluster_id.as_str(),
            self.droplet_id.as_ref().map_or("", Id::as_str),
            self.use_llm
        );
        format!("{:x}", Sha256::digest(body.as_bytes()))
    }
}

/// A diagnosis as it starts: the rules' answer now, the final one later.
pub struct Started {
    pub rules: Diagnosis,
    /// Resolves to the completed diagnosis; `None` when `rules` is final.
    pub enriched: Option<BoxFuture<'static, Result<Diagnosis, ApiError>>>,
}

struct Inner<S> {
    store: S,
    platform: Platform,
    enricher: Enricher,
    rules: Rules,
    llm_deadline: Duration,
    tasks: TaskTracker,
    stop: CancellationToken,
}

pub struct Diagnoser<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Diagnoser<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

/// The job request id of a recommendation: the same diagnosis and
/// recommendation always ask jobs for the same job.
pub fn job_request_id(diagnosis_id: &str, recommendation_id: &str) -> String {
    format!("dx-{diagnosis_id}-{recommendation_id}")
}

/// The CreateJob request that implements `recommendation` of `d`.
pub fn job_request(d: &Diagnosis, recommendation_id: &str) -> Option<jpb::CreateJobRequest> {
    let action = d.recommendation(recommendation_id)?.action.as_ref()?;
    Some(jpb::CreateJobRequest {
        cluster_id: d.cluster_id.clone(),
        action: Some(wire::job_action(action)),
        request_id: job_request_id(&d.id, recommendation_id),
        source: jpb::JobSource::Diagnosis as i32,
        origin_id: d.id.clone(),
        max_attempts: 0,
    })
}

/// Registers every name, id, address and tag of the snapshot.
pub fn masker_for(s: &Snapshot) -> Masker {
    let mut m = Masker::new();
    m.entity("CLUSTER", &s.cluster_id, &s.cluster_name);
    for d in &s.droplets {
        m.entity("DROPLET", &d.id, &d.name);
        m.value("IP", &d.public_ip);
        m.value("IP", &d.private_ip);
        for t in &d.tags {
            m.value("TAG", t);
        }
    }
    for t in &s.tags {
        m.value("TAG", t);
    }
    m
}

fn activity(d: &Diagnosis) -> Activity {
    let severity = match d.severity {
        Severity::Info => ActivitySeverity::Info,
        Severity::Warning | Severity::Critical => ActivitySeverity::Warning,
    };
    let mut a = Activity::new(
        "diagnosis",
        "diagnosis.completed",
        severity,
        format!("diagnosis: {}", d.summary),
        d.created_at + d.duration_ms,
    )
    .cluster(&d.cluster_id)
    .diagnosis(&d.id)
    .attribute("severity", d.severity.as_str())
    .attribute("findings", d.findings.len().to_string());
    if !d.droplet_id.is_empty() {
        a = a.droplet(&d.droplet_id);
    }
    if let Some(llm) = &d.llm {
        a = a.attribute(
            "explanation",
            match llm.source {
                domain::Source::Rules => "rules",
                domain::Source::Llm => "llm",
                domain::Source::Cache => "cached",
            },
        );
    }
    a
}

impl<S: DiagnosisStore> Diagnoser<S> {
    /// The service and its background sweep (diagnoses left enriching by a
    /// stopped replica are completed with the rules' answer).
    pub fn new(
        store: S,
        platform: Platform,
        enricher: Enricher,
        rules: Rules,
        llm_deadline: Duration,
        stop: CancellationToken,
    ) -> (Self, BoxFuture<'static, ()>) {
        let me = Self {
            inner: Arc::new(Inner {
                store,
                platform,
                enricher,
                rules,
                llm_deadline,
                tasks: TaskTracker::new(),
                stop,
            }),
        };
        let sweeper = me.clone();
        (me, async move { sweeper.sweep().await }.boxed())
    }

    /// Runs the rules and stores their answer; with `use_llm`, starts the
    /// enrichment, which goes on whether or not anyone waits for it.
    #[tracing::instrument(skip(self), fields(cluster = %cmd.cluster_id.as_str()))]
    pub async fn start(&self, cmd: &DiagnoseCmd, principal: &str) -> Result<Started, ApiError> {
        let fingerprint = cmd.fingerprint();
        if let Some(rid) = &cmd.request_id
            && let Some(earlier) = self
                .inner
                .store
                .by_request(rid.as_str(), &fingerprint)
                .await?
        {
            return Ok(self.replayed(earlier));
        }
        let started = std::time::Instant::now();
        let now = now_millis();
        let snapshot = self
            .inner
            .platform
            .snapshot(&Ask {
                cluster_id: cmd.cluster_id.as_str(),
                droplet_id: cmd.droplet_id.as_ref().map(Id::as_str),
                window_ms: i64::try_from(self.inner.rules.window.as_millis()).unwrap_or(i64::MAX),
                now_ms: now,
            })
            .await?;
        let analysis = analyze(&snapshot, &self.inner.rules);
        let names = |id: &str| {
            snapshot
                .droplet(id)
                .map_or_else(|| id.to_string(), |d| d.name.clone())
        };
        let mut d = Diagnosis {
            id: cg_runtime::new_id(),
            cluster_id: snapshot.cluster_id.clone(),
            droplet_id: snapshot.scope.clone().unwrap_or_default(),
            status: if cmd.use_llm {
                Status::Enriching
            } else {
                Status::Completed
            },
            summary: domain::summary(&analysis.findings, names),
            severity: domain::overall(&analysis.findings),
            findings: analysis.findings,
            recommendations: analysis.recommendations,
            llm: None,
            request_id: cmd.request_id.as_ref().map(|r| r.as_str().to_string()),
            requested_by: principal.to_string(),
            created_at: now,
            duration_ms: 0,
        };
        d.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let entry = (!cmd.use_llm).then(|| activity(&d));
        let stored = self
            .inner
            .store
            .insert(&d, &fingerprint, entry.as_ref())
            .await?;
        if stored.id != d.id {
            // A concurrent call with the same key stored first.
            return Ok(self.replayed(stored));
        }
        tracing::info!(diagnosis = %d.id, findings = d.findings.len(), severity = d.severity.as_str(), "diagnosed");
        if !cmd.use_llm {
            return Ok(Started {
                rules: d,
                enriched: None,
            });
        }
        let (tx, rx) = oneshot::channel();
        let inner = self.inner.clone();
        let rules = d.clone();
        self.inner.tasks.spawn(async move {
            let done = enrich(&inner, d, &snapshot, started).await;
            let _ = tx.send(done);
        });
        let me = self.clone();
        let id = rules.id.clone();
        Ok(Started {
            rules,
            enriched: Some(
                async move {
                    match rx.await {
                        Ok(d) => Ok(d),
                        // The task ended without an answer (shutdown): what
                        // is stored is the truth.
                        Err(_) => me.get(&id).await,
                    }
                }
                .boxed(),
            ),
        })
    }

    /// A stored diagnosis answering a reused key: final, or followed until
    /// it is.
    fn replayed(&self, d: Diagnosis) -> Started {
        if d.status == Status::Completed {
            return Started {
                rules: d,
                enriched: None,
            };
        }
        let me = self.clone();
        let id = d.id.clone();
        let patience = self.inner.llm_deadline + Duration::from_secs(10);
        Started {
            rules: d,
            enriched: Some(
                async move {
                    let until = tokio::time::Instant::now() + patience;
                    loop {
                        let d = me.get(&id).await?;
                        if d.status == Status::Completed || tokio::time::Instant::now() >= until {
                            return Ok(d);
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
                .boxed(),
            ),
        }
    }

    /// Diagnose as one answer: the rules' and, when asked, the LLM's.
    pub async fn diagnose(
        &self,
        cmd: &DiagnoseCmd,
        principal: &str,
    ) -> Result<Diagnosis, ApiError> {
        let started = self.start(cmd, principal).await?;
        match started.enriched {
            Some(rest) => rest.await,
            None => Ok(started.rules),
        }
    }

    pub async fn get(&self, id: &str) -> Result<Diagnosis, ApiError> {
        self.inner.store.get(id).await
    }

    pub async fn list(
        &self,
        filter: &DiagnosisFilter,
        page: &PageRequest,
    ) -> Result<PageOf<Diagnosis>, ApiError> {
        self.inner.store.list(filter, page).await
    }

    /// The job implementing a recommendation: created once (the job's
    /// request id is derived from the diagnosis and the recommendation, so a
    /// crash between creating and recording, or a concurrent call, finds
    /// the same job), then recorded.
    #[tracing::instrument(skip(self))]
    pub async fn implement(
        &self,
        diagnosis_id: &str,
        recommendation_id: &str,
        request_id: Option<&RequestId>,
        principal: &str,
    ) -> Result<jpb::Job, ApiError> {
        let d = self.inner.store.get(diagnosis_id).await?;
        let rec = d.recommendation(recommendation_id).ok_or_else(|| {
            ApiError::not_found(
                "recommendation",
                format!("{recommendation_id} of diagnosis {diagnosis_id}"),
            )
        })?;
        if rec.action.is_none() {
            return Err(ApiError::FailedPrecondition(format!(
                "recommendation {recommendation_id} is advice: no job can carry it out"
            )));
        }
        if let Some(done) = self
            .inner
            .store
            .implementation(diagnosis_id, recommendation_id)
            .await?
        {
            let same_call =
                request_id.is_some_and(|r| done.request_id.as_deref() == Some(r.as_str()));
            if !same_call {
                return Err(ApiError::FailedPrecondition(format!(
                    "recommendation {recommendation_id} was already implemented by job {}",
                    done.job_id
                )));
            }
        }
        let request = job_request(&d, recommendation_id).expect("the action was checked");
        let job = self.inner.platform.create_job(request, principal).await?;
        let entry = Activity::new(
            "diagnosis",
            "diagnosis.implemented",
            ActivitySeverity::Info,
            format!("implementing \"{}\" as job {}", rec.title, job.id),
            now_millis(),
        )
        .cluster(&d.cluster_id)
        .diagnosis(&d.id)
        .job(&job.id)
        .attribute("recommendation", recommendation_id);
        let recorded = self
            .inner
            .store
            .implement(
                diagnosis_id,
                recommendation_id,
                &Implementation {
                    job_id: job.id.clone(),
                    request_id: request_id.map(|r| r.as_str().to_string()),
                },
                now_millis(),
                Some(&entry),
            )
            .await?;
        if recorded.job_id != job.id {
            return Err(ApiError::Internal(format!(
                "recommendation {recommendation_id} recorded job {} but jobs answered {}",
                recorded.job_id, job.id
            )));
        }
        tracing::info!(job = %job.id, "recommendation implemented");
        Ok(job)
    }

    /// Completes diagnoses left enriching past the LLM's deadline (their
    /// replica stopped mid-way): the rules' answer stands.
    async fn sweep(&self) {
        let every = Duration::from_secs(10);
        let margin = self.inner.llm_deadline + Duration::from_secs(30);
        loop {
            tokio::select! {
                () = self.inner.stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
            let before = now_millis() - i64::try_from(margin.as_millis()).unwrap_or(i64::MAX);
            match self.inner.store.enriching_since(before).await {
                Ok(stale) => {
                    for mut d in stale {
                        d.status = Status::Completed;
                        d.llm = Some(Enrichment::rules(
                            "interrupted: the diagnosis service stopped while the LLM was explaining",
                        ));
                        d.duration_ms = now_millis() - d.created_at;
                        if let Err(e) = self.inner.store.complete(&d, Some(&activity(&d))).await {
                            tracing::warn!(diagnosis = %d.id, error = %e, "completing a stale diagnosis failed");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading stale diagnoses failed"),
            }
        }
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}

/// The enrichment of `d`, stored. A stopping service records the rules'
/// answer with the reason instead of leaving it enriching.
async fn enrich<S: DiagnosisStore>(
    inner: &Inner<S>,
    mut d: Diagnosis,
    snapshot: &Snapshot,
    started: std::time::Instant,
) -> Diagnosis {
    let mut masker = masker_for(snapshot);
    let droplets: Vec<(String, String, String)> = snapshot
        .droplets
        .iter()
        .map(|x| {
            let state = match x.state {
                DropletState::New => "new",
                DropletState::Active => "active",
                DropletState::Off => "off",
            };
            (x.id.clone(), x.size.clone(), state.to_string())
        })
        .collect();
    let prompt = llm::prompt(
        &snapshot.cluster_id,
        snapshot.scope.as_deref(),
        &droplets,
        &d.findings,
        &d.recommendations,
    );
    let tools = PlatformTools {
        platform: inner.platform.clone(),
        cluster_id: snapshot.cluster_id.clone(),
    };
    let enrichment = tokio::select! {
        e = inner.enricher.enrich(llm::Ask { cluster_id: &d.cluster_id, prompt, findings: &d.findings }, &mut masker, &tools) => e,
        () = inner.stop.cancelled() => Enrichment::rules("interrupted: the diagnosis service is stopping"),
    };
    d.llm = Some(enrichment);
    d.status = Status::Completed;
    d.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let entry = activity(&d);
    for attempt in 0..5u32 {
        match inner.store.complete(&d, Some(&entry)).await {
            Ok(_) => break,
            Err(e) if e.is_transient() && attempt < 4 => {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            Err(e) => {
                // The sweep completes it later.
                tracing::warn!(diagnosis = %d.id, error = %e, "storing the enriched diagnosis failed");
                break;
            }
        }
    }
    d
}
