//! The protobuf forms of monitoring's domain types, in one place: events
//! in, answers out.

use cg_runtime::{
    time::{duration, millis_of, timestamp},
    types::{Id, clip},
};
use clustergenie_proto::{events::v1 as ev, monitoring::v1 as pb, provisioning::v1 as ppb};

use crate::{
    activity::{self, Entry, Severity},
    alerts::{self, Alert, Comparison, Rule},
    domain::{DropletStatus, Metric, Sample, Series, Summary},
    health::{self, Check, ClusterHealth, Kind, ResultRow, State, Verdict},
};

impl From<Metric> for pb::MetricKind {
    fn from(m: Metric) -> Self {
        match m {
            Metric::Cpu => Self::CpuPercent,
            Metric::Memory => Self::MemoryPercent,
            Metric::Disk => Self::DiskPercent,
            Metric::NetworkIn => Self::NetworkInMbps,
            Metric::NetworkOut => Self::NetworkOutMbps,
            Metric::Load1m => Self::Load1m,
        }
    }
}

impl From<DropletStatus> for ppb::DropletStatus {
    fn from(s: DropletStatus) -> Self {
        match s {
            DropletStatus::New => Self::New,
            DropletStatus::Active => Self::Active,
            DropletStatus::Off => Self::Off,
            DropletStatus::Archive => Self::Archive,
        }
    }
}

/// A requested set of metrics: empty means all; sorted, without repeats.
pub fn metrics(raw: &[i32]) -> Result<Vec<Metric>, String> {
    if raw.is_empty() {
        return Ok(Metric::ALL.to_vec());
    }
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let kind = pb::MetricKind::try_from(*r).map_err(|_| format!("unknown metric kind {r}"))?;
        let m = Metric::ALL
            .into_iter()
            .find(|m| pb::MetricKind::from(*m) == kind)
            .ok_or_else(|| "METRIC_KIND_UNSPECIFIED is not a metric".to_string())?;
        out.push(m);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The valid samples of a batch keyed by `key` (the cluster). A sample
/// with a bad id, another cluster, no time or a non-finite value is
/// dropped and counted: one bad droplet must not cost the rest.
pub fn samples(key: Option<&str>, batch: ev::MetricSamples) -> Vec<Sample> {
    let mut out = Vec::with_capacity(batch.samples.len());
    for s in batch.samples {
        match sample(key, s) {
            Ok(s) => out.push(s),
            Err(why) => {
                metrics::counter!("cg_monitoring_samples_rejected_total").increment(1);
                tracing::warn!(reason = why, "metric sample rejected");
            }
        }
    }
    out
}

fn sample(key: Option<&str>, s: ev::MetricSample) -> Result<Sample, &'static str> {
    let cluster = Id::parse(&s.cluster_id).map_err(|_| "cluster_id is not an id")?;
    if key.is_some_and(|k| k != cluster.as_str()) {
        return Err("cluster_id differs from the record key");
    }
    let droplet = Id::parse(&s.droplet_id).map_err(|_| "droplet_id is not an id")?;
    let time_ms = s
        .time
        .as_ref()
        .and_then(millis_of)
        .filter(|t| *t > 0)
        .ok_or("no valid time")?;
    let values = [
        s.cpu_percent,
        s.memory_percent,
        s.disk_percent,
        s.network_in_mbps,
        s.network_out_mbps,
        s.load_1m,
    ];
    if values.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err("a value is negative or not finite");
    }
    Ok(Sample {
        cluster_id: cluster.to_string(),
        droplet_id: droplet.to_string(),
        time_ms,
        values,
    })
}

/// (droplet, cluster, status, time) of a droplet event.
pub fn droplet_state(e: &ev::DropletEvent) -> Option<(String, String, DropletStatus, i64)> {
    let d = e.droplet.as_ref()?;
    let status = match ppb::DropletStatus::try_from(d.status).ok()? {
        ppb::DropletStatus::Unspecified => return None,
        ppb::DropletStatus::New => DropletStatus::New,
        ppb::DropletStatus::Active => DropletStatus::Active,
        ppb::DropletStatus::Off => DropletStatus::Off,
        ppb::DropletStatus::Archive => DropletStatus::Archive,
    };
    let at = e.time.as_ref().and_then(millis_of)?;
    let droplet = Id::parse(&d.id).ok()?;
    let cluster = Id::parse(&d.cluster_id).ok()?;
    Some((droplet.to_string(), cluster.to_string(), status, at))
}

pub fn series(s: Series) -> pb::MetricSeries {
    pb::MetricSeries {
        droplet_id: s.droplet_id,
        metric: pb::MetricKind::from(s.metric) as i32,
        points: s
            .points
            .into_iter()
            .map(|p| pb::MetricPoint {
                time: Some(timestamp(p.time_ms)),
                value: p.agg.average(),
                min: p.agg.min,
                max: p.agg.max,
                p95: p.agg.p95,
                count: p.agg.count,
            })
            .collect(),
    }
}

/// A summary, with the droplets failing a check (the health checks' count).
pub fn summary(s: Summary, unhealthy_droplets: i64) -> pb::ClusterSummary {
    pb::ClusterSummary {
        cluster_id: s.cluster_id,
        metrics: s
            .metrics
            .into_iter()
            .map(|(m, average, max, max_droplet_id)| pb::MetricSummary {
                metric: pb::MetricKind::from(m) as i32,
                average,
                max,
                max_droplet_id,
            })
            .collect(),
        droplet_counts: s
            .droplet_counts
            .into_iter()
            .map(|(status, count)| pb::DropletStatusCount {
                status: ppb::DropletStatus::from(status) as i32,
                count: i32::try_from(count).unwrap_or(i32::MAX),
            })
            .collect(),
        reporting_droplets: i32::try_from(s.reporting_droplets).unwrap_or(i32::MAX),
        unhealthy_droplets: i32::try_from(unhealthy_droplets).unwrap_or(i32::MAX),
        last_sample_time: s.last_sample_ms.map(timestamp),
        window: Some(duration(std::time::Duration::from_millis(
            u64::try_from(s.window_ms).unwrap_or_default(),
        ))),
    }
}

/// A severity filter: unspecified is none.
pub fn severity(raw: i32) -> Result<Option<Severity>, String> {
    match pb::ActivitySeverity::try_from(raw) {
        Ok(pb::ActivitySeverity::Unspecified) => Ok(None),
        Ok(s) => Ok(Severity::from_number(s as i64)),
        Err(_) => Err(format!("unknown severity {raw}")),
    }
}

/// An id field of an entry: empty, or an id.
fn optional_id(field: &str, raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Ok(String::new());
    }
    Id::parse(raw)
        .map(|id| id.to_string())
        .map_err(|e| format!("{field} {e}"))
}

/// A published entry, checked: the record's id (`ce-id`) is its id.
pub fn activity(event: &cg_runtime::kafka::Event, a: ev::Activity) -> Result<Entry, String> {
    let id = match event.event_id() {
        Some(id) if !id.is_empty() => id.to_string(),
        _ if !a.id.is_empty() => a.id.clone(),
        _ => return Err("an activity entry without an id".into()),
    };
    if id.len() > 64 {
        return Err("an activity id longer than 64 characters".into());
    }
    let time_ms = a
        .time
        .as_ref()
        .and_then(millis_of)
        .ok_or("an activity entry without a valid time")?;
    let label = |field: &str, v: &str, max: usize| -> Result<String, String> {
        if v.is_empty()
            || v.len() > max
            || !v.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-'
            })
        {
            Err(format!(
                "activity {field} {v:?} must be 1–{max} of [a-z0-9._-]"
            ))
        } else {
            Ok(v.to_string())
        }
    };
    let severity = match pb::ActivitySeverity::try_from(a.severity) {
        Ok(pb::ActivitySeverity::Unspecified) => Severity::Info,
        Ok(s) => Severity::from_number(s as i64).unwrap_or(Severity::Info),
        Err(_) => return Err(format!("unknown activity severity {}", a.severity)),
    };
    Ok(Entry {
        seq: 0,
        id,
        time_ms,
        cluster_id: optional_id("cluster_id", &a.cluster_id)?,
        source: label("source", &a.source, 32)?,
        kind: label("kind", &a.kind, 64)?,
        severity,
        message: clip(&a.message, 1024),
        droplet_id: optional_id("droplet_id", &a.droplet_id)?,
        job_id: optional_id("job_id", &a.job_id)?,
        diagnosis_id: optional_id("diagnosis_id", &a.diagnosis_id)?,
        decision_id: optional_id("decision_id", &a.decision_id)?,
        health_check_id: optional_id("health_check_id", &a.health_check_id)?,
        trace_id: clip(&a.trace_id, 32),
        attributes: a
            .attributes
            .into_iter()
            .take(32)
            .map(|(k, v)| (clip(&k, 64), clip(&v, 256)))
            .collect(),
    })
}

pub fn entry(e: Entry) -> pb::ActivityEntry {
    pb::ActivityEntry {
        id: e.id,
        cursor: activity::cursor(e.seq),
        time: Some(timestamp(e.time_ms)),
        cluster_id: e.cluster_id,
        source: e.source,
        kind: e.kind,
        severity: e.severity as i32,
        message: e.message,
        droplet_id: e.droplet_id,
        job_id: e.job_id,
        diagnosis_id: e.diagnosis_id,
        decision_id: e.decision_id,
        health_check_id: e.health_check_id,
        trace_id: e.trace_id,
        attributes: e.attributes.into_iter().collect(),
    }
}

impl From<State> for pb::HealthState {
    fn from(s: State) -> Self {
        match s {
            State::Unknown => Self::Unknown,
            State::Healthy => Self::Healthy,
            State::Unhealthy => Self::Unhealthy,
        }
    }
}

impl From<ClusterHealth> for ppb::ClusterHealth {
    fn from(h: ClusterHealth) -> Self {
        match h {
            ClusterHealth::Unknown => Self::Unknown,
            ClusterHealth::Healthy => Self::Healthy,
            ClusterHealth::Degraded => Self::Degraded,
            ClusterHealth::Unhealthy => Self::Unhealthy,
        }
    }
}

impl From<Kind> for pb::HealthCheckKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Tcp => Self::Tcp,
            Kind::Http => Self::Http,
            Kind::Ping => Self::Ping,
        }
    }
}

/// A check kind: required for a create (`Ok(None)` for unspecified).
pub fn check_kind(raw: i32) -> Result<Option<Kind>, String> {
    match pb::HealthCheckKind::try_from(raw) {
        Ok(pb::HealthCheckKind::Unspecified) => Ok(None),
        Ok(k) => Ok(Kind::ALL
            .into_iter()
            .find(|x| pb::HealthCheckKind::from(*x) == k)),
        Err(_) => Err(format!("unknown health check kind {raw}")),
    }
}

fn micros(us: i64) -> prost_types::Duration {
    duration(std::time::Duration::from_micros(
        u64::try_from(us).unwrap_or_default(),
    ))
}

fn millis_duration(ms: i64) -> prost_types::Duration {
    duration(std::time::Duration::from_millis(
        u64::try_from(ms).unwrap_or_default(),
    ))
}

pub fn check(c: Check, verdicts: Vec<Verdict>) -> pb::HealthCheck {
    pb::HealthCheck {
        id: c.id,
        cluster_id: c.cluster_id,
        name: c.name,
        kind: pb::HealthCheckKind::from(c.kind) as i32,
        port: i32::from(c.port),
        path: c.path,
        interval: Some(millis_duration(c.interval_ms)),
        timeout: Some(millis_duration(c.timeout_ms)),
        unhealthy_threshold: i32::try_from(c.unhealthy_threshold).unwrap_or(i32::MAX),
        healthy_threshold: i32::try_from(c.healthy_threshold).unwrap_or(i32::MAX),
        enabled: c.enabled,
        droplets: verdicts
            .into_iter()
            .map(|v| pb::DropletHealth {
                droplet_id: v.droplet_id,
                state: pb::HealthState::from(v.state) as i32,
                consecutive_failures: i32::try_from(v.consecutive_failures).unwrap_or(i32::MAX),
                consecutive_successes: i32::try_from(v.consecutive_successes).unwrap_or(i32::MAX),
                last_result_time: (v.last_result_ms > 0).then(|| timestamp(v.last_result_ms)),
                last_message: v.last_message,
            })
            .collect(),
        create_time: Some(timestamp(c.created_at)),
        update_time: Some(timestamp(c.updated_at)),
    }
}

pub fn health_result(r: ResultRow) -> pb::HealthResult {
    pb::HealthResult {
        id: r.id,
        check_id: r.check_id,
        cluster_id: r.cluster_id,
        droplet_id: r.droplet_id,
        healthy: r.healthy,
        latency: Some(micros(r.latency_us)),
        message: r.message,
        time: Some(timestamp(r.time_ms)),
    }
}

/// A result as `cg.health.results` carries it.
pub fn health_event(
    r: &ResultRow,
    v: &Verdict,
    cluster: health::ClusterHealth,
) -> ev::HealthResult {
    ev::HealthResult {
        check_id: r.check_id.clone(),
        cluster_id: r.cluster_id.clone(),
        droplet_id: r.droplet_id.clone(),
        healthy: r.healthy,
        latency: Some(micros(r.latency_us)),
        message: r.message.clone(),
        time: Some(timestamp(r.time_ms)),
        consecutive_failures: i32::try_from(v.consecutive_failures).unwrap_or(i32::MAX),
        state: pb::HealthState::from(v.state) as i32,
        cluster_health: ppb::ClusterHealth::from(cluster) as i32,
    }
}

/// A fault a droplet event starts or ends: (fault id, droplet, kind,
/// end time, or `None` when it ended).
pub fn fault_change(e: &ev::DropletEvent) -> Option<(String, String, String, Option<i64>)> {
    let f = e.fault.as_ref()?;
    let end = match ev::DropletEventKind::try_from(e.kind).ok()? {
        ev::DropletEventKind::FaultStarted => Some(f.end_time.as_ref().and_then(millis_of)?),
        ev::DropletEventKind::FaultEnded => None,
        _ => return None,
    };
    let kind = match ppb::FaultKind::try_from(f.kind).ok()? {
        ppb::FaultKind::CpuSpike => "cpu-spike",
        ppb::FaultKind::MemoryLeak => "memory-leak",
        ppb::FaultKind::DiskFilling => "disk-filling",
        ppb::FaultKind::Crash => "crash",
        ppb::FaultKind::NetworkLoss => "network-loss",
        ppb::FaultKind::Unspecified => return None,
    };
    Some((f.id.clone(), f.droplet_id.clone(), kind.to_string(), end))
}

/// A metric kind that must be set.
pub fn metric(raw: i32) -> Result<Metric, String> {
    match metrics(&[raw]) {
        Ok(m) if m.len() == 1 => Ok(m[0]),
        Ok(_) => Err("must be set".into()),
        Err(e) => Err(e),
    }
}

pub fn comparison(raw: i32) -> Result<Comparison, String> {
    match pb::AlertComparison::try_from(raw) {
        Ok(pb::AlertComparison::Above) => Ok(Comparison::Above),
        Ok(pb::AlertComparison::Below) => Ok(Comparison::Below),
        Ok(pb::AlertComparison::Unspecified) => Err("must be ABOVE or BELOW".into()),
        Err(_) => Err(format!("unknown comparison {raw}")),
    }
}

/// An alert state filter: unspecified is none.
pub fn alert_state(raw: i32) -> Result<Option<alerts::State>, String> {
    match pb::AlertState::try_from(raw) {
        Ok(pb::AlertState::Unspecified) => Ok(None),
        Ok(pb::AlertState::Pending) => Ok(Some(alerts::State::Pending)),
        Ok(pb::AlertState::Firing) => Ok(Some(alerts::State::Firing)),
        Ok(pb::AlertState::Resolved) => Ok(Some(alerts::State::Resolved)),
        Err(_) => Err(format!("unknown alert state {raw}")),
    }
}

pub fn rule(r: Rule) -> pb::AlertRule {
    pb::AlertRule {
        id: r.id,
        cluster_id: r.cluster_id,
        name: r.name,
        metric: pb::MetricKind::from(r.metric) as i32,
        comparison: match r.comparison {
            Comparison::Above => pb::AlertComparison::Above,
            Comparison::Below => pb::AlertComparison::Below,
        } as i32,
        threshold: r.threshold,
        r#for: Some(millis_duration(r.for_ms)),
        severity: r.severity as i32,
        create_time: Some(timestamp(r.created_at)),
    }
}

pub fn alert(a: Alert) -> pb::Alert {
    pb::Alert {
        id: a.id,
        rule_id: a.rule_id,
        rule_name: a.rule_name,
        cluster_id: a.cluster_id,
        droplet_id: a.droplet_id,
        state: match a.state {
            alerts::State::Pending => pb::AlertState::Pending,
            alerts::State::Firing => pb::AlertState::Firing,
            alerts::State::Resolved => pb::AlertState::Resolved,
        } as i32,
        value: a.value,
        start_time: Some(timestamp(a.started_ms)),
        fire_time: a.fired_ms.map(timestamp),
        resolve_time: a.resolved_ms.map(timestamp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6b";
    const D: &str = "0190b6a8-7d2c-7f3e-8a4b-000000000001";

    fn good() -> ev::MetricSample {
        ev::MetricSample {
            droplet_id: D.into(),
            cluster_id: C.into(),
            time: Some(timestamp(1_700_000_000_000)),
            cpu_percent: 12.5,
            ..Default::default()
        }
    }

    #[test]
    fn no_metric_kinds_means_every_kind() {
        assert_eq!(metrics(&[]).unwrap(), Metric::ALL.to_vec());
    }

    #[test]
    fn repeated_metric_kinds_are_asked_once() {
        assert_eq!(
            metrics(&[6, 1, 1]).unwrap(),
            vec![Metric::Cpu, Metric::Load1m]
        );
    }

    #[test]
    fn unspecified_or_unknown_metric_kinds_are_rejected() {
        assert!(metrics(&[0]).is_err());
        assert!(metrics(&[99]).is_err());
    }

    #[test]
    fn a_sample_from_another_cluster_than_its_key_is_dropped() {
        let kept = samples(
            Some(C),
            ev::MetricSamples {
                samples: vec![good()],
            },
        );
        assert_eq!(kept.len(), 1);
        let other = samples(
            Some("0190b6a8-7d2c-7f3e-8a4b-000000000009"),
            ev::MetricSamples {
                samples: vec![good()],
            },
        );
        assert!(other.is_empty());
    }

    #[test]
    fn a_sample_with_a_non_finite_value_is_dropped_alone() {
        let mut bad = good();
        bad.memory_percent = f64::NAN;
        let mut untimed = good();
        untimed.time = None;
        let kept = samples(
            Some(C),
            ev::MetricSamples {
                samples: vec![bad, good(), untimed],
            },
        );
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].values[0], 12.5);
    }
}
