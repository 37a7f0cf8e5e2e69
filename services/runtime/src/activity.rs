//! Entries for the fleet's activity log (`cg.activity`). A service writes
//! one through its outbox in the transaction that made the change, so the
//! log says what happened if and only if it happened; monitoring stores
//! the entries, deduplicated by id.

use clustergenie_proto::events::v1 as ev;
pub use clustergenie_proto::monitoring::v1::ActivitySeverity as Severity;

use crate::{outbox::NewEvent, time::timestamp, topic::topics};

/// One entry, built up then turned into an outbox event.
#[derive(Debug, Clone)]
pub struct Activity(ev::Activity);

impl Activity {
    /// `kind` is dotted `<subject>.<verb>` (`droplet.created`).
    pub fn new(
        source: &str,
        kind: &str,
        severity: Severity,
        message: impl Into<String>,
        now: i64,
    ) -> Self {
        Self(ev::Activity {
            id: crate::new_id(),
            time: Some(timestamp(now)),
            source: source.to_string(),
            kind: kind.to_string(),
            severity: severity as i32,
            message: message.into(),
            trace_id: crate::kafka::current_traceparent()
                .and_then(|tp| tp.split('-').nth(1).map(str::to_string))
                .unwrap_or_default(),
            ..Default::default()
        })
    }

    #[must_use]
    pub fn cluster(mut self, id: &str) -> Self {
        self.0.cluster_id = id.to_string();
        self
    }

    #[must_use]
    pub fn droplet(mut self, id: &str) -> Self {
        self.0.droplet_id = id.to_string();
        self
    }

    #[must_use]
    pub fn job(mut self, id: &str) -> Self {
        self.0.job_id = id.to_string();
        self
    }

    #[must_use]
    pub fn decision(mut self, id: &str) -> Self {
        self.0.decision_id = id.to_string();
        self
    }

    #[must_use]
    pub fn diagnosis(mut self, id: &str) -> Self {
        self.0.diagnosis_id = id.to_string();
        self
    }

    #[must_use]
    pub fn health_check(mut self, id: &str) -> Self {
        self.0.health_check_id = id.to_string();
        self
    }

    #[must_use]
    pub fn attribute(mut self, key: &str, value: impl Into<String>) -> Self {
        self.0.attributes.insert(key.to_string(), value.into());
        self
    }

    pub fn message(&self) -> &ev::Activity {
        &self.0
    }

    /// The outbox event: keyed by the cluster (empty for fleet-wide
    /// entries), with the entry's id as the record's event id.
    pub fn event(&self) -> NewEvent {
        NewEvent {
            id: Some(self.0.id.clone()),
            ..topics::ACTIVITY.event(&self.0.cluster_id, &self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_published_under_its_own_id_and_cluster() {
        let a = Activity::new("jobs", "job.failed", Severity::Error, "boom", 1_000)
            .cluster("c1")
            .job("j1")
            .attribute("attempt", "2");
        let e = a.event();
        assert_eq!(e.id.as_deref(), Some(a.message().id.as_str()));
        assert_eq!(e.key, "c1");
        assert_eq!(e.topic, "cg.activity");
        assert_eq!(a.message().attributes["attempt"], "2");
    }
}
