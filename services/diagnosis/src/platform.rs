//! What diagnosis reads from the services around it, over their gRPC APIs
//! (never their tables): provisioning for the cluster, droplets, catalog and
//! actions; monitoring for metrics, health results and activity; jobs for
//! recent jobs, and to create the job a recommendation becomes. Channels
//! connect lazily, so diagnosis starts before its dependencies.

use std::{collections::BTreeMap, time::Duration};

use cg_runtime::{
    ApiError,
    client::{TracedChannel, dependency_error, lazy_channel},
    time::{duration, millis_of, timestamp},
};
use clustergenie_proto::{jobs::v1 as jpb, monitoring::v1 as mpb, provisioning::v1 as ppb};
use tonic::Code;

use crate::facts::{
    ActionFacts, ActionState, ActivityFacts, DropletFacts, DropletState, HealthFacts, JobFacts,
    JobState, Metric, Point, Series, SizeFacts, Snapshot,
};

/// Pages read at most per list, so a huge history cannot stall a diagnosis.
const MAX_PAGES: usize = 10;

#[derive(Clone)]
pub struct Platform {
    clusters: ppb::cluster_service_client::ClusterServiceClient<TracedChannel>,
    droplets: ppb::droplet_service_client::DropletServiceClient<TracedChannel>,
    actions: ppb::droplet_action_service_client::DropletActionServiceClient<TracedChannel>,
    catalog: ppb::catalog_service_client::CatalogServiceClient<TracedChannel>,
    metrics: mpb::metrics_service_client::MetricsServiceClient<TracedChannel>,
    health: mpb::health_check_service_client::HealthCheckServiceClient<TracedChannel>,
    activity: mpb::activity_service_client::ActivityServiceClient<TracedChannel>,
    jobs: jpb::job_service_client::JobServiceClient<TracedChannel>,
}

/// Reads every page of a list, up to [`MAX_PAGES`].
macro_rules! all_pages {
    (|$token:ident| $call:expr, $items:ident, $service:literal) => {{
        let mut out = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let $token = token.clone();
            let page = $call
                .await
                .map_err(|s: tonic::Status| dependency_error($service, &s))?
                .into_inner();
            out.extend(page.$items);
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        Ok::<_, ApiError>(out)
    }};
}

fn metric_kind(m: Metric) -> mpb::MetricKind {
    match m {
        Metric::Cpu => mpb::MetricKind::CpuPercent,
        Metric::Memory => mpb::MetricKind::MemoryPercent,
        Metric::Disk => mpb::MetricKind::DiskPercent,
        Metric::NetIn => mpb::MetricKind::NetworkInMbps,
        Metric::NetOut => mpb::MetricKind::NetworkOutMbps,
        Metric::Load1m => mpb::MetricKind::Load1m,
    }
}

fn metric_of(kind: i32) -> Option<Metric> {
    Some(match mpb::MetricKind::try_from(kind).ok()? {
        mpb::MetricKind::CpuPercent => Metric::Cpu,
        mpb::MetricKind::MemoryPercent => Metric::Memory,
        mpb::MetricKind::DiskPercent => Metric::Disk,
        mpb::MetricKind::NetworkInMbps => Metric::NetIn,
        mpb::MetricKind::NetworkOutMbps => Metric::NetOut,
        mpb::MetricKind::Load1m => Metric::Load1m,
        mpb::MetricKind::Unspecified => return None,
    })
}

/// The resolution a window is read at: raw samples for short windows, else
/// about 240 points per series (monitoring's rollups answer those).
pub fn step_for(window_ms: i64) -> Option<i64> {
    (window_ms > 15 * 60_000).then(|| (window_ms / 240).max(10_000) / 1000 * 1000)
}

pub fn series_from(s: mpb::MetricSeries) -> Option<Series> {
    Some(Series {
        metric: metric_of(s.metric)?,
        droplet_id: s.droplet_id,
        points: s
            .points
            .iter()
            .filter_map(|p| {
                Some(Point {
                    t: millis_of(p.time.as_ref()?)?,
                    v: p.value,
                })
            })
            .collect(),
    })
}

fn droplet_from(d: ppb::Droplet) -> Option<DropletFacts> {
    let state = match ppb::DropletStatus::try_from(d.status).ok()? {
        ppb::DropletStatus::New => DropletState::New,
        ppb::DropletStatus::Active => DropletState::Active,
        ppb::DropletStatus::Off => DropletState::Off,
        ppb::DropletStatus::Archive | ppb::DropletStatus::Unspecified => return None,
    };
    Some(DropletFacts {
        id: d.id,
        name: d.name,
        size: d.size,
        image: d.image,
        state,
        public_ip: d.public_ipv4,
        private_ip: d.private_ipv4,
        tags: d.tags,
        locked: d.locked,
        vcpus: u32::try_from(d.vcpus).unwrap_or(0),
        memory_mb: u32::try_from(d.memory_mb).unwrap_or(0),
        disk_gb: u32::try_from(d.disk_gb).unwrap_or(0),
    })
}

fn action_from(a: ppb::DropletAction) -> ActionFacts {
    let kind = ppb::ActionType::try_from(a.r#type)
        .map(|t| {
            t.as_str_name()
                .trim_start_matches("ACTION_TYPE_")
                .to_lowercase()
        })
        .unwrap_or_default();
    ActionFacts {
        state: match ppb::ActionStatus::try_from(a.status) {
            Ok(ppb::ActionStatus::Completed) => ActionState::Completed,
            Ok(ppb::ActionStatus::Errored) => ActionState::Errored,
            _ => ActionState::InProgress,
        },
        started_ms: a.started_at.as_ref().and_then(millis_of).unwrap_or(0),
        id: a.id,
        droplet_id: a.droplet_id,
        kind,
        error: a.error,
    }
}

fn job_from(j: jpb::Job) -> JobFacts {
    JobFacts {
        kind: jpb::JobKind::try_from(j.kind)
            .map(|k| {
                k.as_str_name()
                    .trim_start_matches("JOB_KIND_")
                    .to_lowercase()
            })
            .unwrap_or_default(),
        state: match jpb::JobStatus::try_from(j.status) {
            Ok(jpb::JobStatus::Running) => JobState::Running,
            Ok(jpb::JobStatus::Succeeded) => JobState::Succeeded,
            Ok(jpb::JobStatus::Failed) => JobState::Failed,
            Ok(jpb::JobStatus::Cancelled) => JobState::Cancelled,
            _ => JobState::Queued,
        },
        attempts: u32::try_from(j.attempts).unwrap_or(0),
        created_ms: j.create_time.as_ref().and_then(millis_of).unwrap_or(0),
        updated_ms: j.update_time.as_ref().and_then(millis_of).unwrap_or(0),
        error: if j.error.is_empty() {
            j.message
        } else {
            j.error
        },
        id: j.id,
    }
}

fn activity_from(e: mpb::ActivityEntry) -> ActivityFacts {
    ActivityFacts {
        time_ms: e.time.as_ref().and_then(millis_of).unwrap_or(0),
        id: e.id,
        kind: e.kind,
        droplet_id: e.droplet_id,
        job_id: e.job_id,
        message: e.message,
        attributes: e.attributes.into_iter().collect::<BTreeMap<_, _>>(),
    }
}

fn health_from(h: mpb::HealthResult) -> HealthFacts {
    HealthFacts {
        time_ms: h.time.as_ref().and_then(millis_of).unwrap_or(0),
        check_id: h.check_id,
        droplet_id: h.droplet_id,
        healthy: h.healthy,
        message: h.message,
    }
}

/// What a diagnosis is asked about.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    pub cluster_id: &'a str,
    pub droplet_id: Option<&'a str>,
    pub window_ms: i64,
    pub now_ms: i64,
}

impl Platform {
    pub fn new(
        provisioning_url: &str,
        monitoring_url: &str,
        jobs_url: &str,
        timeout: Duration,
    ) -> Result<Self, ApiError> {
        let p = lazy_channel(provisioning_url, timeout)?;
        let m = lazy_channel(monitoring_url, timeout)?;
        Ok(Self {
            clusters: ppb::cluster_service_client::ClusterServiceClient::new(p.clone()),
            droplets: ppb::droplet_service_client::DropletServiceClient::new(p.clone()),
            actions: ppb::droplet_action_service_client::DropletActionServiceClient::new(p.clone()),
            catalog: ppb::catalog_service_client::CatalogServiceClient::new(p),
            metrics: mpb::metrics_service_client::MetricsServiceClient::new(m.clone()),
            health: mpb::health_check_service_client::HealthCheckServiceClient::new(m.clone()),
            activity: mpb::activity_service_client::ActivityServiceClient::new(m),
            jobs: jpb::job_service_client::JobServiceClient::new(lazy_channel(jobs_url, timeout)?),
        })
    }

    /// The cluster, `NOT_FOUND` when it does not exist.
    async fn cluster(&self, id: &str) -> Result<ppb::Cluster, ApiError> {
        match self
            .clusters
            .clone()
            .get_cluster(ppb::GetClusterRequest { id: id.into() })
            .await
        {
            Ok(r) => r.into_inner().cluster.ok_or_else(|| {
                ApiError::Internal("provisioning answered without a cluster".into())
            }),
            Err(s) if matches!(s.code(), Code::NotFound | Code::InvalidArgument) => {
                Err(ApiError::not_found("cluster", id))
            }
            Err(s) => Err(dependency_error("provisioning", &s)),
        }
    }

    pub async fn live_droplets(&self, cluster: &str) -> Result<Vec<DropletFacts>, ApiError> {
        let mut client = self.droplets.clone();
        let droplets = all_pages!(
            |token| client.list_droplets(ppb::ListDropletsRequest {
                cluster_id: cluster.into(),
                page_size: 1000,
                page_token: token,
                ..Default::default()
            }),
            droplets,
            "provisioning"
        )?;
        Ok(droplets.into_iter().filter_map(droplet_from).collect())
    }

    pub async fn sizes(&self) -> Result<Vec<SizeFacts>, ApiError> {
        let sizes = self
            .catalog
            .clone()
            .list_sizes(ppb::ListSizesRequest::default())
            .await
            .map_err(|s| dependency_error("provisioning", &s))?
            .into_inner()
            .sizes;
        Ok(sizes
            .into_iter()
            .map(|z| SizeFacts {
                slug: z.slug,
                vcpus: u32::try_from(z.vcpus).unwrap_or(0),
                memory_mb: u32::try_from(z.memory_mb).unwrap_or(0),
                disk_gb: u32::try_from(z.disk_gb).unwrap_or(0),
                monthly_cents: z.price_monthly_cents,
                regions: z.regions,
            })
            .collect())
    }

    /// Metric series of the cluster (or one droplet) over `[from, to]`.
    pub async fn metrics(
        &self,
        cluster: &str,
        droplet: Option<&str>,
        metrics: &[Metric],
        (from, to): (i64, i64),
    ) -> Result<Vec<Series>, ApiError> {
        let mut client = self.metrics.clone();
        let step = step_for(to - from);
        let series = all_pages!(
            |token| client.query_metrics(mpb::QueryMetricsRequest {
                cluster_id: cluster.into(),
                droplet_id: droplet.unwrap_or_default().into(),
                metrics: metrics.iter().map(|m| metric_kind(*m) as i32).collect(),
                start_time: Some(timestamp(from)),
                end_time: Some(timestamp(to)),
                step: step.map(|ms| duration(Duration::from_millis(ms.unsigned_abs()))),
                page_size: 1000,
                page_token: token,
                ..Default::default()
            }),
            series,
            "monitoring"
        )?;
        Ok(series.into_iter().filter_map(series_from).collect())
    }

    pub async fn health_results(
        &self,
        cluster: &str,
        droplet: Option<&str>,
        from: i64,
    ) -> Result<Vec<HealthFacts>, ApiError> {
        let mut client = self.health.clone();
        let results = all_pages!(
            |token| client.list_health_results(mpb::ListHealthResultsRequest {
                cluster_id: cluster.into(),
                droplet_id: droplet.unwrap_or_default().into(),
                start_time: Some(timestamp(from)),
                page_size: 1000,
                page_token: token,
                ..Default::default()
            }),
            results,
            "monitoring"
        )?;
        Ok(results.into_iter().map(health_from).collect())
    }

    pub async fn activity(
        &self,
        cluster: &str,
        droplet: Option<&str>,
        from: i64,
        limit: usize,
    ) -> Result<Vec<ActivityFacts>, ApiError> {
        let mut client = self.activity.clone();
        let mut entries = all_pages!(
            |token| client.list_activity(mpb::ListActivityRequest {
                cluster_id: cluster.into(),
                droplet_id: droplet.unwrap_or_default().into(),
                start_time: Some(timestamp(from)),
                page_size: i32::try_from(limit.min(1000)).unwrap_or(1000),
                page_token: token,
                ..Default::default()
            }),
            entries,
            "monitoring"
        )?;
        entries.truncate(limit);
        Ok(entries.into_iter().map(activity_from).collect())
    }

    async fn actions(&self, droplet: &str) -> Result<Vec<ActionFacts>, ApiError> {
        let actions = self
            .actions
            .clone()
            .list_droplet_actions(ppb::ListDropletActionsRequest {
                droplet_id: droplet.into(),
                page_size: 100,
                ..Default::default()
            })
            .await
            .map_err(|s| dependency_error("provisioning", &s))?
            .into_inner()
            .actions;
        Ok(actions.into_iter().map(action_from).collect())
    }

    /// The cluster's most recent jobs (newest first, at most 200).
    async fn recent_jobs(&self, cluster: &str) -> Result<Vec<JobFacts>, ApiError> {
        let jobs = self
            .jobs
            .clone()
            .list_jobs(jpb::ListJobsRequest {
                cluster_id: cluster.into(),
                page_size: 200,
                ..Default::default()
            })
            .await
            .map_err(|s| dependency_error("jobs", &s))?
            .into_inner()
            .jobs;
        Ok(jobs.into_iter().map(job_from).collect())
    }

    /// One droplet, `None` when it is unknown.
    pub async fn droplet(&self, id: &str) -> Result<Option<ppb::Droplet>, ApiError> {
        match self
            .droplets
            .clone()
            .get_droplet(ppb::GetDropletRequest { id: id.into() })
            .await
        {
            Ok(r) => Ok(r.into_inner().droplet),
            Err(s) if matches!(s.code(), Code::NotFound | Code::InvalidArgument) => Ok(None),
            Err(s) => Err(dependency_error("provisioning", &s)),
        }
    }

    /// Everything the rules need about the cluster, read in parallel.
    /// `NOT_FOUND` for an unknown cluster or a droplet outside it;
    /// `UNAVAILABLE` when a source cannot be read.
    pub async fn snapshot(&self, ask: &Ask<'_>) -> Result<Snapshot, ApiError> {
        let from = ask.now_ms - ask.window_ms;
        let (cluster, droplets, sizes, series, health, activity, jobs) = tokio::try_join!(
            self.cluster(ask.cluster_id),
            self.live_droplets(ask.cluster_id),
            self.sizes(),
            self.metrics(
                ask.cluster_id,
                ask.droplet_id,
                &Metric::ALL,
                (from, ask.now_ms)
            ),
            self.health_results(ask.cluster_id, ask.droplet_id, from),
            self.activity(ask.cluster_id, ask.droplet_id, from, 5000),
            self.recent_jobs(ask.cluster_id),
        )?;
        if let Some(d) = ask.droplet_id
            && !droplets.iter().any(|x| x.id == d)
        {
            return Err(ApiError::not_found(
                "droplet",
                format!("{d} in cluster {}", ask.cluster_id),
            ));
        }
        let scoped: Vec<&DropletFacts> = droplets
            .iter()
            .filter(|d| ask.droplet_id.is_none_or(|s| s == d.id))
            .collect();
        let actions = futures::future::try_join_all(scoped.iter().map(|d| self.actions(&d.id)))
            .await?
            .into_iter()
            .flatten()
            .collect();
        Ok(Snapshot {
            cluster_id: cluster.id,
            cluster_name: cluster.name,
            region: cluster.region,
            tags: cluster.tags,
            droplets,
            sizes,
            series,
            health,
            activity,
            actions,
            jobs,
            now_ms: ask.now_ms,
            window_ms: ask.window_ms,
            scope: ask.droplet_id.map(str::to_string),
        })
    }

    /// Creates the job a recommendation becomes; the same `request` again
    /// answers with the same job.
    pub async fn create_job(
        &self,
        request: jpb::CreateJobRequest,
        principal: &str,
    ) -> Result<jpb::Job, ApiError> {
        let mut req = tonic::Request::new(request);
        if let Ok(v) = principal.parse() {
            req.metadata_mut()
                .insert(cg_runtime::grpc::PRINCIPAL_HEADER, v);
        }
        self.jobs
            .clone()
            .create_job(req)
            .await
            .map_err(|s| dependency_error("jobs", &s))?
            .into_inner()
            .job
            .ok_or_else(|| ApiError::Internal("jobs answered CreateJob without a job".into()))
    }
}
