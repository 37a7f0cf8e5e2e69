//! Synthetic health checks. The simulated cloud has no sockets, so a probe's
//! outcome is derived from what monitoring knows of the droplet: its status
//! (from `cg.droplets.events`), its recent load (from the metric history)
//! and its injected faults. A check's verdict per droplet follows the
//! thresholds (healthy ↔ unhealthy after N in a row); every result is stored
//! and published on `cg.health.results` with the cluster's rolled-up health,
//! and each change of verdict becomes an activity entry.

use std::{collections::HashMap, sync::Arc, time::Duration};

use cg_runtime::{
    ApiError,
    page::{PageOf, PageRequest},
    types::{Id, RequestId},
};
use tokio_util::sync::CancellationToken;

use crate::{
    domain::{DropletStatus, SECOND_MS},
    repo::{HealthStore, Result},
};

cg_runtime::label_newtype!(
    /// A check's name: a DNS label, unique within its cluster.
    CheckName
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Http,
    Ping,
}

impl Kind {
    pub const ALL: [Self; 3] = [Self::Tcp, Self::Http, Self::Ping];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Http => "http",
            Self::Ping => "ping",
        }
    }

    pub fn from_column(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Port 0 means this.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Tcp => 22,
            Self::Http => 80,
            Self::Ping => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Unknown,
    Healthy,
    Unhealthy,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }

    pub fn from_column(s: &str) -> Option<Self> {
        [Self::Unknown, Self::Healthy, Self::Unhealthy]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A cluster's health from its droplets' verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterHealth {
    Unknown,
    Healthy,
    Degraded,
    Unhealthy,
}

/// Rolls verdicts up: per droplet, unhealthy if any check says so and
/// healthy if one says so and none disagrees; then the cluster is unknown
/// with no judged droplet, healthy when all judged ones are, unhealthy
/// when none is, degraded in between.
pub fn cluster_health(states: &[(String, State)]) -> ClusterHealth {
    let mut per: HashMap<&str, State> = HashMap::new();
    for (droplet, s) in states {
        let e = per.entry(droplet.as_str()).or_insert(State::Unknown);
        *e = match (*e, *s) {
            (State::Unhealthy, _) | (_, State::Unhealthy) => State::Unhealthy,
            (State::Healthy, _) | (_, State::Healthy) => State::Healthy,
            _ => State::Unknown,
        };
    }
    let judged: Vec<State> = per.into_values().filter(|s| *s != State::Unknown).collect();
    let bad = judged.iter().filter(|s| **s == State::Unhealthy).count();
    match (judged.len(), bad) {
        (0, _) => ClusterHealth::Unknown,
        (_, 0) => ClusterHealth::Healthy,
        (n, b) if b == n => ClusterHealth::Unhealthy,
        _ => ClusterHealth::Degraded,
    }
}

/// Thresholds: 1–10 in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threshold(u32);

impl Threshold {
    /// 0 means `default`.
    pub fn parse(raw: i32, default: u32) -> Result<Self, String> {
        match raw {
            0 => Ok(Self(default)),
            1..=10 => Ok(Self(raw.unsigned_abs())),
            _ => Err("must be between 1 and 10".into()),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub id: String,
    pub cluster_id: String,
    pub name: String,
    pub kind: Kind,
    pub port: u16,
    pub path: String,
    pub interval_ms: i64,
    pub timeout_ms: i64,
    pub unhealthy_threshold: u32,
    pub healthy_threshold: u32,
    pub enabled: bool,
    pub request_id: Option<String>,
    /// When its next round is due.
    pub next_run_ms: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The settings a create or an update may give, already in range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCheck {
    pub cluster_id: Id,
    pub name: CheckName,
    pub kind: Kind,
    pub port: u16,
    pub path: String,
    pub interval_ms: i64,
    pub timeout_ms: i64,
    pub unhealthy_threshold: Threshold,
    pub healthy_threshold: Threshold,
    pub request_id: Option<RequestId>,
}

/// What an update changes (only the fields named in its mask).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckUpdate {
    pub name: Option<CheckName>,
    pub port: Option<u16>,
    pub path: Option<String>,
    pub interval_ms: Option<i64>,
    pub timeout_ms: Option<i64>,
    pub unhealthy_threshold: Option<Threshold>,
    pub healthy_threshold: Option<Threshold>,
    pub enabled: Option<bool>,
}

impl CheckUpdate {
    /// `check` with this update applied, or why the result is invalid
    /// (a timeout that is no longer shorter than the interval).
    pub fn apply(&self, check: &Check, now: i64) -> Result<Check, ApiError> {
        let mut c = check.clone();
        if let Some(n) = &self.name {
            c.name = n.to_string();
        }
        if let Some(p) = self.port {
            c.port = if p == 0 { c.kind.default_port() } else { p };
        }
        if let Some(p) = &self.path {
            if c.kind != Kind::Http && !p.is_empty() {
                return Err(ApiError::invalid(
                    "health_check.path",
                    "is for HTTP checks only",
                ));
            }
            c.path = if p.is_empty() && c.kind == Kind::Http {
                "/".into()
            } else {
                p.clone()
            };
        }
        if let Some(i) = self.interval_ms {
            c.interval_ms = i;
            c.next_run_ms = now;
        }
        if let Some(t) = self.timeout_ms {
            c.timeout_ms = t;
        }
        if let Some(t) = self.unhealthy_threshold {
            c.unhealthy_threshold = t.get();
        }
        if let Some(t) = self.healthy_threshold {
            c.healthy_threshold = t.get();
        }
        if let Some(e) = self.enabled {
            if e && !c.enabled {
                c.next_run_ms = now;
            }
            c.enabled = e;
        }
        if c.timeout_ms >= c.interval_ms {
            return Err(ApiError::invalid(
                "health_check.timeout",
                "must be shorter than the interval",
            ));
        }
        c.updated_at = now;
        Ok(c)
    }
}

/// An interval: 5 s – 5 min; unset is 10 s.
pub fn interval(ms: Option<i64>) -> Result<i64, String> {
    match ms {
        None => Ok(10 * SECOND_MS),
        Some(m) if (5 * SECOND_MS..=300 * SECOND_MS).contains(&m) => Ok(m),
        Some(_) => Err("must be between 5s and 5m".into()),
    }
}

/// A timeout: at least 100 ms (shorter than the interval, checked with
/// it); unset is 5 s.
pub fn timeout(ms: Option<i64>) -> Result<i64, String> {
    match ms {
        None => Ok(5 * SECOND_MS),
        Some(m) if (100..300 * SECOND_MS).contains(&m) => Ok(m),
        Some(_) => Err("must be at least 100ms and shorter than the interval".into()),
    }
}

/// An HTTP path: empty (meaning `/`) or starting with `/`, ≤ 255
/// printable characters.
pub fn path(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Ok(String::new());
    }
    if !raw.starts_with('/') || raw.len() > 255 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must start with '/' and be at most 255 printable characters".into());
    }
    Ok(raw.to_string())
}

/// A port: 0 (the kind's default) or 1–65535.
pub fn port(raw: i32) -> Result<u16, String> {
    u16::try_from(raw).map_err(|_| "must be between 1 and 65535 (0: the kind's default)".into())
}

/// A check's verdict on one droplet, with the streaks that move it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub check_id: String,
    pub droplet_id: String,
    pub cluster_id: String,
    pub state: State,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    pub last_result_ms: i64,
    pub last_message: String,
}

impl Verdict {
    pub fn new(check: &Check, droplet_id: &str) -> Self {
        Self {
            check_id: check.id.clone(),
            droplet_id: droplet_id.to_string(),
            cluster_id: check.cluster_id.clone(),
            state: State::Unknown,
            consecutive_failures: 0,
            consecutive_successes: 0,
            last_result_ms: 0,
            last_message: String::new(),
        }
    }

    /// After one more result. A first success makes an unknown droplet
    /// healthy; it turns unhealthy after `unhealthy_threshold` failures in
    /// a row and healthy again after `healthy_threshold` successes.
    pub fn after(&self, check: &Check, probe: &Probe, now: i64) -> Self {
        let mut v = self.clone();
        v.last_result_ms = now;
        v.last_message = probe.message.clone();
        if probe.healthy {
            v.consecutive_successes += 1;
            v.consecutive_failures = 0;
            if v.state == State::Unknown
                || (v.state == State::Unhealthy
                    && v.consecutive_successes >= check.healthy_threshold)
            {
                v.state = State::Healthy;
            }
        } else {
            v.consecutive_failures += 1;
            v.consecutive_successes = 0;
            if v.consecutive_failures >= check.unhealthy_threshold {
                v.state = State::Unhealthy;
            }
        }
        v
    }
}

/// What monitoring knows of a droplet when it probes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub droplet_id: String,
    pub status: DropletStatus,
    /// The latest CPU sample, when there is a recent one.
    pub cpu: Option<f64>,
    /// Kinds of the faults active now (`cpu-spike`, `crash`, ...).
    pub faults: Vec<String>,
}

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub healthy: bool,
    pub latency_us: i64,
    pub message: String,
}

/// Probes `t` as a `check` would: a droplet that is off or crashed does
/// not answer; network loss drops about half the probes and slows the
/// rest; load slows answers, and an HTTP service at ≥ 90 % CPU answers 503.
pub fn probe(check: &Check, t: &Target, rng: &mut impl rand::Rng) -> Probe {
    let timeout_us = check.timeout_ms * 1000;
    let timed_out = |why: &str| Probe {
        healthy: false,
        latency_us: timeout_us,
        message: format!("{why}: no answer within {}ms", check.timeout_ms),
    };
    if t.faults.iter().any(|f| f == "crash") {
        return timed_out("crashed");
    }
    if t.status != DropletStatus::Active {
        return Probe {
            healthy: false,
            latency_us: 0,
            message: format!("connection refused: droplet is {}", t.status.as_str()),
        };
    }
    let cpu = t.cpu.unwrap_or(20.0).clamp(0.0, 100.0);
    let load = (cpu / 100.0).powi(4);
    let base_us = match check.kind {
        Kind::Ping => 400.0 + 600.0 * load,
        Kind::Tcp => 1_000.0 + 40_000.0 * load,
        Kind::Http => 3_000.0 + 400_000.0 * load,
    };
    let mut latency = base_us * rng.random_range(0.8..1.2);
    if t.faults.iter().any(|f| f == "network-loss") {
        if rng.random_bool(0.5) {
            return timed_out("packet loss");
        }
        latency += 0.5 * timeout_us as f64;
    }
    let latency_us = latency as i64;
    if latency_us >= timeout_us {
        return timed_out("too slow");
    }
    if check.kind == Kind::Http && cpu >= 90.0 {
        return Probe {
            healthy: false,
            latency_us,
            message: format!("HTTP 503 from {} (cpu {cpu:.0}%)", check.path),
        };
    }
    Probe {
        healthy: true,
        latency_us,
        message: String::new(),
    }
}

/// One stored probe result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRow {
    pub id: String,
    pub check_id: String,
    pub cluster_id: String,
    pub droplet_id: String,
    pub healthy: bool,
    pub latency_us: i64,
    pub message: String,
    pub time_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultFilter {
    pub check_id: Option<String>,
    pub cluster_id: Option<String>,
    pub droplet_id: Option<String>,
    pub unhealthy_only: bool,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
}

impl ResultFilter {
    pub fn key(&self) -> String {
        format!("{self:?}")
    }
}

/// Health checks on a [`HealthStore`].
pub struct HealthChecks<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    store: S,
    stop: CancellationToken,
}

impl<S> Clone for HealthChecks<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

/// The idempotency fingerprint of a create: its whole body.
fn fingerprint(n: &NewCheck) -> String {
    cg_runtime::idempotency::fingerprint(&[
        n.cluster_id.as_str(),
        n.name.as_str(),
        n.kind.as_str(),
        &n.port.to_string(),
        &n.path,
        &n.interval_ms.to_string(),
        &n.timeout_ms.to_string(),
        &n.unhealthy_threshold.get().to_string(),
        &n.healthy_threshold.get().to_string(),
    ])
}

impl<S: HealthStore + Clone> HealthChecks<S> {
    pub fn new(store: S, stop: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner { store, stop }),
        }
    }

    pub fn store(&self) -> &S {
        &self.inner.store
    }

    #[tracing::instrument(skip_all, fields(cluster_id = %n.cluster_id, name = %n.name))]
    pub async fn create(&self, n: NewCheck, now: i64) -> Result<Check> {
        if n.timeout_ms >= n.interval_ms {
            return Err(ApiError::invalid(
                "timeout",
                "must be shorter than the interval",
            ));
        }
        if n.kind != Kind::Http && !n.path.is_empty() {
            return Err(ApiError::invalid("path", "is for HTTP checks only"));
        }
        let check = Check {
            id: cg_runtime::new_id(),
            cluster_id: n.cluster_id.to_string(),
            name: n.name.to_string(),
            kind: n.kind,
            port: if n.port == 0 {
                n.kind.default_port()
            } else {
                n.port
            },
            path: if n.kind == Kind::Http && n.path.is_empty() {
                "/".into()
            } else {
                n.path.clone()
            },
            interval_ms: n.interval_ms,
            timeout_ms: n.timeout_ms,
            unhealthy_threshold: n.unhealthy_threshold.get(),
            healthy_threshold: n.healthy_threshold.get(),
            enabled: true,
            request_id: n.request_id.as_ref().map(ToString::to_string),
            next_run_ms: now,
            created_at: now,
            updated_at: now,
        };
        self.inner
            .store
            .insert_check(&check, &fingerprint(&n))
            .await
    }

    pub async fn get(&self, id: &Id) -> Result<(Check, Vec<Verdict>)> {
        let check = self.inner.store.check(id.as_str()).await?;
        let verdicts = self.inner.store.verdicts(id.as_str()).await?;
        Ok((check, verdicts))
    }

    pub async fn list(
        &self,
        cluster: Option<&str>,
        kind: Option<Kind>,
        page: &PageRequest,
    ) -> Result<PageOf<(Check, Vec<Verdict>)>> {
        let checks = self.inner.store.checks(cluster, kind, page).await?;
        let mut items = Vec::with_capacity(checks.items.len());
        for c in checks.items {
            let v = self.inner.store.verdicts(&c.id).await?;
            items.push((c, v));
        }
        Ok(PageOf {
            items,
            next_after: checks.next_after,
        })
    }

    #[tracing::instrument(skip_all, fields(id = %id))]
    pub async fn update(&self, id: &Id, update: &CheckUpdate, now: i64) -> Result<Check> {
        let current = self.inner.store.check(id.as_str()).await?;
        let next = update.apply(&current, now)?;
        self.inner.store.update_check(&current, &next).await?;
        Ok(next)
    }

    #[tracing::instrument(skip_all, fields(id = %id))]
    pub async fn delete(&self, id: &Id) -> Result<()> {
        self.inner.store.delete_check(id.as_str()).await
    }

    /// Keeps track of faults from a `cg.droplets.events` record.
    pub async fn record_fault(
        &self,
        e: &clustergenie_proto::events::v1::DropletEvent,
    ) -> Result<(), cg_runtime::kafka::Failure> {
        let Some((id, droplet, kind, end)) = crate::wire::fault_change(e) else {
            return Ok(());
        };
        self.inner
            .store
            .record_fault(&id, &droplet, &kind, end)
            .await
            .map_err(Into::into)
    }

    pub async fn results(
        &self,
        filter: &ResultFilter,
        page: &PageRequest,
    ) -> Result<PageOf<ResultRow>> {
        self.inner.store.results(filter, page).await
    }

    /// Runs every round that is due at `now` (claimed, so two replicas
    /// never run one round twice). Returns the results written.
    pub async fn run_due(&self, now: i64) -> Result<usize> {
        let store = &self.inner.store;
        let mut written = 0;
        for check in store.due(now, 64).await? {
            if !store.claim(&check, now).await? {
                continue;
            }
            let targets = store.targets(&check.cluster_id, now).await?;
            let results: Vec<(ResultRow, Probe)> = {
                let mut rng = rand::rng();
                targets
                    .iter()
                    .map(|t| {
                        let p = probe(&check, t, &mut rng);
                        let row = ResultRow {
                            id: cg_runtime::new_id(),
                            check_id: check.id.clone(),
                            cluster_id: check.cluster_id.clone(),
                            droplet_id: t.droplet_id.clone(),
                            healthy: p.healthy,
                            latency_us: p.latency_us,
                            message: p.message.clone(),
                            time_ms: now,
                        };
                        (row, p)
                    })
                    .collect()
            };
            written += results.len();
            store.record_round(&check, &results, now).await?;
        }
        if written > 0 {
            metrics::counter!("cg_monitoring_health_results_total").increment(written as u64);
        }
        Ok(written)
    }

    /// Looks for due rounds twice a second until the service stops.
    pub async fn run(self) {
        loop {
            tokio::select! {
                () = self.inner.stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            if let Err(e) = self.run_due(cg_runtime::time::now_millis()).await {
                tracing::warn!(error = %e, "health check round failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: Kind) -> Check {
        Check {
            id: "c".into(),
            cluster_id: "k".into(),
            name: "web".into(),
            kind,
            port: 80,
            path: "/".into(),
            interval_ms: 10_000,
            timeout_ms: 2_000,
            unhealthy_threshold: 3,
            healthy_threshold: 2,
            enabled: true,
            request_id: None,
            next_run_ms: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn target(status: DropletStatus, cpu: f64, faults: &[&str]) -> Target {
        Target {
            droplet_id: "d".into(),
            status,
            cpu: Some(cpu),
            faults: faults.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn ok() -> Probe {
        Probe {
            healthy: true,
            latency_us: 1,
            message: String::new(),
        }
    }

    fn failed() -> Probe {
        Probe {
            healthy: false,
            latency_us: 1,
            message: "no".into(),
        }
    }

    #[test]
    fn a_quiet_droplet_passes_every_kind() {
        for kind in Kind::ALL {
            let p = probe(
                &check(kind),
                &target(DropletStatus::Active, 20.0, &[]),
                &mut rand::rng(),
            );
            assert!(p.healthy, "{kind:?}: {}", p.message);
            assert!(p.latency_us < 10_000);
        }
    }

    #[test]
    fn a_cpu_spike_fails_http_but_not_tcp() {
        let hot = target(DropletStatus::Active, 97.0, &["cpu-spike"]);
        let http = probe(&check(Kind::Http), &hot, &mut rand::rng());
        assert!(!http.healthy);
        assert!(http.message.contains("503"), "{}", http.message);
        assert!(probe(&check(Kind::Tcp), &hot, &mut rand::rng()).healthy);
    }

    #[test]
    fn a_crash_fails_every_kind_with_a_timeout() {
        for kind in Kind::ALL {
            let p = probe(
                &check(kind),
                &target(DropletStatus::Off, 0.0, &["crash"]),
                &mut rand::rng(),
            );
            assert!(!p.healthy);
            assert_eq!(p.latency_us, 2_000_000);
        }
    }

    #[test]
    fn a_droplet_that_is_off_refuses_connections() {
        let p = probe(
            &check(Kind::Tcp),
            &target(DropletStatus::Off, 0.0, &[]),
            &mut rand::rng(),
        );
        assert!(!p.healthy && p.message.contains("refused"), "{}", p.message);
    }

    #[test]
    fn network_loss_fails_some_probes_and_slows_the_rest() {
        let lossy = target(DropletStatus::Active, 10.0, &["network-loss"]);
        let probes: Vec<Probe> = (0..200)
            .map(|_| probe(&check(Kind::Ping), &lossy, &mut rand::rng()))
            .collect();
        let failed = probes.iter().filter(|p| !p.healthy).count();
        assert!((40..160).contains(&failed), "{failed} of 200 failed");
        assert!(
            probes
                .iter()
                .filter(|p| p.healthy)
                .all(|p| p.latency_us >= 1_000_000)
        );
    }

    #[test]
    fn a_droplet_turns_unhealthy_only_after_the_threshold_and_back_after_its_own() {
        let c = check(Kind::Http);
        let mut v = Verdict::new(&c, "d");
        v = v.after(&c, &ok(), 1);
        assert_eq!(v.state, State::Healthy, "a first success decides");
        for i in 1..3 {
            v = v.after(&c, &failed(), 1 + i);
            assert_eq!(v.state, State::Healthy, "failure {i} of 3");
        }
        v = v.after(&c, &failed(), 5);
        assert_eq!((v.state, v.consecutive_failures), (State::Unhealthy, 3));
        v = v.after(&c, &ok(), 6);
        assert_eq!(v.state, State::Unhealthy, "one success of 2");
        v = v.after(&c, &ok(), 7);
        assert_eq!((v.state, v.consecutive_successes), (State::Healthy, 2));
    }

    #[test]
    fn cluster_health_rolls_up_from_droplets() {
        let s = |d: &str, st| (d.to_string(), st);
        assert_eq!(cluster_health(&[]), ClusterHealth::Unknown);
        assert_eq!(
            cluster_health(&[s("a", State::Unknown)]),
            ClusterHealth::Unknown
        );
        assert_eq!(
            cluster_health(&[s("a", State::Healthy), s("b", State::Unknown)]),
            ClusterHealth::Healthy
        );
        assert_eq!(
            cluster_health(&[
                s("a", State::Healthy),
                s("a", State::Unhealthy),
                s("b", State::Healthy)
            ]),
            ClusterHealth::Degraded
        );
        assert_eq!(
            cluster_health(&[s("a", State::Unhealthy), s("b", State::Unhealthy)]),
            ClusterHealth::Unhealthy
        );
    }

    #[test]
    fn a_timeout_as_long_as_the_interval_is_rejected() {
        let update = CheckUpdate {
            timeout_ms: Some(10_000),
            ..CheckUpdate::default()
        };
        assert!(update.apply(&check(Kind::Http), 1).is_err());
    }

    #[test]
    fn thresholds_default_and_stay_in_range() {
        assert_eq!(Threshold::parse(0, 3).unwrap().get(), 3);
        assert!(Threshold::parse(11, 3).is_err());
        assert!(Threshold::parse(-1, 3).is_err());
    }
}
