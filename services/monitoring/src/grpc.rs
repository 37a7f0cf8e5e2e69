//! The thin tonic adapter: requests are parsed into domain types (every
//! bad field at once), the service does the work, and the runtime's one
//! table turns failures into statuses.

use cg_runtime::{
    ApiError,
    page::PageRequest,
    time::{duration_millis, millis_of, now_millis},
    types::{Id, RequestId},
    validate::Violations,
};
use clustergenie_proto::monitoring::v1 as pb;
use futures::StreamExt as _;
use tonic::{Request, Response, Status, codegen::BoxStream};

use crate::{
    activity, alerts,
    domain::{HOUR_MS, MINUTE_MS, MetricQuery, SECOND_MS, Step},
    health,
    repo::{ActivityStore, AlertStore, HealthStore, MetricStore},
    service::{Metrics, WatchFilter},
    wire,
};

const PAGES: (u32, u32) = (50, 1000);

/// The metrics adapter; summaries count unhealthy droplets from the checks.
pub struct Api<S, H>(pub Metrics<S>, pub health::HealthChecks<H>);

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
impl<S: MetricStore + Clone, H: HealthStore + Clone> pb::metrics_service_server::MetricsService
    for Api<S, H>
{
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
        let unhealthy = self
            .1
            .store()
            .unhealthy_droplets(r.cluster_id.as_str())
            .await?;
        Ok(Response::new(pb::GetClusterSummaryResponse {
            summary: Some(wire::summary(summary, unhealthy)),
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

/// The health checks' adapter.
pub struct HealthApi<H>(pub health::HealthChecks<H>);

fn optional_millis(
    v: &mut Violations,
    field: &str,
    raw: Option<&prost_types::Duration>,
    parse: fn(Option<i64>) -> Result<i64, String>,
) -> Option<i64> {
    let ms = match raw {
        None => None,
        Some(d) => match duration_millis(d) {
            Some(ms) => Some(ms),
            None => {
                v.add(field, "must not be negative");
                return None;
            }
        },
    };
    v.check(field, parse(ms))
}

fn check_id(raw: &str, field: &str) -> Result<Id, ApiError> {
    Id::parse(raw).map_err(|e| ApiError::invalid(field, e))
}

impl TryFrom<pb::CreateHealthCheckRequest> for health::NewCheck {
    type Error = ApiError;

    fn try_from(r: pb::CreateHealthCheckRequest) -> Result<Self, ApiError> {
        let mut v = Violations::new();
        let cluster_id = v.check("cluster_id", Id::parse(&r.cluster_id));
        let name = v.check("name", health::CheckName::parse(&r.name));
        let kind = match v.check("kind", wire::check_kind(r.kind)) {
            Some(None) => {
                v.add("kind", "must be HTTP, TCP or PING");
                None
            }
            other => other.flatten(),
        };
        let port = v.check("port", health::port(r.port));
        let path = v.check("path", health::path(&r.path));
        let interval = optional_millis(&mut v, "interval", r.interval.as_ref(), health::interval);
        let timeout = optional_millis(&mut v, "timeout", r.timeout.as_ref(), health::timeout);
        let unhealthy = v.check(
            "unhealthy_threshold",
            health::Threshold::parse(r.unhealthy_threshold, 3),
        );
        let healthy = v.check(
            "healthy_threshold",
            health::Threshold::parse(r.healthy_threshold, 2),
        );
        let request_id = v.check("request_id", RequestId::parse(&r.request_id));
        finish(v)?;
        Ok(Self {
            cluster_id: cluster_id.unwrap(),
            name: name.unwrap(),
            kind: kind.unwrap(),
            port: port.unwrap(),
            path: path.unwrap(),
            interval_ms: interval.unwrap(),
            timeout_ms: timeout.unwrap(),
            unhealthy_threshold: unhealthy.unwrap(),
            healthy_threshold: healthy.unwrap(),
            request_id: request_id.unwrap(),
        })
    }
}

/// An UpdateHealthCheck: which check, and what its mask changes.
pub struct UpdateCheck {
    pub id: Id,
    pub update: health::CheckUpdate,
}

impl TryFrom<&pb::UpdateHealthCheckRequest> for UpdateCheck {
    type Error = ApiError;

    fn try_from(r: &pb::UpdateHealthCheckRequest) -> Result<Self, ApiError> {
        let mut v = Violations::new();
        let Some(c) = &r.health_check else {
            return Err(ApiError::invalid("health_check", "is required"));
        };
        let id = v.check("health_check.id", Id::parse(&c.id));
        let paths = r
            .update_mask
            .as_ref()
            .map(|m| m.paths.as_slice())
            .unwrap_or_default();
        if paths.is_empty() {
            v.add("update_mask", "must name at least one field");
        }
        let mut u = health::CheckUpdate::default();
        for p in paths {
            let field = format!("health_check.{p}");
            match p.as_str() {
                "name" => u.name = v.check(&field, health::CheckName::parse(&c.name)),
                "port" => u.port = v.check(&field, health::port(c.port)),
                "path" => u.path = v.check(&field, health::path(&c.path)),
                "interval" => {
                    u.interval_ms =
                        optional_millis(&mut v, &field, c.interval.as_ref(), health::interval);
                }
                "timeout" => {
                    u.timeout_ms =
                        optional_millis(&mut v, &field, c.timeout.as_ref(), health::timeout);
                }
                "unhealthy_threshold" => {
                    u.unhealthy_threshold =
                        v.check(&field, health::Threshold::parse(c.unhealthy_threshold, 3));
                }
                "healthy_threshold" => {
                    u.healthy_threshold =
                        v.check(&field, health::Threshold::parse(c.healthy_threshold, 2));
                }
                "enabled" => u.enabled = Some(c.enabled),
                "kind" | "cluster_id" => v.add("update_mask", format!("{p} cannot be changed")),
                other => v.add("update_mask", format!("unknown field {other:?}")),
            }
        }
        finish(v)?;
        Ok(Self {
            id: id.unwrap(),
            update: u,
        })
    }
}

#[tonic::async_trait]
impl<H: HealthStore + Clone> pb::health_check_service_server::HealthCheckService for HealthApi<H> {
    #[tracing::instrument(skip_all, fields(cluster_id = %req.get_ref().cluster_id))]
    async fn create_health_check(
        &self,
        req: Request<pb::CreateHealthCheckRequest>,
    ) -> Result<Response<pb::CreateHealthCheckResponse>, Status> {
        let new = health::NewCheck::try_from(req.into_inner())?;
        let created = self.0.create(new, now_millis()).await?;
        Ok(Response::new(pb::CreateHealthCheckResponse {
            health_check: Some(wire::check(created, Vec::new())),
        }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn get_health_check(
        &self,
        req: Request<pb::GetHealthCheckRequest>,
    ) -> Result<Response<pb::GetHealthCheckResponse>, Status> {
        let (c, verdicts) = self.0.get(&check_id(&req.get_ref().id, "id")?).await?;
        Ok(Response::new(pb::GetHealthCheckResponse {
            health_check: Some(wire::check(c, verdicts)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_health_checks(
        &self,
        req: Request<pb::ListHealthChecksRequest>,
    ) -> Result<Response<pb::ListHealthChecksResponse>, Status> {
        let r = req.get_ref();
        let mut v = Violations::new();
        let cluster = optional_id(&mut v, "cluster_id", &r.cluster_id);
        let kind = v.check("kind", wire::check_kind(r.kind));
        let key = format!("{}|{}", r.cluster_id, r.kind);
        let page = PageRequest::parse(&mut v, r.page_size, &r.page_token, &key, PAGES);
        finish(v)?;
        let cluster = cluster.flatten().map(|c| c.to_string());
        let found = self
            .0
            .list(cluster.as_deref(), kind.flatten(), &page.unwrap())
            .await?;
        Ok(Response::new(pb::ListHealthChecksResponse {
            next_page_token: found.next_token(&key),
            health_checks: found
                .items
                .into_iter()
                .map(|(c, verdicts)| wire::check(c, verdicts))
                .collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_health_check(
        &self,
        req: Request<pb::UpdateHealthCheckRequest>,
    ) -> Result<Response<pb::UpdateHealthCheckResponse>, Status> {
        let UpdateCheck { id, update } = UpdateCheck::try_from(req.get_ref())?;
        let updated = self.0.update(&id, &update, now_millis()).await?;
        let (c, verdicts) = self.0.get(&id).await.unwrap_or((updated, Vec::new()));
        Ok(Response::new(pb::UpdateHealthCheckResponse {
            health_check: Some(wire::check(c, verdicts)),
        }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn delete_health_check(
        &self,
        req: Request<pb::DeleteHealthCheckRequest>,
    ) -> Result<Response<pb::DeleteHealthCheckResponse>, Status> {
        self.0.delete(&check_id(&req.get_ref().id, "id")?).await?;
        Ok(Response::new(pb::DeleteHealthCheckResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn list_health_results(
        &self,
        req: Request<pb::ListHealthResultsRequest>,
    ) -> Result<Response<pb::ListHealthResultsResponse>, Status> {
        let r = req.get_ref();
        let mut v = Violations::new();
        let check = optional_id(&mut v, "check_id", &r.check_id);
        let cluster = optional_id(&mut v, "cluster_id", &r.cluster_id);
        let droplet = optional_id(&mut v, "droplet_id", &r.droplet_id);
        let start = time(&mut v, "start_time", r.start_time.as_ref());
        let end = time(&mut v, "end_time", r.end_time.as_ref());
        if let (Some(Some(s)), Some(Some(e))) = (start, end)
            && s >= e
        {
            v.add("start_time", "must be before end_time");
        }
        let filter = health::ResultFilter {
            check_id: check.flatten().map(|i| i.to_string()),
            cluster_id: cluster.flatten().map(|i| i.to_string()),
            droplet_id: droplet.flatten().map(|i| i.to_string()),
            unhealthy_only: r.unhealthy_only,
            start_ms: start.flatten(),
            end_ms: end.flatten(),
        };
        let page = PageRequest::parse(&mut v, r.page_size, &r.page_token, &filter.key(), PAGES);
        finish(v)?;
        let found = self.0.results(&filter, &page.unwrap()).await?;
        Ok(Response::new(pb::ListHealthResultsResponse {
            next_page_token: found.next_token(&filter.key()),
            results: found.items.into_iter().map(wire::health_result).collect(),
        }))
    }
}

/// The alerts' adapter.
pub struct AlertApi<A>(pub alerts::Alerts<A>);

impl TryFrom<pb::CreateAlertRuleRequest> for alerts::NewRule {
    type Error = ApiError;

    fn try_from(r: pb::CreateAlertRuleRequest) -> Result<Self, ApiError> {
        let mut v = Violations::new();
        let cluster_id = v.check("cluster_id", Id::parse(&r.cluster_id));
        let name = v.check("name", alerts::RuleName::parse(&r.name));
        let metric = v.check("metric", wire::metric(r.metric));
        let comparison = v.check("comparison", wire::comparison(r.comparison));
        let threshold =
            metric.and_then(|m| v.check("threshold", alerts::threshold(m, r.threshold)));
        let for_ms = optional_millis(&mut v, "for", r.r#for.as_ref(), alerts::for_duration);
        let severity = v
            .check("severity", wire::severity(r.severity))
            .map(|s| s.unwrap_or(activity::Severity::Warning).into());
        let request_id = v.check("request_id", RequestId::parse(&r.request_id));
        finish(v)?;
        Ok(Self {
            cluster_id: cluster_id.unwrap(),
            name: name.unwrap(),
            metric: metric.unwrap(),
            comparison: comparison.unwrap(),
            threshold: threshold.unwrap(),
            for_ms: for_ms.unwrap(),
            severity: severity.unwrap(),
            request_id: request_id.unwrap(),
        })
    }
}

#[tonic::async_trait]
impl<A: AlertStore + Clone> pb::alert_service_server::AlertService for AlertApi<A> {
    #[tracing::instrument(skip_all, fields(cluster_id = %req.get_ref().cluster_id))]
    async fn create_alert_rule(
        &self,
        req: Request<pb::CreateAlertRuleRequest>,
    ) -> Result<Response<pb::CreateAlertRuleResponse>, Status> {
        let new = alerts::NewRule::try_from(req.into_inner())?;
        let rule = self.0.create(new, now_millis()).await?;
        Ok(Response::new(pb::CreateAlertRuleResponse {
            rule: Some(wire::rule(rule)),
        }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn get_alert_rule(
        &self,
        req: Request<pb::GetAlertRuleRequest>,
    ) -> Result<Response<pb::GetAlertRuleResponse>, Status> {
        let rule = self.0.get(&check_id(&req.get_ref().id, "id")?).await?;
        Ok(Response::new(pb::GetAlertRuleResponse {
            rule: Some(wire::rule(rule)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_alert_rules(
        &self,
        req: Request<pb::ListAlertRulesRequest>,
    ) -> Result<Response<pb::ListAlertRulesResponse>, Status> {
        let r = req.get_ref();
        let mut v = Violations::new();
        let cluster = optional_id(&mut v, "cluster_id", &r.cluster_id);
        let page = PageRequest::parse(&mut v, r.page_size, &r.page_token, &r.cluster_id, PAGES);
        finish(v)?;
        let cluster = cluster.flatten().map(|c| c.to_string());
        let found = self.0.list(cluster.as_deref(), &page.unwrap()).await?;
        Ok(Response::new(pb::ListAlertRulesResponse {
            next_page_token: found.next_token(&r.cluster_id),
            rules: found.items.into_iter().map(wire::rule).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn delete_alert_rule(
        &self,
        req: Request<pb::DeleteAlertRuleRequest>,
    ) -> Result<Response<pb::DeleteAlertRuleResponse>, Status> {
        self.0
            .delete(&check_id(&req.get_ref().id, "id")?, now_millis())
            .await?;
        Ok(Response::new(pb::DeleteAlertRuleResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn list_alerts(
        &self,
        req: Request<pb::ListAlertsRequest>,
    ) -> Result<Response<pb::ListAlertsResponse>, Status> {
        let r = req.get_ref();
        let mut v = Violations::new();
        let cluster = optional_id(&mut v, "cluster_id", &r.cluster_id);
        let rule = optional_id(&mut v, "rule_id", &r.rule_id);
        let state = v.check("state", wire::alert_state(r.state));
        let filter = alerts::AlertFilter {
            cluster_id: cluster.flatten().map(|i| i.to_string()),
            rule_id: rule.flatten().map(|i| i.to_string()),
            state: state.flatten(),
        };
        let page = PageRequest::parse(&mut v, r.page_size, &r.page_token, &filter.key(), PAGES);
        finish(v)?;
        let found = self.0.alerts(&filter, &page.unwrap()).await?;
        Ok(Response::new(pb::ListAlertsResponse {
            next_page_token: found.next_token(&filter.key()),
            alerts: found.items.into_iter().map(wire::alert).collect(),
        }))
    }
}
