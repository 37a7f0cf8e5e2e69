//! Storage of metric history. The trait speaks plain domain types;
//! [`SqlMetrics`] implements it on MySQL/MariaDB and SQLite, and one suite
//! (`tests/repository.rs`) runs against every implementation.

mod activity;
mod sql;

use std::future::Future;

use cg_runtime::ApiError;

pub use activity::SqlActivity;
pub use sql::SqlMetrics;

use crate::activity::{Entry, Filter};

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

pub trait MetricStore: Send + Sync + 'static {
    /// Stores `samples` in one transaction; a sample already stored (same
    /// droplet and time) is left as it is. Returns how many were new.
    fn insert(&self, samples: &[Sample]) -> impl Future<Output = Result<u64>> + Send;

    /// The droplets of `cluster` that reported at some time in
    /// `[from, to]`, ordered by id, after `after` when given.
    fn droplets(
        &self,
        cluster: &str,
        from: i64,
        to: i64,
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
    ) -> impl Future<Output = Result<()>> + Send;

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
