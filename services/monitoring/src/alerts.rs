//! Alert rules on a cluster's metrics, evaluated per droplet as samples are
//! stored (the ingest's stored-batch feed), Prometheus-style: breaking →
//! `pending`; still breaking after the rule's `for` → `firing`; back
//! within the rule → `resolved` (a pending alert is dropped instead).
//! Firing and resolving are activity entries, written with the change.

use std::{collections::HashMap, sync::Arc, time::Duration};

use cg_runtime::{
    ApiError,
    activity::Severity,
    page::{PageOf, PageRequest},
    types::{Id, RequestId},
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{
    domain::{HOUR_MS, Metric, Sample},
    repo::{AlertStore, Result},
};

cg_runtime::label_newtype!(
    /// A rule's name: a DNS label, unique within its cluster.
    RuleName
);

/// How often the evaluator re-reads the rules.
const RULES_REFRESH: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Above,
    Below,
}

impl Comparison {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Above => "above",
            Self::Below => "below",
        }
    }

    pub fn from_column(s: &str) -> Option<Self> {
        [Self::Above, Self::Below]
            .into_iter()
            .find(|c| c.as_str() == s)
    }

    pub fn breaks(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Above => value > threshold,
            Self::Below => value < threshold,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Firing,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Firing => "firing",
            Self::Resolved => "resolved",
        }
    }

    pub fn from_column(s: &str) -> Option<Self> {
        [Self::Pending, Self::Firing, Self::Resolved]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// A metric column by its name in storage.
pub fn metric_from_column(s: &str) -> Option<Metric> {
    Metric::ALL.into_iter().find(|m| m.column() == s)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: String,
    pub cluster_id: String,
    pub name: String,
    pub metric: Metric,
    pub comparison: Comparison,
    pub threshold: f64,
    pub for_ms: i64,
    pub severity: Severity,
    pub request_id: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewRule {
    pub cluster_id: Id,
    pub name: RuleName,
    pub metric: Metric,
    pub comparison: Comparison,
    pub threshold: f64,
    pub for_ms: i64,
    pub severity: Severity,
    pub request_id: Option<RequestId>,
}

/// A threshold: finite, and 0–100 for a percentage.
pub fn threshold(metric: Metric, raw: f64) -> Result<f64, String> {
    if !raw.is_finite() {
        return Err("must be a finite number".into());
    }
    let percent = matches!(metric, Metric::Cpu | Metric::Memory | Metric::Disk);
    if percent && !(0.0..=100.0).contains(&raw) {
        return Err("must be between 0 and 100 for a percentage".into());
    }
    if raw < 0.0 {
        return Err("must not be negative".into());
    }
    Ok(raw)
}

/// A `for` duration: 0 – 1 h.
pub fn for_duration(ms: Option<i64>) -> Result<i64, String> {
    match ms {
        None => Ok(0),
        Some(m) if (0..=HOUR_MS).contains(&m) => Ok(m),
        Some(_) => Err("must be between 0 and 1h".into()),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub cluster_id: String,
    pub droplet_id: String,
    pub state: State,
    pub value: f64,
    pub last_ms: i64,
    pub started_ms: i64,
    pub fired_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
}

/// What a sample does to a rule's alert on its droplet.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Nothing,
    /// Breaking for the first time: a new pending alert (firing at once
    /// when the rule's `for` is zero).
    Open(State),
    /// The open alert moves to this state (or stays, with a new value).
    Move(State),
    /// A pending alert whose droplet is back within the rule: dropped.
    Drop,
}

/// The transition one sample makes, given the open alert if any.
pub fn step(rule: &Rule, open: Option<&Alert>, value: f64, t: i64) -> Step {
    let breaking = rule.comparison.breaks(value, rule.threshold);
    match (open, breaking) {
        (Some(a), _) if t <= a.last_ms => Step::Nothing,
        (None, false) => Step::Nothing,
        (None, true) if rule.for_ms == 0 => Step::Open(State::Firing),
        (None, true) => Step::Open(State::Pending),
        (Some(a), true) if a.state == State::Pending && t - a.started_ms >= rule.for_ms => {
            Step::Move(State::Firing)
        }
        (Some(a), true) => Step::Move(a.state),
        (Some(a), false) if a.state == State::Pending => Step::Drop,
        (Some(_), false) => Step::Move(State::Resolved),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub cluster_id: Option<String>,
    pub rule_id: Option<String>,
    pub state: Option<State>,
}

impl AlertFilter {
    pub fn key(&self) -> String {
        format!("{self:?}")
    }
}

fn fingerprint(n: &NewRule) -> String {
    cg_runtime::idempotency::fingerprint(&[
        n.cluster_id.as_str(),
        n.name.as_str(),
        n.metric.column(),
        n.comparison.as_str(),
        &n.threshold.to_string(),
        &n.for_ms.to_string(),
        &(n.severity as i32).to_string(),
    ])
}

/// Alert rules and alerts on an [`AlertStore`].
pub struct Alerts<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    store: S,
    stop: CancellationToken,
}

impl<S> Clone for Alerts<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S: AlertStore + Clone> Alerts<S> {
    pub fn new(store: S, stop: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner { store, stop }),
        }
    }

    pub fn store(&self) -> &S {
        &self.inner.store
    }

    pub async fn create(&self, n: NewRule, now: i64) -> Result<Rule> {
        let rule = Rule {
            id: cg_runtime::new_id(),
            cluster_id: n.cluster_id.to_string(),
            name: n.name.to_string(),
            metric: n.metric,
            comparison: n.comparison,
            threshold: n.threshold,
            for_ms: n.for_ms,
            severity: n.severity,
            request_id: n.request_id.as_ref().map(ToString::to_string),
            created_at: now,
        };
        self.inner.store.insert_rule(&rule, &fingerprint(&n)).await
    }

    pub async fn get(&self, id: &Id) -> Result<Rule> {
        self.inner.store.rule(id.as_str()).await
    }

    pub async fn list(&self, cluster: Option<&str>, page: &PageRequest) -> Result<PageOf<Rule>> {
        self.inner.store.rules(cluster, page).await
    }

    pub async fn delete(&self, id: &Id, now: i64) -> Result<()> {
        self.inner.store.delete_rule(id.as_str(), now).await
    }

    pub async fn alerts(&self, filter: &AlertFilter, page: &PageRequest) -> Result<PageOf<Alert>> {
        self.inner.store.alerts(filter, page).await
    }

    /// Applies one stored batch to the rules of its clusters.
    pub async fn evaluate(
        &self,
        rules: &HashMap<String, Vec<Rule>>,
        batch: &[Sample],
    ) -> Result<u32> {
        let mut moved = 0;
        for s in batch {
            let Some(rules) = rules.get(&s.cluster_id) else {
                continue;
            };
            for rule in rules {
                let open = self.inner.store.open_alert(&rule.id, &s.droplet_id).await?;
                let value = s.values[rule.metric.index()];
                let change = step(rule, open.as_ref(), value, s.time_ms);
                if change != Step::Nothing {
                    self.inner
                        .store
                        .apply(rule, open.as_ref(), &s.droplet_id, change, value, s.time_ms)
                        .await?;
                    moved += 1;
                }
            }
        }
        Ok(moved)
    }

    /// Evaluates every batch the ingest stores, until the service stops.
    pub async fn run(self, mut stored: broadcast::Receiver<Arc<Vec<Sample>>>) {
        let mut rules: HashMap<String, Vec<Rule>> = HashMap::new();
        let mut refreshed: Option<tokio::time::Instant> = None;
        loop {
            let batch = tokio::select! {
                () = self.inner.stop.cancelled() => return,
                b = stored.recv() => b,
            };
            let batch = match batch {
                Ok(b) => b,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // The next samples decide again; none is decisive alone.
                    tracing::warn!(
                        skipped = n,
                        "alert evaluation fell behind; skipping batches"
                    );
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if refreshed.is_none_or(|t| t.elapsed() > RULES_REFRESH) {
                match self.inner.store.all_rules().await {
                    Ok(all) => {
                        rules.clear();
                        for r in all {
                            rules.entry(r.cluster_id.clone()).or_default().push(r);
                        }
                        refreshed = Some(tokio::time::Instant::now());
                    }
                    Err(e) => tracing::warn!(error = %e, "reading alert rules failed"),
                }
            }
            if let Err(e) = self.evaluate(&rules, &batch).await {
                tracing::warn!(error = %e, "alert evaluation failed");
            }
        }
    }
}

/// Errors of rule writes, with the field they concern.
pub fn conflict(name: &str, cluster: &str) -> ApiError {
    ApiError::AlreadyExists(format!(
        "an alert rule named {name} already exists in cluster {cluster}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(for_ms: i64) -> Rule {
        Rule {
            id: "r".into(),
            cluster_id: "c".into(),
            name: "hot".into(),
            metric: Metric::Cpu,
            comparison: Comparison::Above,
            threshold: 90.0,
            for_ms,
            severity: Severity::Warning,
            request_id: None,
            created_at: 0,
        }
    }

    fn alert(state: State, started: i64, last: i64) -> Alert {
        Alert {
            id: "a".into(),
            rule_id: "r".into(),
            rule_name: "hot".into(),
            cluster_id: "c".into(),
            droplet_id: "d".into(),
            state,
            value: 95.0,
            last_ms: last,
            started_ms: started,
            fired_ms: None,
            resolved_ms: None,
        }
    }

    #[test]
    fn a_breaking_sample_opens_a_pending_alert() {
        assert_eq!(
            step(&rule(30_000), None, 95.0, 1),
            Step::Open(State::Pending)
        );
        assert_eq!(step(&rule(30_000), None, 50.0, 1), Step::Nothing);
    }

    #[test]
    fn a_rule_without_a_for_duration_fires_at_once() {
        assert_eq!(step(&rule(0), None, 95.0, 1), Step::Open(State::Firing));
    }

    #[test]
    fn a_pending_alert_fires_once_it_has_broken_the_rule_for_long_enough() {
        let a = alert(State::Pending, 0, 10_000);
        assert_eq!(
            step(&rule(30_000), Some(&a), 95.0, 20_000),
            Step::Move(State::Pending)
        );
        assert_eq!(
            step(&rule(30_000), Some(&a), 95.0, 30_000),
            Step::Move(State::Firing)
        );
    }

    #[test]
    fn a_pending_alert_back_within_the_rule_is_dropped_and_a_firing_one_resolved() {
        let pending = alert(State::Pending, 0, 10_000);
        assert_eq!(
            step(&rule(30_000), Some(&pending), 50.0, 20_000),
            Step::Drop
        );
        let firing = alert(State::Firing, 0, 10_000);
        assert_eq!(
            step(&rule(30_000), Some(&firing), 50.0, 20_000),
            Step::Move(State::Resolved)
        );
    }

    #[test]
    fn a_redelivered_older_sample_moves_nothing() {
        let firing = alert(State::Firing, 0, 10_000);
        assert_eq!(step(&rule(0), Some(&firing), 10.0, 10_000), Step::Nothing);
    }

    #[test]
    fn percent_thresholds_stay_within_a_hundred() {
        assert!(threshold(Metric::Cpu, 101.0).is_err());
        assert!(threshold(Metric::Load1m, 12.0).is_ok());
        assert!(threshold(Metric::NetworkIn, f64::NAN).is_err());
        assert!(threshold(Metric::NetworkIn, -1.0).is_err());
    }

    #[test]
    fn below_rules_break_under_their_threshold() {
        assert!(Comparison::Below.breaks(1.0, 2.0));
        assert!(!Comparison::Below.breaks(2.0, 2.0));
        assert!(!Comparison::Above.breaks(90.0, 90.0));
    }
}
