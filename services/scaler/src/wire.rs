//! The protobuf forms of the scaler's domain types, in one place.

use cg_runtime::time::{duration, timestamp};
use clustergenie_proto::{events::v1 as ev, monitoring::v1 as mpb, scaler::v1 as pb};

use crate::{
    decision::Decision,
    hpa::{Action, Metric, Reason, Recommendation},
    policy::{Policy, ScheduleSpec},
    repo::ClusterState,
};

/// A sample's value of `m`.
pub fn sample_value(m: Metric, s: &ev::MetricSample) -> f64 {
    match m {
        Metric::CpuPercent => s.cpu_percent,
        Metric::MemoryPercent => s.memory_percent,
        Metric::DiskPercent => s.disk_percent,
        Metric::NetworkInMbps => s.network_in_mbps,
        Metric::NetworkOutMbps => s.network_out_mbps,
        Metric::Load1m => s.load_1m,
    }
}

impl From<Metric> for mpb::MetricKind {
    fn from(m: Metric) -> Self {
        match m {
            Metric::CpuPercent => Self::CpuPercent,
            Metric::MemoryPercent => Self::MemoryPercent,
            Metric::DiskPercent => Self::DiskPercent,
            Metric::NetworkInMbps => Self::NetworkInMbps,
            Metric::NetworkOutMbps => Self::NetworkOutMbps,
            Metric::Load1m => Self::Load1m,
        }
    }
}

/// The metric a request names; `Err` says why it names none.
pub fn metric(raw: i32) -> Result<Metric, String> {
    let kind = mpb::MetricKind::try_from(raw).map_err(|_| format!("unknown metric kind {raw}"))?;
    Metric::ALL
        .into_iter()
        .find(|m| mpb::MetricKind::from(*m) == kind)
        .ok_or_else(|| "must name a metric".to_string())
}

impl From<Action> for pb::ScaleAction {
    fn from(a: Action) -> Self {
        match a {
            Action::None => Self::None,
            Action::ScaleUp => Self::ScaleUp,
            Action::ScaleDown => Self::ScaleDown,
        }
    }
}

/// The action a filter names; unspecified is none.
pub fn action(raw: i32) -> Result<Option<Action>, String> {
    match pb::ScaleAction::try_from(raw) {
        Ok(pb::ScaleAction::Unspecified) => Ok(None),
        Ok(pb::ScaleAction::None) => Ok(Some(Action::None)),
        Ok(pb::ScaleAction::ScaleUp) => Ok(Some(Action::ScaleUp)),
        Ok(pb::ScaleAction::ScaleDown) => Ok(Some(Action::ScaleDown)),
        Err(_) => Err(format!("unknown scale action {raw}")),
    }
}

impl From<Reason> for pb::DecisionReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::WithinTolerance => Self::WithinTolerance,
            Reason::StabilizationWindow => Self::StabilizationWindow,
            Reason::MetricsMissing => Self::MetricsMissing,
            Reason::ScaleUpRateLimited => Self::ScaleUpRateLimited,
            Reason::AtMinDroplets => Self::AtMinDroplets,
            Reason::AtMaxDroplets => Self::AtMaxDroplets,
            Reason::JobInProgress => Self::JobInProgress,
            Reason::ScheduleActive => Self::ScheduleActive,
            Reason::CostCap => Self::CostCap,
        }
    }
}

fn millis_duration(ms: i64) -> prost_types::Duration {
    duration(std::time::Duration::from_millis(
        u64::try_from(ms).unwrap_or(0),
    ))
}

pub fn schedule(s: &ScheduleSpec) -> pb::Schedule {
    pb::Schedule {
        cron: s.cron.clone(),
        time_zone: s.time_zone.clone(),
        duration: Some(millis_duration(s.duration_ms)),
        min_droplets: s.min.map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX)),
        max_droplets: s.max.map_or(0, |n| i32::try_from(n).unwrap_or(i32::MAX)),
    }
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

pub fn policy(p: &Policy) -> pb::Policy {
    let s = &p.spec;
    pb::Policy {
        id: p.id.clone(),
        cluster_id: p.cluster_id.clone(),
        name: s.name.as_str().to_string(),
        metric: mpb::MetricKind::from(s.metric) as i32,
        target_value: s.target,
        min_droplets: count(s.min),
        max_droplets: count(s.max),
        size: s.size.clone(),
        image: s.image.clone(),
        scale_up_stabilization: Some(millis_duration(s.up_window_ms)),
        scale_down_stabilization: Some(millis_duration(s.down_window_ms)),
        enabled: s.enabled,
        create_time: Some(timestamp(p.created_at)),
        update_time: Some(timestamp(p.updated_at)),
        schedules: s.schedules.iter().map(schedule).collect(),
    }
}

fn recommendation(r: &Recommendation) -> pb::PolicyRecommendation {
    pb::PolicyRecommendation {
        policy_id: r.policy_id.clone(),
        metric: mpb::MetricKind::from(r.metric) as i32,
        current_value: r.current_value.unwrap_or(0.0),
        target_value: r.target,
        raw_desired: count(r.raw_desired),
        desired: count(r.desired),
        metrics_missing: r.metrics_missing,
    }
}

pub fn decision(d: &Decision) -> pb::Decision {
    let mut reasons: Vec<i32> = d
        .reasons
        .iter()
        .map(|r| pb::DecisionReason::from(*r) as i32)
        .collect();
    if d.dry_run {
        reasons.push(pb::DecisionReason::DryRun as i32);
    }
    pb::Decision {
        id: d.id.clone(),
        cluster_id: d.cluster_id.clone(),
        policy_ids: d.policy_ids.clone(),
        current_droplets: count(d.current),
        recommendations: d.recommendations.iter().map(recommendation).collect(),
        winning_policy_id: d.winner.clone().unwrap_or_default(),
        desired_droplets: count(d.desired),
        action: pb::ScaleAction::from(d.action) as i32,
        explanation: d.explanation.clone(),
        reasons,
        job_id: d.job_id.clone().unwrap_or_default(),
        dry_run: d.dry_run,
        create_time: Some(timestamp(d.created_at)),
        removed_droplet_ids: d.removed_droplet_ids.clone(),
    }
}

pub fn scaling(s: &ClusterState) -> pb::ClusterScaling {
    pb::ClusterScaling {
        cluster_id: s.cluster_id.clone(),
        monthly_cost_cap_cents: s.monthly_cost_cap_cents,
        update_time: (s.updated_at > 0).then(|| timestamp(s.updated_at)),
    }
}
