//! The thin tonic adapter: requests are parsed into domain types (every
//! bad field at once), the service does the work, and the runtime's one
//! table turns failures into statuses.

use cg_runtime::{
    ApiError,
    page::PageRequest,
    time::{duration_millis, now_millis},
    types::{Id, RequestId},
    validate::Violations,
};
use clustergenie_proto::scaler::v1 as pb;
use futures::StreamExt as _;
use tonic::{Request, Response, Status, codegen::BoxStream};

use crate::{
    policy::{RawSpec, ScheduleSpec},
    repo::{DecisionFilter, ScalerStore},
    service::{PolicyPatch, Scaler},
    wire,
};

const PAGES: (u32, u32) = (50, 1000);

/// The paths UpdatePolicy's mask may name.
const PATHS: [&str; 11] = [
    "name",
    "metric",
    "target_value",
    "min_droplets",
    "max_droplets",
    "size",
    "image",
    "scale_up_stabilization",
    "scale_down_stabilization",
    "enabled",
    "schedules",
];

/// The scaler's adapter.
pub struct Api<S>(pub Scaler<S>);

fn finish(v: Violations) -> Result<(), ApiError> {
    v.into_result().map_err(ApiError::InvalidArgument)
}

fn required_id(raw: &str, field: &str) -> Result<Id, ApiError> {
    let mut v = Violations::new();
    let id = v.check(field, Id::parse(raw));
    finish(v)?;
    Ok(id.expect("checked"))
}

/// An optional id: empty is none.
fn optional_id(v: &mut Violations, field: &str, raw: &str) -> Option<Option<Id>> {
    if raw.is_empty() {
        Some(None)
    } else {
        v.check(field, Id::parse(raw)).map(Some)
    }
}

/// A window: unset is the default (`None`); a malformed one is a violation.
fn window(v: &mut Violations, field: &str, raw: Option<&prost_types::Duration>) -> Option<i64> {
    let d = raw?;
    v.check(
        field,
        duration_millis(d).ok_or("must be a non-negative duration"),
    )
}

fn bound(raw: i32) -> Option<u32> {
    u32::try_from(raw).ok().filter(|n| *n > 0)
}

fn schedules(v: &mut Violations, raw: &[pb::Schedule]) -> Vec<ScheduleSpec> {
    raw.iter()
        .enumerate()
        .map(|(i, s)| {
            let duration_ms = match s.duration.as_ref().map(duration_millis) {
                Some(Some(ms)) => ms,
                _ => {
                    v.add(
                        format!("schedules[{i}].duration"),
                        "must be a duration of 1 min – 7 days",
                    );
                    0
                }
            };
            for (field, n) in [
                ("min_droplets", s.min_droplets),
                ("max_droplets", s.max_droplets),
            ] {
                if n < 0 {
                    v.add(format!("schedules[{i}].{field}"), "must not be negative");
                }
            }
            ScheduleSpec {
                cron: s.cron.trim().to_string(),
                time_zone: s.time_zone.trim().to_string(),
                duration_ms,
                min: bound(s.min_droplets),
                max: bound(s.max_droplets),
            }
        })
        .collect()
}

/// The fields a create or an update may set, before they are checked together.
#[allow(clippy::too_many_arguments)]
fn raw_spec(
    v: &mut Violations,
    name: &str,
    metric: i32,
    target: f64,
    (min, max): (i32, i32),
    (size, image): (&str, &str),
    (up, down): (
        Option<&prost_types::Duration>,
        Option<&prost_types::Duration>,
    ),
    raw_schedules: &[pb::Schedule],
    enabled: bool,
) -> RawSpec {
    let metric = if metric == 0 {
        None
    } else {
        v.check("metric", wire::metric(metric))
    };
    RawSpec {
        name: name.trim().to_string(),
        metric,
        target,
        min: i64::from(min),
        max: i64::from(max),
        size: size.to_string(),
        image: image.to_string(),
        up_window_ms: window(v, "scale_up_stabilization", up),
        down_window_ms: window(v, "scale_down_stabilization", down),
        schedules: schedules(v, raw_schedules),
        enabled,
    }
}

#[tonic::async_trait]
impl<S: ScalerStore> pb::scaler_service_server::ScalerService for Api<S> {
    #[tracing::instrument(skip_all, fields(cluster = %req.get_ref().cluster_id))]
    async fn create_policy(
        &self,
        req: Request<pb::CreatePolicyRequest>,
    ) -> Result<Response<pb::CreatePolicyResponse>, Status> {
        let r = req.into_inner();
        let mut v = Violations::new();
        let cluster = v.check("cluster_id", Id::parse(&r.cluster_id));
        let request_id = v.check("request_id", RequestId::parse(&r.request_id));
        let raw = raw_spec(
            &mut v,
            &r.name,
            r.metric,
            r.target_value,
            (r.min_droplets, r.max_droplets),
            (&r.size, &r.image),
            (
                r.scale_up_stabilization.as_ref(),
                r.scale_down_stabilization.as_ref(),
            ),
            &r.schedules,
            r.enabled,
        );
        finish(v)?;
        let policy = self
            .0
            .create_policy(
                &cluster.expect("checked"),
                raw,
                request_id.flatten(),
                now_millis(),
            )
            .await?;
        Ok(Response::new(pb::CreatePolicyResponse {
            policy: Some(wire::policy(&policy)),
        }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn get_policy(
        &self,
        req: Request<pb::GetPolicyRequest>,
    ) -> Result<Response<pb::GetPolicyResponse>, Status> {
        let policy = self
            .0
            .policy(&required_id(&req.get_ref().id, "id")?)
            .await?;
        Ok(Response::new(pb::GetPolicyResponse {
            policy: Some(wire::policy(&policy)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_policies(
        &self,
        req: Request<pb::ListPoliciesRequest>,
    ) -> Result<Response<pb::ListPoliciesResponse>, Status> {
        let r = req.get_ref();
        let mut v = Violations::new();
        let cluster = optional_id(&mut v, "cluster_id", &r.cluster_id);
        let page = PageRequest::parse(&mut v, r.page_size, &r.page_token, &r.cluster_id, PAGES);
        finish(v)?;
        let found = self
            .0
            .policies(cluster.flatten().as_ref(), &page.expect("checked"))
            .await?;
        Ok(Response::new(pb::ListPoliciesResponse {
            next_page_token: found.next_token(&r.cluster_id),
            policies: found.items.iter().map(wire::policy).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_policy(
        &self,
        req: Request<pb::UpdatePolicyRequest>,
    ) -> Result<Response<pb::UpdatePolicyResponse>, Status> {
        let r = req.into_inner();
        let mut v = Violations::new();
        // A missing policy reads as one without an id: `policy.id` says so.
        let p = r.policy.unwrap_or_default();
        let id = v.check("policy.id", Id::parse(&p.id));
        let paths = r.update_mask.map(|m| m.paths).unwrap_or_default();
        if paths.is_empty() {
            v.add("update_mask", "must name at least one field");
        }
        for path in &paths {
            if path == "cluster_id" {
                v.add("update_mask", "cluster_id cannot change");
            } else if !PATHS.contains(&path.as_str()) {
                v.add("update_mask", format!("unknown path {path:?}"));
            }
        }
        let values = raw_spec(
            &mut v,
            &p.name,
            p.metric,
            p.target_value,
            (p.min_droplets, p.max_droplets),
            (&p.size, &p.image),
            (
                p.scale_up_stabilization.as_ref(),
                p.scale_down_stabilization.as_ref(),
            ),
            &p.schedules,
            p.enabled,
        );
        finish(v)?;
        let policy = self
            .0
            .update_policy(
                &id.expect("checked"),
                PolicyPatch { paths, values },
                now_millis(),
            )
            .await?;
        Ok(Response::new(pb::UpdatePolicyResponse {
            policy: Some(wire::policy(&policy)),
        }))
    }

    #[tracing::instrument(skip_all, fields(id = %req.get_ref().id))]
    async fn delete_policy(
        &self,
        req: Request<pb::DeletePolicyRequest>,
    ) -> Result<Response<pb::DeletePolicyResponse>, Status> {
        self.0
            .delete_policy(&required_id(&req.get_ref().id, "id")?)
            .await?;
        Ok(Response::new(pb::DeletePolicyResponse {}))
    }

    #[tracing::instrument(skip_all, fields(cluster = %req.get_ref().cluster_id))]
    async fn get_cluster_scaling(
        &self,
        req: Request<pb::GetClusterScalingRequest>,
    ) -> Result<Response<pb::GetClusterScalingResponse>, Status> {
        let cluster = required_id(&req.get_ref().cluster_id, "cluster_id")?;
        let state = self.0.cluster_scaling(&cluster).await?;
        Ok(Response::new(pb::GetClusterScalingResponse {
            scaling: Some(wire::scaling(&state)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_cluster_scaling(
        &self,
        req: Request<pb::UpdateClusterScalingRequest>,
    ) -> Result<Response<pb::UpdateClusterScalingResponse>, Status> {
        let s = req.into_inner().scaling.unwrap_or_default();
        let mut v = Violations::new();
        let cluster = v.check("scaling.cluster_id", Id::parse(&s.cluster_id));
        if s.monthly_cost_cap_cents < 0 {
            v.add(
                "scaling.monthly_cost_cap_cents",
                "must not be negative (0 means no cap)",
            );
        }
        finish(v)?;
        let state = self
            .0
            .set_cost_cap(
                &cluster.expect("checked"),
                s.monthly_cost_cap_cents,
                now_millis(),
            )
            .await?;
        Ok(Response::new(pb::UpdateClusterScalingResponse {
            scaling: Some(wire::scaling(&state)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_decisions(
        &self,
        req: Request<pb::ListDecisionsRequest>,
    ) -> Result<Response<pb::ListDecisionsResponse>, Status> {
        let r = req.get_ref();
        let mut v = Violations::new();
        let cluster = optional_id(&mut v, "cluster_id", &r.cluster_id);
        let policy = optional_id(&mut v, "policy_id", &r.policy_id);
        let action = v.check("action", wire::action(r.action));
        let key = format!("{}|{}|{}", r.cluster_id, r.policy_id, r.action);
        let page = PageRequest::parse(&mut v, r.page_size, &r.page_token, &key, PAGES);
        finish(v)?;
        let filter = DecisionFilter {
            cluster_id: cluster.flatten().map(|c| c.as_str().to_string()),
            policy_id: policy.flatten().map(|p| p.as_str().to_string()),
            action: action.flatten().map(|a| a.as_str().to_string()),
        };
        let found = self.0.decisions(&filter, &page.expect("checked")).await?;
        Ok(Response::new(pb::ListDecisionsResponse {
            next_page_token: found.next_token(&key),
            decisions: found.items.iter().map(wire::decision).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn watch_decisions(
        &self,
        req: Request<pb::WatchDecisionsRequest>,
    ) -> Result<Response<BoxStream<pb::WatchDecisionsResponse>>, Status> {
        let mut v = Violations::new();
        let cluster = optional_id(&mut v, "cluster_id", &req.get_ref().cluster_id);
        finish(v)?;
        let stream = self
            .0
            .watch(cluster.flatten().map(|c| c.as_str().to_string()))
            .map(|r| {
                r.map(|d| pb::WatchDecisionsResponse {
                    decision: Some(wire::decision(&d)),
                })
                .map_err(Status::from)
            });
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(skip_all, fields(cluster = %req.get_ref().cluster_id, dry_run = req.get_ref().dry_run))]
    async fn evaluate_now(
        &self,
        req: Request<pb::EvaluateNowRequest>,
    ) -> Result<Response<pb::EvaluateNowResponse>, Status> {
        let r = req.get_ref();
        let cluster = required_id(&r.cluster_id, "cluster_id")?;
        let decision = self
            .0
            .evaluate_now(&cluster, r.dry_run, now_millis())
            .await?;
        Ok(Response::new(pb::EvaluateNowResponse {
            decision: Some(wire::decision(&decision)),
        }))
    }
}
