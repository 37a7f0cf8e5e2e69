//! The metrics domain service: ingest (records batched into multi-row
//! writes), queries that read rollups before the rollup mark and raw
//! samples after it, summaries, live watches, and the maintenance that
//! rolls buckets up and enforces retention.

use std::sync::Arc;

use cg_runtime::{
    ApiError,
    kafka::{Event, Failure},
    page::PageOf,
    topic::topics,
};
use clustergenie_proto::events::v1 as ev;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::{
    domain::{
        Agg, Buckets, DropletStatus, LEVELS, MAX_POINTS, MINUTE_MS, Metric, MetricQuery, Sample,
        Series, Summary, align,
    },
    repo::{DropletState, MetricStore, Result},
    wire,
};

/// At most this many raw samples are read for one answer; a range that
/// holds more needs a step that rollups serve (a multiple of 1 min).
const RAW_ROWS: u32 = 500_000;
/// Stored batches a slow watcher may fall behind before it skips some.
const WATCH_BACKLOG: usize = 1024;

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub raw_retention_ms: i64,
    pub retention_ms: i64,
    pub lateness_ms: i64,
    pub batch_rows: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            raw_retention_ms: 24 * 3_600_000,
            retention_ms: 7 * 86_400_000,
            lateness_ms: MINUTE_MS,
            batch_rows: 5000,
        }
    }
}

struct Pending {
    samples: Vec<Sample>,
    done: oneshot::Sender<Result<(), Failure>>,
}

struct Inner<S> {
    store: S,
    settings: Settings,
    ingest: mpsc::Sender<Pending>,
    stored: broadcast::Sender<Arc<Vec<Sample>>>,
    stop: CancellationToken,
}

/// Metric history on a [`MetricStore`].
pub struct Metrics<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for Metrics<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

/// What a watcher asked for.
#[derive(Debug, Clone)]
pub struct WatchFilter {
    pub cluster_id: String,
    pub droplet_id: Option<String>,
    pub metrics: Vec<Metric>,
}

impl<S: MetricStore + Clone> Metrics<S> {
    /// The service and its ingest loop, which the caller runs (until `stop`).
    pub fn new(
        store: S,
        settings: Settings,
        stop: CancellationToken,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (tx, rx) = mpsc::channel(256);
        let (stored, _) = broadcast::channel(WATCH_BACKLOG);
        let inner = Arc::new(Inner {
            store,
            settings,
            ingest: tx,
            stored,
            stop,
        });
        let looped = ingest_loop(inner.clone(), rx);
        (Self { inner }, looped)
    }

    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// Every batch as it is stored (samples of one record each).
    pub fn stored(&self) -> broadcast::Receiver<Arc<Vec<Sample>>> {
        self.inner.stored.subscribe()
    }

    /// Stores `samples` (with whatever else is waiting, in one write) and
    /// returns once they are durable.
    pub async fn ingest(&self, samples: Vec<Sample>) -> Result<(), Failure> {
        if samples.is_empty() {
            return Ok(());
        }
        let (done, answer) = oneshot::channel();
        let pending = Pending { samples, done };
        if self.inner.ingest.send(pending).await.is_err() {
            return Err(Failure::Retryable("monitoring is shutting down".into()));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(Failure::Retryable("monitoring is shutting down".into())))
    }

    /// The Kafka handler for `cg.metrics.samples`, for records that arrived
    /// together: one ingest.
    pub async fn handle_samples_batch(&self, events: Vec<Event>) -> Result<(), Failure> {
        let mut samples = Vec::new();
        for event in &events {
            let batch = topics::METRICS_SAMPLES.decode(event)?;
            samples.extend(wire::samples(event.key.as_deref(), batch));
        }
        self.ingest(samples).await
    }

    /// Records droplets' statuses from `cg.droplets.events` records that
    /// arrived together, in one statement.
    pub async fn record_droplets(&self, events: &[ev::DropletEvent]) -> Result<(), Failure> {
        let states = events
            .iter()
            .map(|ev| {
                let (droplet, cluster, status, event_ms) =
                    wire::droplet_state(ev).ok_or_else(|| {
                        Failure::Permanent("droplet event without a droplet, status or time".into())
                    })?;
                Ok(DropletState {
                    droplet,
                    cluster,
                    status,
                    event_ms,
                })
            })
            .collect::<Result<Vec<_>, Failure>>()?;
        self.inner
            .store
            .record_droplets(&states)
            .await
            .map_err(Failure::from)
    }

    /// One page of series for `q` (series ordered by droplet, then metric).
    pub async fn query(&self, q: &MetricQuery, now: i64) -> Result<PageOf<Series>> {
        if q.start_ms < now - self.inner.settings.retention_ms {
            return Err(ApiError::invalid(
                "start_time",
                format!(
                    "is older than the retention ({} days)",
                    self.inner.settings.retention_ms / 86_400_000
                ),
            ));
        }
        if q.too_many_points() {
            return Err(ApiError::invalid(
                "step",
                format!("a series would exceed {MAX_POINTS} points; ask for a larger step"),
            ));
        }
        let store = &self.inner.store;
        let cluster = q.cluster_id.as_str();
        let from = q.from_ms();
        let size = q.page.size as usize;
        if q.cluster_average && q.droplet_id.is_none() {
            let mut droplets = Vec::new();
            loop {
                let more = store
                    .droplets(cluster, from, droplets.last().map(String::as_str), 1000)
                    .await?;
                let done = more.len() < 1000;
                droplets.extend(more);
                if done {
                    break;
                }
            }
            let after: Option<usize> = q.page.after.as_deref().and_then(|a| a.parse().ok());
            let series: Vec<Series> = self
                .collect(q, &droplets, true)
                .await?
                .into_series()
                .into_iter()
                .filter(|s| after.is_none_or(|a| s.metric.index() > a))
                .collect();
            return Ok(PageOf::from_rows(series, q.page.size, |s| {
                s.metric.index().to_string()
            }));
        }
        // The token names the last series sent: (droplet, metric index).
        let token = q.page.after.as_deref().and_then(|t| {
            let (d, m) = t.rsplit_once('/')?;
            Some((d.to_string(), m.parse::<usize>().ok()?))
        });
        let unsent = |s: &Series| {
            token
                .as_ref()
                .is_none_or(|(d, m)| (s.droplet_id.as_str(), s.metric.index()) > (d.as_str(), *m))
        };
        let mut page = Vec::new();
        if let Some(d) = &q.droplet_id {
            let series = self
                .collect(q, &[d.to_string()], false)
                .await?
                .into_series();
            page.extend(series.into_iter().filter(|s| unsent(s)));
        } else {
            let per_droplet = q.metrics.len().max(1);
            let chunk = u32::try_from((size / per_droplet + 1).clamp(1, 500)).unwrap_or(500);
            // The token's droplet first: it may have later metrics left.
            let mut droplets: Vec<String> = token.iter().map(|(d, _)| d.clone()).collect();
            let mut cursor = token.as_ref().map(|(d, _)| d.clone());
            loop {
                droplets.extend(
                    store
                        .droplets(cluster, from, cursor.as_deref(), chunk)
                        .await?,
                );
                if droplets.is_empty() {
                    break;
                }
                cursor = droplets.last().cloned();
                let series = self.collect(q, &droplets, false).await?.into_series();
                page.extend(series.into_iter().filter(|s| unsent(s)));
                droplets.clear();
                if page.len() > size {
                    break;
                }
            }
        }
        Ok(PageOf::from_rows(page, q.page.size, |s| {
            format!("{}/{}", s.droplet_id, s.metric.index())
        }))
    }

    /// The points of `droplets` for `q`: each rollup level that divides the
    /// step up to its mark (coarsest first), raw samples after the last.
    async fn collect(
        &self,
        q: &MetricQuery,
        droplets: &[String],
        average: bool,
    ) -> Result<Buckets> {
        let store = &self.inner.store;
        let cluster = q.cluster_id.as_str();
        let mut buckets = Buckets::default();
        let mut raw_from = q.from_ms();
        let width = q.step.map(|s| s.millis());
        if let Some(step) = q.step {
            // Coarsest first, each up to its mark: a day's chart reads
            // hours, then the last hour's 5-minute buckets, then minutes,
            // and raw samples only for the last minute or so.
            for level in step.levels() {
                let Some(mark) = store.mark(level).await? else {
                    continue;
                };
                let until = mark.min(q.end_ms + 1);
                if until <= raw_from {
                    continue;
                }
                for (droplet, metric, bucket, agg) in store
                    .rollups(
                        level,
                        cluster,
                        droplets,
                        &q.metrics,
                        raw_from,
                        until,
                        step.millis(),
                        average,
                    )
                    .await?
                {
                    buckets.add(&droplet, metric, bucket, agg);
                }
                raw_from = until;
            }
        }
        if raw_from <= q.end_ms {
            let limit = match q.step {
                // One more than a series may hold, to tell when it would.
                None => u32::try_from((MAX_POINTS + 1) as usize * droplets.len())
                    .unwrap_or(RAW_ROWS)
                    .min(RAW_ROWS),
                Some(_) => RAW_ROWS,
            };
            let rows = store
                .raw(cluster, droplets, raw_from, q.end_ms, limit)
                .await?;
            if rows.len() >= RAW_ROWS as usize {
                return Err(ApiError::invalid(
                    "step",
                    "the range holds too many raw samples; ask for a step that is a multiple of 1 minute",
                ));
            }
            if q.step.is_none() {
                let mut per: std::collections::HashMap<&str, i64> =
                    std::collections::HashMap::new();
                for r in &rows {
                    let n = per.entry(r.droplet_id.as_str()).or_default();
                    *n += 1;
                    if *n > MAX_POINTS && !average {
                        return Err(ApiError::invalid(
                            "step",
                            format!("a series would exceed {MAX_POINTS} points; ask for a step"),
                        ));
                    }
                }
            }
            buckets.add_raw(&rows, &q.metrics, width, average);
            if average
                && q.step.is_none()
                && buckets.0.values().any(|p| p.len() as i64 > MAX_POINTS)
            {
                return Err(ApiError::invalid(
                    "step",
                    format!("a series would exceed {MAX_POINTS} points; ask for a step"),
                ));
            }
        }
        Ok(buckets)
    }

    /// A cluster at a glance over the last `window_ms`.
    pub async fn summary(&self, cluster: &str, window_ms: i64, now: i64) -> Result<Summary> {
        let store = &self.inner.store;
        if !store.knows(cluster).await? {
            return Err(ApiError::not_found("cluster", cluster));
        }
        let rows = store.window(cluster, now - window_ms).await?;
        let mut metrics = Vec::new();
        for m in Metric::ALL {
            let total: i64 = rows.iter().map(|r| r.samples).sum();
            if total == 0 {
                continue;
            }
            let sum: f64 = rows.iter().map(|r| r.sums[m.index()]).sum();
            let (max, max_droplet) = rows
                .iter()
                .filter(|r| r.samples > 0)
                .map(|r| (r.sums[m.index()] / r.samples as f64, r.droplet_id.clone()))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .unwrap_or_default();
            metrics.push((m, sum / total as f64, max, max_droplet));
        }
        let droplet_counts = store
            .droplet_counts(cluster)
            .await?
            .into_iter()
            .filter(|(s, _)| *s != DropletStatus::Archive)
            .collect();
        Ok(Summary {
            cluster_id: cluster.to_string(),
            metrics,
            droplet_counts,
            reporting_droplets: rows.iter().filter(|r| r.samples > 0).count() as i64,
            last_sample_ms: rows.iter().map(|r| r.last_ms).max(),
            window_ms,
        })
    }

    /// New points matching `filter` as batches are stored, until the
    /// client leaves or the service stops.
    pub fn watch(&self, filter: WatchFilter) -> ReceiverStream<Result<Vec<Series>>> {
        let (tx, rx) = mpsc::channel(16);
        let mut stored = self.inner.stored.subscribe();
        let stop = self.inner.stop.clone();
        tokio::spawn(async move {
            // Newest point sent per droplet: a redelivered batch (stored
            // once, but handed to watchers again) is not sent twice.
            let mut newest = std::collections::HashMap::new();
            loop {
                let batch = tokio::select! {
                    () = tx.closed() => return,
                    () = stop.cancelled() => {
                        let _ = tx.send(Err(ApiError::ShuttingDown)).await;
                        return;
                    }
                    b = stored.recv() => b,
                };
                let batch = match batch {
                    Ok(b) => b,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(
                            skipped = n,
                            "metrics watcher fell behind; skipping batches"
                        );
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let series = matching(&batch, &filter, &mut newest);
                if !series.is_empty() && tx.send(Ok(series)).await.is_err() {
                    return;
                }
            }
        });
        ReceiverStream::new(rx)
    }

    /// Rolls every closed bucket up (each level to `now` less the
    /// lateness) and enforces retention. Returns rollup rows written.
    pub async fn maintain(&self, now: i64) -> Result<u64> {
        let written = self.roll_up(now).await?;
        self.enforce_retention(now).await?;
        Ok(written)
    }

    pub async fn roll_up(&self, now: i64) -> Result<u64> {
        let store = &self.inner.store;
        let mut written = 0;
        for g in LEVELS {
            let target = align(now - self.inner.settings.lateness_ms, g);
            let mut from = match store.mark(g).await? {
                Some(m) => m,
                None => match store.oldest(i64::MIN).await? {
                    Some(t) => align(t, g),
                    None => continue,
                },
            };
            // Ten minutes of raw samples (or one bucket) per transaction;
            // a stretch without samples is crossed in one step.
            let span = g.max(10 * MINUTE_MS);
            while from < target {
                let until = match store.oldest(from).await? {
                    Some(t) if t < target && align(t, g) > from => align(t, g),
                    Some(t) if t < target => target.min(from + span),
                    _ => target,
                };
                written += store.roll_up(g, from, until).await?;
                from = until;
            }
        }
        if written > 0 {
            metrics::counter!("cg_monitoring_rollups_total").increment(written);
        }
        Ok(written)
    }

    pub async fn enforce_retention(&self, now: i64) -> Result<u64> {
        let store = &self.inner.store;
        let settings = &self.inner.settings;
        // Never drop samples a level has not rolled up yet.
        let mut cutoff = now - settings.raw_retention_ms;
        for g in LEVELS {
            cutoff = cutoff.min(store.mark(g).await?.unwrap_or(i64::MIN));
        }
        let mut deleted = 0;
        // Ten minutes at a time, so no one statement holds locks for long.
        while let Some(oldest) = store.oldest(i64::MIN).await?
            && oldest < cutoff
        {
            deleted += store
                .delete_raw(cutoff.min(oldest + 10 * MINUTE_MS))
                .await?;
        }
        for g in LEVELS {
            store.delete_rollups(g, now - settings.retention_ms).await?;
        }
        if deleted > 0 {
            tracing::debug!(deleted, "raw samples past retention deleted");
        }
        Ok(deleted)
    }
}

/// The points of `batch` a watcher asked for, one series per droplet and
/// metric.
fn matching(
    batch: &[Sample],
    filter: &WatchFilter,
    newest: &mut std::collections::HashMap<String, i64>,
) -> Vec<Series> {
    let mut buckets = Buckets::default();
    for s in batch {
        if s.cluster_id != filter.cluster_id
            || filter
                .droplet_id
                .as_deref()
                .is_some_and(|d| d != s.droplet_id)
        {
            continue;
        }
        let last = newest.entry(s.droplet_id.clone()).or_insert(i64::MIN);
        if s.time_ms <= *last {
            continue;
        }
        *last = s.time_ms;
        for m in &filter.metrics {
            let v = s.values[m.index()];
            let agg = Agg {
                count: 1,
                sum: v,
                min: v,
                max: v,
                p95: v,
            };
            buckets.add(&s.droplet_id, *m, s.time_ms, agg);
        }
    }
    buckets.into_series()
}

async fn ingest_loop<S: MetricStore>(inner: Arc<Inner<S>>, mut rx: mpsc::Receiver<Pending>) {
    loop {
        let first = tokio::select! {
            () = inner.stop.cancelled() => return,
            p = rx.recv() => match p {
                Some(p) => p,
                None => return,
            },
        };
        let mut rows = first.samples.len();
        let mut batch = vec![first];
        // Whatever arrived while the last write ran goes into this one.
        while rows < inner.settings.batch_rows {
            match rx.try_recv() {
                Ok(p) => {
                    rows += p.samples.len();
                    batch.push(p);
                }
                Err(_) => break,
            }
        }
        let all: Vec<Sample> = batch
            .iter()
            .flat_map(|p| p.samples.iter().cloned())
            .collect();
        match inner.store.insert(&all).await {
            Ok(new) => {
                metrics::counter!("cg_monitoring_samples_stored_total").increment(new);
                metrics::histogram!("cg_monitoring_ingest_batch_samples").record(all.len() as f64);
                for p in batch {
                    let _ = inner.stored.send(Arc::new(p.samples));
                    let _ = p.done.send(Ok(()));
                }
            }
            // One record may be what the database refuses: store each alone
            // so only that one fails.
            Err(e) if batch.len() > 1 && !e.is_transient() => {
                tracing::warn!(error = %e, records = batch.len(), "batched write refused; writing records one by one");
                for p in batch {
                    let result = inner.store.insert(&p.samples).await;
                    if result.is_ok() {
                        let _ = inner.stored.send(Arc::new(p.samples));
                    }
                    let _ = p.done.send(result.map(|_| ()).map_err(Failure::from));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, records = batch.len(), "storing samples failed");
                // As the runtime classifies it: storage failures are retried.
                let failure = Failure::from(e);
                for p in batch {
                    let _ = p.done.send(Err(failure.clone()));
                }
            }
        }
    }
}
