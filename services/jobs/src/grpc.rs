//! The thin tonic adapter: `TryFrom<proto>` parses a request into domain
//! types (every bad field at once), the service does the work, and the
//! runtime's one table turns failures into statuses.

use cg_runtime::{
    ApiError,
    grpc::principal,
    page::PageRequest,
    types::{Id, RequestId},
    validate::Violations,
};
use clustergenie_proto::jobs::v1 as pb;
use futures::StreamExt as _;
use tonic::{Request, Response, Status, codegen::BoxStream};

use crate::{
    domain::{Filter, MaxAttempts, NewJob, Source},
    repo::JobRepository,
    service::Jobs,
    wire,
};

const PAGES: (u32, u32) = (50, 1000);

pub struct Api<R>(pub Jobs<R>);

fn finish(v: Violations) -> Result<(), ApiError> {
    v.into_result().map_err(ApiError::InvalidArgument)
}

/// A request that names one job.
fn job_id(raw: &str) -> Result<Id, ApiError> {
    Id::parse(raw).map_err(|e| ApiError::invalid("id", e))
}

impl TryFrom<pb::CreateJobRequest> for NewJob {
    type Error = ApiError;

    fn try_from(r: pb::CreateJobRequest) -> Result<Self, ApiError> {
        let mut v = Violations::new();
        let cluster_id = v.check("cluster_id", Id::parse(&r.cluster_id));
        let action = wire::action(&mut v, r.action.as_ref());
        let request_id = v.check("request_id", RequestId::parse(&r.request_id));
        let source = v
            .check("source", wire::source(r.source))
            .map(|s| s.unwrap_or(Source::User));
        match source {
            Some(Source::User) if !r.origin_id.is_empty() => {
                v.add("origin_id", "must be empty for a user's job");
            }
            Some(Source::Diagnosis | Source::Scaler) if r.origin_id.is_empty() => {
                v.add(
                    "origin_id",
                    "must name the diagnosis or decision the job comes from",
                );
            }
            _ => {}
        }
        if r.origin_id.len() > 64 {
            v.add("origin_id", "must be at most 64 characters");
        }
        let max_attempts = v.check("max_attempts", MaxAttempts::parse(r.max_attempts));
        finish(v)?;
        Ok(Self {
            cluster_id: cluster_id.unwrap(),
            action: action.unwrap(),
            request_id: request_id.unwrap(),
            source: source.unwrap(),
            origin_id: r.origin_id,
            max_attempts: max_attempts.unwrap(),
            requested_by: String::new(),
        })
    }
}

/// A parsed ListJobs: which jobs, and which page of them.
pub struct ListJobs {
    pub filter: Filter,
    pub page: PageRequest,
}

impl TryFrom<&pb::ListJobsRequest> for ListJobs {
    type Error = ApiError;

    fn try_from(r: &pb::ListJobsRequest) -> Result<Self, ApiError> {
        let mut v = Violations::new();
        let cluster_id = if r.cluster_id.is_empty() {
            Some(None)
        } else {
            v.check("cluster_id", Id::parse(&r.cluster_id)).map(Some)
        };
        let status = v.check("status", wire::status(r.status));
        let kind = v.check("kind", wire::kind(r.kind));
        let source = v.check("source", wire::source(r.source));
        if r.origin_id.len() > 64 {
            v.add("origin_id", "must be at most 64 characters");
        }
        let filter = Filter {
            cluster_id: cluster_id.flatten(),
            status: status.flatten(),
            kind: kind.flatten(),
            source: source.flatten(),
            origin_id: (!r.origin_id.is_empty()).then(|| r.origin_id.clone()),
        };
        let page = PageRequest::parse(&mut v, r.page_size, &r.page_token, &filter.key(), PAGES);
        finish(v)?;
        Ok(Self {
            filter,
            page: page.unwrap(),
        })
    }
}

fn job(job: crate::domain::Job) -> Option<pb::Job> {
    Some(job.into())
}

#[tonic::async_trait]
impl<R: JobRepository> pb::job_service_server::JobService for Api<R> {
    #[tracing::instrument(skip_all)]
    async fn create_job(
        &self,
        req: Request<pb::CreateJobRequest>,
    ) -> Result<Response<pb::CreateJobResponse>, Status> {
        let by = principal(&req);
        let new = NewJob {
            requested_by: by,
            ..NewJob::try_from(req.into_inner())?
        };
        let created = self.0.create(new).await?;
        Ok(Response::new(pb::CreateJobResponse { job: job(created) }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn get_job(
        &self,
        req: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::GetJobResponse>, Status> {
        let found = self.0.get(&job_id(&req.get_ref().id)?).await?;
        Ok(Response::new(pb::GetJobResponse { job: job(found) }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_jobs(
        &self,
        req: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let ListJobs { filter, page } = ListJobs::try_from(req.get_ref())?;
        let found = self.0.list(&filter, &page).await?;
        Ok(Response::new(pb::ListJobsResponse {
            next_page_token: found.next_token(&filter.key()),
            jobs: found.items.into_iter().map(Into::into).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn cancel_job(
        &self,
        req: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let by = principal(&req);
        let cancelled = self.0.cancel(&job_id(&req.get_ref().id)?, &by).await?;
        Ok(Response::new(pb::CancelJobResponse {
            job: job(cancelled),
        }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn retry_job(
        &self,
        req: Request<pb::RetryJobRequest>,
    ) -> Result<Response<pb::RetryJobResponse>, Status> {
        let retried = self.0.retry(&job_id(&req.get_ref().id)?).await?;
        Ok(Response::new(pb::RetryJobResponse { job: job(retried) }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn watch_job(
        &self,
        req: Request<pb::WatchJobRequest>,
    ) -> Result<Response<BoxStream<pb::WatchJobResponse>>, Status> {
        let id = job_id(&req.get_ref().id)?;
        // A missing job is NOT_FOUND before the stream starts.
        self.0.get(&id).await?;
        let stream = self.0.watch(&id).map(|r| {
            r.map(|j| pb::WatchJobResponse { job: job(j) })
                .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
