//! What the scaler asks of the services around it, over their gRPC APIs
//! (it never reads their tables): provisioning for clusters, droplets and
//! the catalog's prices, jobs to act. Channels connect lazily, so the
//! scaler starts before them and a dependency that is down makes calls
//! `UNAVAILABLE` rather than failing the start.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use cg_runtime::{
    ApiError,
    client::{TracedChannel, dependency_error, lazy_channel},
    time::millis_of,
};
use clustergenie_proto::{jobs::v1 as jpb, provisioning::v1 as ppb};
use tokio::sync::RwLock;
use tonic::Code;

/// How long the catalog (prices, images) is trusted before it is read again.
const CATALOG_TTL: Duration = Duration::from_secs(300);

/// A live droplet as the scaler needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct DropletInfo {
    pub id: String,
    pub active: bool,
    pub created_ms: i64,
    /// An action runs on it (it must not be chosen to go).
    pub locked: bool,
}

#[derive(Debug, Default)]
struct Catalog {
    read_at: Option<Instant>,
    /// Monthly cents by size slug.
    prices: HashMap<String, i64>,
    images: Vec<String>,
}

#[derive(Clone)]
pub struct Platform {
    clusters: ppb::cluster_service_client::ClusterServiceClient<TracedChannel>,
    droplets: ppb::droplet_service_client::DropletServiceClient<TracedChannel>,
    catalog_client: ppb::catalog_service_client::CatalogServiceClient<TracedChannel>,
    jobs: jpb::job_service_client::JobServiceClient<TracedChannel>,
    catalog: Arc<RwLock<Catalog>>,
}

impl Platform {
    pub fn new(
        provisioning_url: &str,
        jobs_url: &str,
        timeout: Duration,
    ) -> Result<Self, ApiError> {
        let provisioning = lazy_channel(provisioning_url, timeout)?;
        Ok(Self {
            clusters: ppb::cluster_service_client::ClusterServiceClient::new(provisioning.clone()),
            droplets: ppb::droplet_service_client::DropletServiceClient::new(provisioning.clone()),
            catalog_client: ppb::catalog_service_client::CatalogServiceClient::new(provisioning),
            jobs: jpb::job_service_client::JobServiceClient::new(lazy_channel(jobs_url, timeout)?),
            catalog: Arc::default(),
        })
    }

    /// The cluster's monthly cost in cents; `None` for an unknown cluster.
    pub async fn cluster_cost(&self, cluster: &str) -> Result<Option<i64>, ApiError> {
        match self
            .clusters
            .clone()
            .get_cluster(ppb::GetClusterRequest { id: cluster.into() })
            .await
        {
            Ok(r) => Ok(Some(
                r.into_inner()
                    .cluster
                    .and_then(|c| c.cost)
                    .map_or(0, |c| c.monthly_cents),
            )),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) if s.code() == Code::InvalidArgument => Ok(None),
            Err(s) => Err(dependency_error("provisioning", &s)),
        }
    }

    /// The cluster's live droplets (every page).
    pub async fn droplets(&self, cluster: &str) -> Result<Vec<DropletInfo>, ApiError> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .droplets
                .clone()
                .list_droplets(ppb::ListDropletsRequest {
                    cluster_id: cluster.into(),
                    page_size: 1000,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .map_err(|s| dependency_error("provisioning", &s))?
                .into_inner();
            out.extend(page.droplets.into_iter().filter_map(|d| {
                let status = ppb::DropletStatus::try_from(d.status).ok()?;
                (status != ppb::DropletStatus::Archive).then(|| DropletInfo {
                    active: status == ppb::DropletStatus::Active,
                    created_ms: d.create_time.as_ref().and_then(millis_of).unwrap_or(0),
                    locked: d.locked,
                    id: d.id,
                })
            }));
            if page.next_page_token.is_empty() {
                return Ok(out);
            }
            token = page.next_page_token;
        }
    }

    async fn read_catalog(&self) -> Result<(), ApiError> {
        if self
            .catalog
            .read()
            .await
            .read_at
            .is_some_and(|t| t.elapsed() < CATALOG_TTL)
        {
            return Ok(());
        }
        let mut client = self.catalog_client.clone();
        let sizes = client
            .list_sizes(ppb::ListSizesRequest::default())
            .await
            .map_err(|s| dependency_error("provisioning", &s))?
            .into_inner()
            .sizes;
        let images = client
            .list_images(ppb::ListImagesRequest::default())
            .await
            .map_err(|s| dependency_error("provisioning", &s))?
            .into_inner()
            .images;
        let mut c = self.catalog.write().await;
        c.prices = sizes
            .into_iter()
            .map(|s| (s.slug, s.price_monthly_cents))
            .collect();
        c.images = images.into_iter().map(|i| i.slug).collect();
        c.read_at = Some(Instant::now());
        Ok(())
    }

    /// A size's monthly price in cents; `None` for a size the catalog lacks.
    pub async fn size_price(&self, slug: &str) -> Result<Option<i64>, ApiError> {
        self.read_catalog().await?;
        Ok(self.catalog.read().await.prices.get(slug).copied())
    }

    pub async fn image_exists(&self, slug: &str) -> Result<bool, ApiError> {
        self.read_catalog().await?;
        Ok(self.catalog.read().await.images.iter().any(|i| i == slug))
    }

    /// Whether job `id` is over (terminal, or gone).
    pub async fn job_done(&self, id: &str) -> Result<bool, ApiError> {
        match self
            .jobs
            .clone()
            .get_job(jpb::GetJobRequest { id: id.into() })
            .await
        {
            Ok(r) => {
                let status = r.into_inner().job.map_or(0, |j| j.status);
                Ok(!matches!(
                    jpb::JobStatus::try_from(status),
                    Ok(jpb::JobStatus::Queued | jpb::JobStatus::Running)
                ))
            }
            Err(s) if s.code() == Code::NotFound => Ok(true),
            Err(s) => Err(dependency_error("jobs", &s)),
        }
    }

    /// Creates the SCALE_CLUSTER job of decision `decision_id`; the decision
    /// id is the request_id, so asking again returns the same job.
    pub async fn create_scale_job(&self, job: ScaleJob<'_>) -> Result<String, ApiError> {
        let created = self
            .jobs
            .clone()
            .create_job(jpb::CreateJobRequest {
                cluster_id: job.cluster_id.into(),
                action: Some(jpb::JobAction {
                    action: Some(jpb::job_action::Action::ScaleCluster(jpb::ScaleCluster {
                        target_count: i32::try_from(job.target).unwrap_or(i32::MAX),
                        size: job.size.into(),
                        image: job.image.into(),
                        remove_droplet_ids: job.remove.to_vec(),
                    })),
                }),
                request_id: job.decision_id.into(),
                source: jpb::JobSource::Scaler as i32,
                origin_id: job.decision_id.into(),
                max_attempts: 0,
            })
            .await
            .map_err(|s| dependency_error("jobs", &s))?
            .into_inner();
        created
            .job
            .map(|j| j.id)
            .ok_or_else(|| ApiError::Internal("jobs answered CreateJob without a job".into()))
    }
}

/// What a scaling job asks for.
#[derive(Debug, Clone, Copy)]
pub struct ScaleJob<'a> {
    pub cluster_id: &'a str,
    pub decision_id: &'a str,
    pub target: u32,
    pub size: &'a str,
    pub image: &'a str,
    pub remove: &'a [String],
}
