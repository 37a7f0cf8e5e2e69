//! The thin tonic adapter: requests are parsed into domain types (every
//! bad field at once), the service does the work, and the runtime's one
//! table turns failures into statuses.

use cg_runtime::{
    ApiError,
    page::PageRequest,
    time::{duration_millis, millis_of, now_millis},
    types::Id,
    validate::Violations,
};
use clustergenie_proto::monitoring::v1 as pb;
use futures::StreamExt as _;
use tonic::{Request, Response, Status, codegen::BoxStream};

use crate::{
    activity,
    domain::{HOUR_MS, MINUTE_MS, MetricQuery, SECOND_MS, Step},
    repo::{ActivityStore, MetricStore},
    service::{Metrics, WatchFilter},
    wire,
};

const PAGES: (u32, u32) = (50, 1000);

pub struct Api<S>(pub Metrics<S>);

fn finish(v: Violations) -> Result<(), ApiError> {
    v.into_result().map_err(ApiError::InvalidArgument)
}

/// An optional id: empty is none.
fn optional_id(v: &mut Violations, field: &str, raw: &str) -> Option<Option<Id>> {
    if raw.is_empty() {
        Some(None)
    } else {
        v.check(field, Id::parse(raw)).map(Some)
    }
}

fn time(
    v: &mut Violations,
    field: &str,
    raw: Option<&prost_types::Timestamp>,
) -> Option<Option<i64>> {
    match raw {
        None => Some(None),
        Some(t) => v
            .check(field, millis_of(t).ok_or("is not a valid timestamp"))
            .map(Some),
    }
}

/// What a page token is bound to: the whole query but its page.
fn page_key(r: &pb::QueryMetricsRequest, start_ms: i64, end_ms: i64, step: Option<Step>) -> String {
    format!(
        "{}|{}|{:?}|{start_ms}|{end_ms}|{:?}|{}",
        r.cluster_id, r.droplet_id, r.metrics, step, r.cluster_average
    )
}

/// A QueryMetrics request, with `now` filling the unset end.
pub fn query(r: &pb::QueryMetricsRequest, now: i64) -> Result<MetricQuery, ApiError> {
    let mut v = Violations::new();
    let cluster_id = v.check("cluster_id", Id::parse(&r.cluster_id));
    let droplet_id = optional_id(&mut v, "droplet_id", &r.droplet_id);
    let metrics = v.check("metrics", wire::metrics(&r.metrics));
    let end = time(&mut v, "end_time", r.end_time.as_ref()).map(|t| t.unwrap_or(now));
    let start = time(&mut v, "start_time", r.start_time.as_ref());
    let step = match &r.step {
        None => Some(None),
        Some(d) => v.check(
            "step",
            duration_millis(d)
                .ok_or_else(|| "must not be negative".to_string())
                .and_then(Step::parse),
        ),
    };
    let (mut start_ms, mut end_ms) = (0, 0);
    if let (Some(end), Some(start)) = (end, start) {
        end_ms = end;
        start_ms = start.unwrap_or(end - HOUR_MS);
        if start_ms >= end_ms {
            v.add("start_time", "must be before end_time");
        }
    }
    let key = page_key(r, start_ms, end_ms, step.flatten());
    let page = PageRequest::parse(&mut v, r.page_size, &r.page_token, &key, PAGES);
    finish(v)?;
    Ok(MetricQuery {
        cluster_id: cluster_id.unwrap(),
        droplet_id: droplet_id.unwrap(),
        metrics: metrics.unwrap(),
        start_ms,
        end_ms,
        step: step.unwrap(),
        cluster_average: r.cluster_average,
        page: page.unwrap(),
    })
}

/// A GetClusterSummary request: the cluster and the window in ms.
pub struct SummaryRequest {
    pub cluster_id: Id,
    pub window_ms: i64,
}

impl TryFrom<&pb::GetClusterSummaryRequest> for SummaryRequest {
    type Error = ApiError;

    fn try_from(r: &pb::GetClusterSummaryRequest) -> Result<Self, ApiError> {
        let mut v = Violations::new();
        let cluster_id = v.check("cluster_id", Id::parse(&r.cluster_id));
        let window = match &r.window {
            None => Some(MINUTE_MS),
            Some(d) => v.check(
                "window",
                duration_millis(d)
                    .filter(|w| (10 * SECOND_MS..=HOUR_MS).contains(w))
                    .ok_or("must be between 10s and 1h"),
            ),
        };
        finish(v)?;
        Ok(Self {
            cluster_id: cluster_id.unwrap(),
            window_ms: window.unwrap(),
        })
    }
}

impl TryFrom<&pb::WatchMetricsRequest> for WatchFilter {
    type Error = ApiError;

    fn try_from(r: &pb::WatchMetricsRequest) -> Result<Self, ApiError> {
        let mut v = Violations::new();
        let cluster_id = v.check("cluster_id", Id::parse(&r.cluster_id));
        let droplet_id = optional_id(&mut v, "droplet_id", &r.droplet_id);
        let metrics = v.check("metrics", wire::metrics(&r.metrics));
        finish(v)?;
        Ok(Self {
            cluster_id: cluster_id.unwrap().to_string(),
            droplet_id: droplet_id.unwrap().map(|d| d.to_string()),
            metrics: metrics.unwrap(),
        })
    }
}

#[tonic::async_trait]
impl<S: MetricStore + Clone> pb::metrics_service_server::MetricsService for Api<S> {
    #[tracing::instrument(skip_all, fields(cluster_id = %req.get_ref().cluster_id))]
    async fn query_metrics(
        &self,
        req: Request<pb::QueryMetricsRequest>,
    ) -> Result<Response<pb::QueryMetricsResponse>, Status> {
        let now = now_millis();
        let r = req.get_ref();
        let q = query(r, now)?;
        let page = self.0.query(&q, now).await?;
        let key = page_key(r, q.start_ms, q.end_ms, q.step);
        Ok(Response::new(pb::QueryMetricsResponse {
            next_page_token: page.next_token(&key),
            series: page.items.into_iter().map(wire::series).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(cluster_id = %req.get_ref().cluster_id))]
    async fn get_cluster_summary(
        &self,
        req: Request<pb::GetClusterSummaryRequest>,
    ) -> Result<Response<pb::GetClusterSummaryResponse>, Status> {
        let r = SummaryRequest::try_from(req.get_ref())?;
        let summary = self
            .0
            .summary(r.cluster_id.as_str(), r.window_ms, now_millis())
            .await?;
        Ok(Response::new(pb::GetClusterSummaryResponse {
            summary: Some(wire::summary(summary)),
        }))
    }

    #[tracing::instrument(skip_all, fields(cluster_id = %req.get_ref().cluster_id))]
    async fn watch_metrics(
        &self,
        req: Request<pb::WatchMetricsRequest>,
    ) -> Result<Response<BoxStream<pb::WatchMetricsResponse>>, Status> {
        let filter = WatchFilter::try_from(req.get_ref())?;
        let stream = self.0.watch(filter).map(|r| {
            r.map(|series| pb::WatchMetricsResponse {
                series: series.into_iter().map(wire::series).collect(),
            })
            .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The activity log's adapter.
pub struct ActivityApi<S>(pub crate::activity::ActivityLog<S>);

/// A parsed ListActivity: which entries, and which page of them.
pub struct ListActivity {
    pub filter: activity::Filter,
    pub page: PageRequest,
}

impl TryFrom<&pb::ListActivityRequest> for ListActivity {
    type Error = ApiError;

    fn try_from(r: &pb::ListActivityRequest) -> Result<Self, ApiError> {
        let mut v = Violations::new();
        let cluster_id = optional_id(&mut v, "cluster_id", &r.cluster_id);
        let droplet_id = optional_id(&mut v, "droplet_id", &r.droplet_id);
        let job_id = optional_id(&mut v, "job_id", &r.job_id);
        let min_severity = v.check("min_severity", wire::severity(r.min_severity));
        let start = time(&mut v, "start_time", r.start_time.as_ref());
        let end = time(&mut v, "end_time", r.end_time.as_ref());
        if let (Some(Some(s)), Some(Some(e))) = (start, end)
            && s >= e
        {
            v.add("start_time", "must be before end_time");
        }
        let word = |v: &mut Violations, field: &str, raw: &str, max: usize| {
            if raw.len() > max
                || !raw
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            {
                v.add(field, format!("must be at most {max} of [a-z0-9._-]"));
            }
            (!raw.is_empty()).then(|| raw.to_string())
        };
        let kind = word(&mut v, "kind", &r.kind, 64);
        let source = word(&mut v, "source", &r.source, 32);
        if r.text.chars().count() > 100 {
            v.add("text", "must be at most 100 characters");
        }
        let filter = activity::Filter {
            cluster_id: cluster_id.clone().flatten().map(|i| i.to_string()),
            kind,
            min_severity: min_severity.flatten(),
            source,
            droplet_id: droplet_id.clone().flatten().map(|i| i.to_string()),
            job_id: job_id.clone().flatten().map(|i| i.to_string()),
            start_ms: start.flatten(),
            end_ms: end.flatten(),
            text: (!r.text.is_empty()).then(|| r.text.to_lowercase()),
        };
        let page = PageRequest::parse(&mut v, r.page_size, &r.page_token, &filter.key(), PAGES);
        finish(v)?;
        Ok(Self {
            filter,
            page: page.unwrap(),
        })
    }
}

impl TryFrom<&pb::StreamActivityRequest> for activity::StreamFilter {
    type Error = ApiError;

    fn try_from(r: &pb::StreamActivityRequest) -> Result<Self, ApiError> {
        let mut v = Violations::new();
        let cluster_id = optional_id(&mut v, "cluster_id", &r.cluster_id);
        let min_severity = v.check("min_severity", wire::severity(r.min_severity));
        let since = if r.since.is_empty() {
            Some(None)
        } else {
            v.check("since", activity::parse_cursor(&r.since)).map(Some)
        };
        finish(v)?;
        Ok(Self {
            cluster_id: cluster_id.flatten().map(|i| i.to_string()),
            min_severity: min_severity.flatten(),
            since: since.flatten(),
        })
    }
}

#[tonic::async_trait]
impl<S: ActivityStore + Clone> pb::activity_service_server::ActivityService for ActivityApi<S> {
    #[tracing::instrument(skip_all)]
    async fn list_activity(
        &self,
        req: Request<pb::ListActivityRequest>,
    ) -> Result<Response<pb::ListActivityResponse>, Status> {
        let ListActivity { filter, page } = ListActivity::try_from(req.get_ref())?;
        let found = self.0.list(&filter, &page).await?;
        Ok(Response::new(pb::ListActivityResponse {
            next_page_token: found.next_token(&filter.key()),
            entries: found.items.into_iter().map(wire::entry).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(cluster_id = %req.get_ref().cluster_id, since = %req.get_ref().since))]
    async fn stream_activity(
        &self,
        req: Request<pb::StreamActivityRequest>,
    ) -> Result<Response<BoxStream<pb::StreamActivityResponse>>, Status> {
        let filter = activity::StreamFilter::try_from(req.get_ref())?;
        let stream = self.0.stream(filter).await?.map(|r| {
            r.map(|e| pb::StreamActivityResponse {
                entry: Some(wire::entry(e)),
            })
            .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
