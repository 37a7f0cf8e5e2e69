//! Storage of metric history. The trait speaks plain domain types;
//! [`SqlMetrics`] implements it on MySQL/MariaDB and SQLite, and one suite
//! (`tests/repository.rs`) runs against every implementation.

mod activity;
mod alerts;
mod health;
mod sql;

use std::future::Future;

use cg_runtime::ApiError;

pub use activity::SqlActivity;
pub use alerts::SqlAlerts;
pub use health::SqlHealth;
pub use sql::SqlMetrics;

use cg_runtime::page::{PageOf, PageRequest};

use crate::{
    activity::{Entry, Filter},
    alerts::{Alert, AlertFilter, Rule, Step},
    health::{Check, Kind, Probe, ResultFilter, ResultRow, Target, Verdict},
};

use crate::domain::{Agg, DropletStatus, Metric, Sample};

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// One droplet's summary over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct DropletWindow {
    pub droplet_id: String,
    pub samples: i64,
    /// Sum per metric, by [`Metric::index`].
    pub sums: [f64; 6],
    pub last_ms: i64,
}

/// A droplet's status as one event reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropletState {
    pub droplet: String,
    pub cluster: String,
    pub status: DropletStatus,
    pub event_ms: i64,
}

pub trait MetricStore: Send + Sync + 'static {
    /// Stores `samples` in one transaction; a sample already stored (same
    /// droplet and time) is left as it is. Returns how many were new.
    fn insert(&self, samples: &[Sample]) -> impl Future<Output = Result<u64>> + Send;

    /// The droplets of `cluster` that reported at `from` or later, ordered
    /// by id, after `after` when given.
    fn droplets(
        &self,
        cluster: &str,
        from: i64,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;

    /// Raw samples of `droplets` in `[from, to]`, by droplet then time; at
    /// most `limit`.
    fn raw(
        &self,
        cluster: &str,
        droplets: &[String],
        from: i64,
        to: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Sample>>> + Send;

    /// Rollups of `granularity` for `droplets` in `[from, until)`, merged
    /// into buckets of `width` (per droplet, or across them with
    /// `average`, when the droplet is answered empty).
    #[allow(clippy::too_many_arguments)]
    fn rollups(
        &self,
        granularity: i64,
        cluster: &str,
        droplets: &[String],
        metrics: &[Metric],
        from: i64,
        until: i64,
        width: i64,
        average: bool,
    ) -> impl Future<Output = Result<Vec<(String, Metric, i64, Agg)>>> + Send;

    /// Every bucket of `granularity` before this time is rolled up.
    fn mark(&self, granularity: i64) -> impl Future<Output = Result<Option<i64>>> + Send;

    /// The oldest raw sample's time at or after `from`.
    fn oldest(&self, from: i64) -> impl Future<Output = Result<Option<i64>>> + Send;

    /// Rolls raw samples in `[from, until)` up into buckets of
    /// `granularity` (both multiples of it) and moves the mark to `until`,
    /// in one transaction. Rerunning a range changes nothing.
    fn roll_up(
        &self,
        granularity: i64,
        from: i64,
        until: i64,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Deletes raw samples older than `before`; returns how many.
    fn delete_raw(&self, before: i64) -> impl Future<Output = Result<u64>> + Send;

    /// Deletes rollups of `granularity` older than `before`.
    fn delete_rollups(
        &self,
        granularity: i64,
        before: i64,
    ) -> impl Future<Output = Result<u64>> + Send;

    /// Records a droplet's status as of `event_ms`, unless a newer event
    /// was recorded already.
    fn record_droplet(
        &self,
        droplet: &str,
        cluster: &str,
        status: DropletStatus,
        event_ms: i64,
    ) -> impl Future<Output = Result<()>> + Send {
        let state = DropletState {
            droplet: droplet.to_string(),
            cluster: cluster.to_string(),
            status,
            event_ms,
        };
        async move { self.record_droplets(std::slice::from_ref(&state)).await }
    }

    /// [`Self::record_droplet`] for each state, in order, in one statement.
    fn record_droplets(&self, states: &[DropletState]) -> impl Future<Output = Result<()>> + Send;

    /// The cluster's droplets by status.
    fn droplet_counts(
        &self,
        cluster: &str,
    ) -> impl Future<Output = Result<Vec<(DropletStatus, i64)>>> + Send;

    /// Per droplet of `cluster`: its samples since `since`.
    fn window(
        &self,
        cluster: &str,
        since: i64,
    ) -> impl Future<Output = Result<Vec<DropletWindow>>> + Send;

    /// Whether anything (a sample ever, a droplet event) came from `cluster`.
    fn knows(&self, cluster: &str) -> impl Future<Output = Result<bool>> + Send;
}

pub trait ActivityStore: Send + Sync + 'static {
    /// Appends entries in one transaction, each with the next seq, skipping
    /// ids already stored. Entries commit in seq order. Returns how many
    /// were new.
    fn append(&self, entries: &[Entry]) -> impl Future<Output = Result<u64>> + Send;

    /// Matching entries with seq below `before` (all when `None`), newest
    /// first, at most `limit`.
    fn newest(
        &self,
        filter: &Filter,
        before: Option<i64>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Entry>>> + Send;

    /// Matching entries with seq above `after`, oldest first, at most `limit`.
    fn after(
        &self,
        filter: &Filter,
        after: i64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Entry>>> + Send;

    /// (highest seq removed by retention, highest seq stored or handed out).
    fn bounds(&self) -> impl Future<Output = Result<(i64, i64)>> + Send;

    /// Removes entries whose time is before `before`, by seq (everything up
    /// to the newest such entry), and records how far it removed.
    fn trim(&self, before: i64) -> impl Future<Output = Result<u64>> + Send;
}

pub trait HealthStore: Send + Sync + 'static {
    /// Inserts a check, or answers the one an earlier create with the same
    /// `request_id` made (ALREADY_EXISTS when its body differs, or when the
    /// name is taken in the cluster).
    fn insert_check(
        &self,
        check: &Check,
        fingerprint: &str,
    ) -> impl Future<Output = Result<Check>> + Send;

    fn check(&self, id: &str) -> impl Future<Output = Result<Check>> + Send;

    /// Its verdicts, by droplet.
    fn verdicts(&self, check_id: &str) -> impl Future<Output = Result<Vec<Verdict>>> + Send;

    /// Oldest first.
    fn checks(
        &self,
        cluster: Option<&str>,
        kind: Option<Kind>,
        page: &PageRequest,
    ) -> impl Future<Output = Result<PageOf<Check>>> + Send;

    /// Writes `next` over `current`; FAILED_PRECONDITION when the check
    /// changed meanwhile. Disabling forgets its verdicts.
    fn update_check(
        &self,
        current: &Check,
        next: &Check,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Deletes a check and its verdicts (its results stay).
    fn delete_check(&self, id: &str) -> impl Future<Output = Result<()>> + Send;

    /// Newest first.
    fn results(
        &self,
        filter: &ResultFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<PageOf<ResultRow>>> + Send;

    /// Enabled checks whose round is due at `now`.
    fn due(&self, now: i64, limit: u32) -> impl Future<Output = Result<Vec<Check>>> + Send;

    /// Moves the check's next round one interval on, if no replica did
    /// since `check` was read: true when this caller runs the round.
    fn claim(&self, check: &Check, now: i64) -> impl Future<Output = Result<bool>> + Send;

    /// The droplets a round probes (active or off), with their latest CPU
    /// and active faults.
    fn targets(&self, cluster: &str, now: i64) -> impl Future<Output = Result<Vec<Target>>> + Send;

    /// Stores a round's results, moves the verdicts, and (in the same
    /// transaction) announces each result with the cluster's health and
    /// each change of verdict as an activity entry.
    fn record_round(
        &self,
        check: &Check,
        results: &[(ResultRow, Probe)],
        now: i64,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Records a fault starting (`end_ms`) or, with `None`, ending.
    fn record_fault(
        &self,
        fault_id: &str,
        droplet: &str,
        kind: &str,
        end_ms: Option<i64>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Droplets currently failing at least one check of `cluster`.
    fn unhealthy_droplets(&self, cluster: &str) -> impl Future<Output = Result<i64>> + Send;

    /// Deletes results older than `before`.
    fn trim_results(&self, before: i64) -> impl Future<Output = Result<u64>> + Send;
}

pub trait AlertStore: Send + Sync + 'static {
    /// Inserts a rule, or answers the one an earlier create with the same
    /// `request_id` made (ALREADY_EXISTS when its body differs, or when the
    /// name is taken in the cluster).
    fn insert_rule(
        &self,
        rule: &Rule,
        fingerprint: &str,
    ) -> impl Future<Output = Result<Rule>> + Send;

    fn rule(&self, id: &str) -> impl Future<Output = Result<Rule>> + Send;

    /// Oldest first.
    fn rules(
        &self,
        cluster: Option<&str>,
        page: &PageRequest,
    ) -> impl Future<Output = Result<PageOf<Rule>>> + Send;

    /// Every rule, for the evaluator.
    fn all_rules(&self) -> impl Future<Output = Result<Vec<Rule>>> + Send;

    /// Deletes a rule and resolves its open alerts.
    fn delete_rule(&self, id: &str, now: i64) -> impl Future<Output = Result<()>> + Send;

    /// Newest first.
    fn alerts(
        &self,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> impl Future<Output = Result<PageOf<Alert>>> + Send;

    /// The pending or firing alert of `rule` on `droplet`.
    fn open_alert(
        &self,
        rule: &str,
        droplet: &str,
    ) -> impl Future<Output = Result<Option<Alert>>> + Send;

    /// Applies `step` (made from a sample of `value` at `t`), with the
    /// activity entry a firing or a resolution makes, in one transaction.
    fn apply(
        &self,
        rule: &Rule,
        open: Option<&Alert>,
        droplet: &str,
        step: Step,
        value: f64,
        t: i64,
    ) -> impl Future<Output = Result<()>> + Send;
}
