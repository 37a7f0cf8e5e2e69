//! The tonic adapter for JobService.

use cg_runtime::{
    page,
    time::{opt_timestamp, timestamp},
    validate::{self, Violations},
};
use clustergenie_proto::jobs::v1 as pb;
use futures::StreamExt as _;
use tonic::{Request, Response, Status, codegen::BoxStream};

use crate::{
    domain::{Job, Status as JobStatus},
    error::Error,
    repo::Filter,
    service::{Jobs, NewJob},
};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 1000;
const DEFAULT_ATTEMPTS: i32 = 3;
const MAX_ATTEMPTS: i32 = 10;
/// Set by the gateway from the caller's token; direct callers are anonymous.
pub use cg_runtime::grpc::PRINCIPAL_HEADER;

pub struct Api(pub Jobs);

fn principal<T>(req: &Request<T>) -> String {
    req.metadata()
        .get(PRINCIPAL_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 255)
        .unwrap_or("anonymous")
        .to_string()
}

fn uuid(v: &mut Violations, field: &str, raw: &str) -> Option<String> {
    if raw.is_empty() {
        v.add(field, "must not be empty");
        return None;
    }
    v.check(
        field,
        uuid::Uuid::try_parse(raw)
            .map(|u| u.hyphenated().to_string())
            .map_err(|_| "must be a UUID"),
    )
}

fn finish(v: Violations) -> Result<(), Error> {
    v.into_result().map_err(Error::InvalidArgument)
}

fn check_slug(v: &mut Violations, field: &str, raw: &str) {
    if raw.is_empty() || raw.len() > 64 {
        v.add(field, "must be a slug of 1–64 characters");
    }
}

/// Structural checks; slugs are checked against the catalog by the executor
/// (provisioning owns it), which fails the job with the reason.
fn check_action(v: &mut Violations, action: Option<&pb::JobAction>) {
    use pb::job_action::Action as A;
    let Some(action) = action.and_then(|a| a.action.as_ref()) else {
        v.add("action", "must be set");
        return;
    };
    match action {
        A::ProvisionDroplets(p) => {
            if !(1..=100).contains(&p.count) {
                v.add(
                    "action.provision_droplets.count",
                    "must be between 1 and 100",
                );
            }
            check_slug(v, "action.provision_droplets.size", &p.size);
            check_slug(v, "action.provision_droplets.image", &p.image);
            if p.name_prefix.len() > 40 {
                v.add(
                    "action.provision_droplets.name_prefix",
                    "must be at most 40 characters",
                );
            }
        }
        A::DestroyDroplet(p) => {
            uuid(v, "action.destroy_droplet.droplet_id", &p.droplet_id);
        }
        A::ResizeDroplet(p) => {
            uuid(v, "action.resize_droplet.droplet_id", &p.droplet_id);
            check_slug(v, "action.resize_droplet.size", &p.size);
        }
        A::RebootDroplet(p) => {
            uuid(v, "action.reboot_droplet.droplet_id", &p.droplet_id);
        }
        A::PowerCycleDroplet(p) => {
            uuid(v, "action.power_cycle_droplet.droplet_id", &p.droplet_id);
        }
        A::ScaleCluster(p) => {
            if !(0..=1000).contains(&p.target_count) {
                v.add(
                    "action.scale_cluster.target_count",
                    "must be between 0 and 1000",
                );
            }
            check_slug(v, "action.scale_cluster.size", &p.size);
            check_slug(v, "action.scale_cluster.image", &p.image);
        }
    }
}

impl From<Job> for pb::Job {
    fn from(j: Job) -> Self {
        Self {
            id: j.id,
            cluster_id: j.cluster_id,
            kind: j.kind as i32,
            action: Some(j.action),
            status: j.status.to_pb() as i32,
            progress: j.progress,
            message: j.message,
            attempts: j.attempt,
            max_attempts: j.max_attempts,
            error: j.error,
            cancel_requested: j.cancel_requested,
            result: Some(j.result),
            create_time: Some(timestamp(j.created_at)),
            start_time: opt_timestamp(j.started_at),
            finish_time: opt_timestamp(j.finished_at),
            update_time: Some(timestamp(j.updated_at)),
            next_attempt_time: None,
            trace_id: j.trace_id,
            requested_by: j.requested_by,
            request_id: j.request_id.unwrap_or_default(),
            source: j.source as i32,
            origin_id: j.origin_id,
        }
    }
}

fn job_response<T>(job: Job, wrap: impl FnOnce(Option<pb::Job>) -> T) -> Response<T> {
    Response::new(wrap(Some(job.into())))
}

#[tonic::async_trait]
impl pb::job_service_server::JobService for Api {
    #[tracing::instrument(skip_all)]
    async fn create_job(
        &self,
        req: Request<pb::CreateJobRequest>,
    ) -> Result<Response<pb::CreateJobResponse>, Status> {
        let by = principal(&req);
        let r = req.into_inner();
        let mut v = Violations::new();
        let cluster_id = uuid(&mut v, "cluster_id", &r.cluster_id);
        check_action(&mut v, r.action.as_ref());
        let request_id = v.check("request_id", validate::request_id(&r.request_id));
        let source = match pb::JobSource::try_from(r.source) {
            Ok(pb::JobSource::Unspecified) => Some(pb::JobSource::User),
            Ok(s) => Some(s),
            Err(_) => {
                v.add("source", "unknown job source");
                None
            }
        };
        if r.origin_id.len() > 64 {
            v.add("origin_id", "must be at most 64 characters");
        }
        let max_attempts = match r.max_attempts {
            0 => DEFAULT_ATTEMPTS,
            n if (1..=MAX_ATTEMPTS).contains(&n) => n,
            _ => {
                v.add(
                    "max_attempts",
                    format!("must be between 1 and {MAX_ATTEMPTS}"),
                );
                0
            }
        };
        finish(v)?;
        let job = self
            .0
            .create(NewJob {
                cluster_id: cluster_id.unwrap_or_default(),
                action: r.action.unwrap_or_default(),
                request_id: request_id.flatten(),
                source: source.unwrap_or(pb::JobSource::User),
                origin_id: r.origin_id,
                max_attempts,
                requested_by: by,
            })
            .await?;
        Ok(job_response(job, |job| pb::CreateJobResponse { job }))
    }

    async fn get_job(
        &self,
        req: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::GetJobResponse>, Status> {
        let mut v = Violations::new();
        let id = uuid(&mut v, "id", &req.get_ref().id);
        finish(v)?;
        let job = self.0.get(&id.unwrap_or_default()).await?;
        Ok(job_response(job, |job| pb::GetJobResponse { job }))
    }

    async fn list_jobs(
        &self,
        req: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let r = req.into_inner();
        let mut v = Violations::new();
        let cluster_id = if r.cluster_id.is_empty() {
            None
        } else {
            uuid(&mut v, "cluster_id", &r.cluster_id)
        };
        let status = match pb::JobStatus::try_from(r.status) {
            Ok(pb::JobStatus::Unspecified) => None,
            Ok(s) => JobStatus::ALL.into_iter().find(|x| x.to_pb() == s),
            Err(_) => {
                v.add("status", "unknown job status");
                None
            }
        };
        let kind = match pb::JobKind::try_from(r.kind) {
            Ok(pb::JobKind::Unspecified) => None,
            Ok(k) => Some(k),
            Err(_) => {
                v.add("kind", "unknown job kind");
                None
            }
        };
        let source = match pb::JobSource::try_from(r.source) {
            Ok(pb::JobSource::Unspecified) => None,
            Ok(s) => Some(s),
            Err(_) => {
                v.add("source", "unknown job source");
                None
            }
        };
        let key = format!(
            "{}|{}|{}|{}|{}",
            r.cluster_id, r.status, r.kind, r.source, r.origin_id
        );
        let size = v.check(
            "page_size",
            validate::page_size(r.page_size, DEFAULT_PAGE, MAX_PAGE),
        );
        let before = v.check("page_token", page::decode(&r.page_token, &key));
        finish(v)?;
        let filter = Filter {
            cluster_id,
            status,
            kind,
            source,
            origin_id: (!r.origin_id.is_empty()).then_some(r.origin_id),
        };
        let before = before.flatten().map(|t| t.after);
        let (jobs, next) = self
            .0
            .list(&filter, size.unwrap_or(DEFAULT_PAGE), before.as_deref())
            .await?;
        Ok(Response::new(pb::ListJobsResponse {
            jobs: jobs.into_iter().map(Into::into).collect(),
            next_page_token: next.map(|n| page::encode(&n, &key)).unwrap_or_default(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn cancel_job(
        &self,
        req: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let by = principal(&req);
        let mut v = Violations::new();
        let id = uuid(&mut v, "id", &req.get_ref().id);
        finish(v)?;
        let job = self.0.cancel(&id.unwrap_or_default(), &by).await?;
        Ok(job_response(job, |job| pb::CancelJobResponse { job }))
    }

    #[tracing::instrument(skip_all)]
    async fn retry_job(
        &self,
        req: Request<pb::RetryJobRequest>,
    ) -> Result<Response<pb::RetryJobResponse>, Status> {
        let mut v = Violations::new();
        let id = uuid(&mut v, "id", &req.get_ref().id);
        finish(v)?;
        let job = self.0.retry(&id.unwrap_or_default()).await?;
        Ok(job_response(job, |job| pb::RetryJobResponse { job }))
    }

    async fn watch_job(
        &self,
        req: Request<pb::WatchJobRequest>,
    ) -> Result<Response<BoxStream<pb::WatchJobResponse>>, Status> {
        let mut v = Violations::new();
        let id = uuid(&mut v, "id", &req.get_ref().id);
        finish(v)?;
        let id = id.unwrap_or_default();
        self.0.get(&id).await?;
        let stream = self.0.watch(id).map(|r| {
            r.map(|job| pb::WatchJobResponse {
                job: Some(job.into()),
            })
            .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
