//! Metric history on MariaDB and on SQLite: the storage trait's cases, and
//! rollups and retention driven by a clock the test controls (every time
//! below is passed in, none read from the wall clock).

use cg_runtime::{db, page::PageRequest, types::Id};
use cg_testkit::{Backend, TestDb, on_both_backends};
use monitoring::{
    domain::{DropletStatus, HOUR_MS, MINUTE_MS, Metric, MetricQuery, Sample, Series, Step},
    repo::{DropletState, MetricStore, SqlMetrics},
    service::{Metrics, Settings},
};
use tokio_util::sync::CancellationToken;

const CLUSTER: &str = "0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6b";
const OTHER: &str = "0190b6a8-7d2c-7f3e-8a4b-00000000000f";
const D1: &str = "0190b6a8-7d2c-7f3e-8a4b-000000000001";
const D2: &str = "0190b6a8-7d2c-7f3e-8a4b-000000000002";
/// A fixed "now" far from the epoch, on an hour boundary.
const T0: i64 = 1_800_000_000_000 - 1_800_000_000_000 % HOUR_MS;

struct Suite {
    metrics: Metrics<SqlMetrics>,
    _db: TestDb,
    _stop: tokio_util::sync::DropGuard,
}

async fn suite(backend: Backend) -> Suite {
    let db = TestDb::new(backend).await;
    let migrated = db::connect(&db.config(), &db::with_runtime(&monitoring::MIGRATOR))
        .await
        .expect("migrated");
    let stop = CancellationToken::new();
    let settings = Settings {
        raw_retention_ms: 2 * HOUR_MS,
        retention_ms: 7 * 24 * HOUR_MS,
        lateness_ms: MINUTE_MS,
        batch_rows: 5000,
    };
    let (metrics, ingest) = Metrics::new(SqlMetrics::new(&migrated), settings, stop.clone());
    tokio::spawn(ingest);
    Suite {
        metrics,
        _db: db,
        _stop: stop.drop_guard(),
    }
}

fn sample(cluster: &str, droplet: &str, t: i64, cpu: f64) -> Sample {
    Sample {
        cluster_id: cluster.into(),
        droplet_id: droplet.into(),
        time_ms: t,
        values: [cpu, cpu / 2.0, 10.0, 1.0, 2.0, 0.5],
    }
}

fn query(start: i64, end: i64, step_ms: i64) -> MetricQuery {
    MetricQuery {
        cluster_id: Id::parse(CLUSTER).unwrap(),
        droplet_id: None,
        metrics: vec![Metric::Cpu],
        start_ms: start,
        end_ms: end,
        step: Step::parse(step_ms).unwrap(),
        cluster_average: false,
        page: PageRequest {
            size: 50,
            after: None,
        },
    }
}

/// Every 10 s for `minutes` from `start`; in minute m the six samples are
/// m × 10 + 1 … m × 10 + 6.
fn every_ten_seconds(droplet: &str, start: i64, minutes: i64) -> Vec<Sample> {
    (0..minutes * 6)
        .map(|i| {
            let cpu = (i / 6) as f64 * 10.0 + (i % 6) as f64 + 1.0;
            sample(CLUSTER, droplet, start + i * 10_000, cpu)
        })
        .collect()
}

async fn run(metrics: &Metrics<SqlMetrics>, q: &MetricQuery, now: i64) -> Vec<Series> {
    metrics.query(q, now).await.expect("query answers").items
}

async fn a_redelivered_batch_is_stored_once(backend: Backend) {
    let s = suite(backend).await;
    let batch = vec![sample(CLUSTER, D1, T0, 10.0), sample(CLUSTER, D2, T0, 20.0)];
    assert_eq!(s.metrics.store().insert(&batch).await.unwrap(), 2);
    assert_eq!(s.metrics.store().insert(&batch).await.unwrap(), 0);
    let mut overlapping = batch.clone();
    overlapping.push(sample(CLUSTER, D1, T0 + 10_000, 30.0));
    assert_eq!(s.metrics.store().insert(&overlapping).await.unwrap(), 1);
    let rows = s
        .metrics
        .store()
        .raw(CLUSTER, &[D1.into(), D2.into()], T0 - 1, T0 + 60_000, 100)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].values[0], 10.0, "the first write stays");
}

async fn raw_queries_answer_one_series_per_droplet_and_metric(backend: Backend) {
    let s = suite(backend).await;
    s.metrics
        .ingest(vec![
            sample(CLUSTER, D1, T0, 10.0),
            sample(CLUSTER, D1, T0 + 10_000, 20.0),
            sample(CLUSTER, D2, T0, 40.0),
            sample(OTHER, D1, T0, 99.0),
        ])
        .await
        .unwrap();
    let mut q = query(T0 - 60_000, T0 + 60_000, 0);
    q.metrics = vec![Metric::Cpu, Metric::Memory];
    let series = run(&s.metrics, &q, T0).await;
    let keys: Vec<(&str, Metric, usize)> = series
        .iter()
        .map(|s| (s.droplet_id.as_str(), s.metric, s.points.len()))
        .collect();
    assert_eq!(
        keys,
        [
            (D1, Metric::Cpu, 2),
            (D1, Metric::Memory, 2),
            (D2, Metric::Cpu, 1),
            (D2, Metric::Memory, 1)
        ]
    );
    assert_eq!(series[0].points[1].agg.sum, 20.0);
    assert_eq!(series[1].points[0].agg.sum, 5.0, "memory is cpu / 2 here");
    q.droplet_id = Some(Id::parse(D2).unwrap());
    let one = run(&s.metrics, &q, T0).await;
    assert!(one.iter().all(|s| s.droplet_id == D2));
    assert_eq!(one.len(), 2);
}

async fn pages_count_series_and_resume_where_they_stopped(backend: Backend) {
    let s = suite(backend).await;
    let droplets: Vec<String> = (1..=5)
        .map(|i| format!("0190b6a8-7d2c-7f3e-8a4b-00000000010{i}"))
        .collect();
    let batch: Vec<Sample> = droplets
        .iter()
        .map(|d| sample(CLUSTER, d, T0, 1.0))
        .collect();
    s.metrics.ingest(batch).await.unwrap();
    let mut q = query(T0 - 1, T0 + 1, 0);
    q.metrics = vec![Metric::Cpu, Metric::Disk];
    q.page.size = 3;
    let mut seen = Vec::new();
    loop {
        let page = s.metrics.query(&q, T0).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|s| (s.droplet_id.clone(), s.metric)));
        match page.next_after {
            Some(after) => q.page.after = Some(after),
            None => break,
        }
    }
    let expected: Vec<(String, Metric)> = droplets
        .iter()
        .flat_map(|d| [(d.clone(), Metric::Cpu), (d.clone(), Metric::Disk)])
        .collect();
    assert_eq!(seen, expected, "every series once, in order");
}

async fn rollups_answer_the_range_with_the_raw_averages_minimums_and_maximums(backend: Backend) {
    let s = suite(backend).await;
    let start = T0 - 3 * HOUR_MS;
    let mut all = every_ten_seconds(D1, start, 120);
    all.extend(every_ten_seconds(D2, start, 120));
    s.metrics.ingest(all).await.unwrap();
    // Before any rollup, a 5-minute step is computed from raw samples.
    let q = query(start, start + 2 * HOUR_MS - 1, 5 * MINUTE_MS);
    let from_raw = run(&s.metrics, &q, start + 2 * HOUR_MS).await;
    // An hour and a half after the data: both levels roll it up.
    let now = start + 2 * HOUR_MS + 90 * MINUTE_MS;
    let written = s.metrics.roll_up(now).await.unwrap();
    assert!(written > 0);
    let minute_mark = s.metrics.store().mark(MINUTE_MS).await.unwrap();
    assert_eq!(minute_mark, Some(now - MINUTE_MS), "a minute of lateness");
    let from_rollups = run(&s.metrics, &q, now).await;
    assert_eq!(from_rollups.len(), 2);
    for (raw, rolled) in from_raw.iter().zip(&from_rollups) {
        assert_eq!(raw.points.len(), 24, "two hours of 5-minute buckets");
        assert_eq!(raw.points.len(), rolled.points.len());
        for (a, b) in raw.points.iter().zip(&rolled.points) {
            assert_eq!(a.time_ms, b.time_ms);
            assert_eq!(a.agg.count, b.agg.count);
            assert!((a.agg.average() - b.agg.average()).abs() < 1e-9);
            assert_eq!((a.agg.min, a.agg.max), (b.agg.min, b.agg.max));
        }
    }
    // First bucket: minutes 0-4, samples 1..6, 11..16, ... 41..46.
    let first = from_rollups[0].points[0].agg;
    assert_eq!((first.count, first.min, first.max), (30, 1.0, 46.0));
    assert!((first.average() - 23.5).abs() < 1e-9);
    // An hourly step reads the hour level: one point per hour, 360 samples.
    let hourly = run(
        &s.metrics,
        &query(start, start + 2 * HOUR_MS - 1, HOUR_MS),
        now,
    )
    .await;
    assert_eq!(hourly[0].points.len(), 2);
    assert_eq!(hourly[0].points[0].agg.count, 360);
    assert_eq!(hourly[0].points[0].agg.max, 596.0);
    // The cluster average pools both droplets.
    let mut avg = query(start, start + 2 * HOUR_MS - 1, HOUR_MS);
    avg.cluster_average = true;
    let pooled = run(&s.metrics, &avg, now).await;
    assert_eq!(pooled.len(), 1);
    assert_eq!(pooled[0].droplet_id, "");
    assert_eq!(pooled[0].points[0].agg.count, 720);
    // A rerun changes nothing.
    s.metrics.roll_up(now).await.unwrap();
    assert_eq!(run(&s.metrics, &q, now).await, from_rollups);
}

async fn raw_samples_go_after_their_window_and_rollups_still_answer(backend: Backend) {
    let s = suite(backend).await;
    let start = T0 - 3 * HOUR_MS;
    s.metrics
        .ingest(every_ten_seconds(D1, start, 60))
        .await
        .unwrap();
    let q = query(start, start + HOUR_MS - 1, MINUTE_MS);
    let before = run(&s.metrics, &q, start + HOUR_MS).await;
    // Nothing is deleted before it is rolled up, however old.
    let late = start + 5 * HOUR_MS;
    assert_eq!(s.metrics.enforce_retention(late).await.unwrap(), 0);
    s.metrics.maintain(late).await.unwrap();
    let raw = s
        .metrics
        .store()
        .raw(CLUSTER, &[D1.into()], start, start + HOUR_MS, 10_000)
        .await
        .unwrap();
    assert!(raw.is_empty(), "raw samples past the 2 h window are gone");
    let after = run(&s.metrics, &q, late).await;
    assert_eq!(after, before, "the 1-minute rollups answer the same range");
    assert_eq!(after[0].points.len(), 60);
    // Past retention, a query is refused and rollups are dropped.
    let much_later = start + 8 * 24 * HOUR_MS;
    let err = s.metrics.query(&q, much_later).await.unwrap_err();
    assert!(err.to_string().contains("start_time"), "{err}");
    s.metrics.maintain(much_later).await.unwrap();
    let left = s
        .metrics
        .store()
        .rollups(
            MINUTE_MS,
            CLUSTER,
            &[D1.into()],
            &[Metric::Cpu],
            0,
            much_later,
            MINUTE_MS,
            false,
        )
        .await
        .unwrap();
    assert!(left.is_empty(), "rollups past retention are gone");
}

async fn series_longer_than_ten_thousand_points_are_refused(backend: Backend) {
    let s = suite(backend).await;
    let q = query(T0 - 2 * 24 * HOUR_MS, T0, 10_000);
    let err = s.metrics.query(&q, T0).await.unwrap_err();
    assert!(err.to_string().contains("step"), "{err}");
}

async fn summaries_average_the_window_and_count_droplets_by_status(backend: Backend) {
    let s = suite(backend).await;
    let unknown = s.metrics.summary(CLUSTER, MINUTE_MS, T0).await.unwrap_err();
    assert!(unknown.to_string().contains("not found"), "{unknown}");
    let store = s.metrics.store();
    store
        .record_droplet(D1, CLUSTER, DropletStatus::Active, T0 - 5_000)
        .await
        .unwrap();
    store
        .record_droplet(D2, CLUSTER, DropletStatus::New, T0 - 5_000)
        .await
        .unwrap();
    // A late, older event does not roll a status back.
    store
        .record_droplet(D1, CLUSTER, DropletStatus::New, T0 - 9_000)
        .await
        .unwrap();
    let gone = "0190b6a8-7d2c-7f3e-8a4b-000000000003";
    store
        .record_droplet(gone, CLUSTER, DropletStatus::Archive, T0)
        .await
        .unwrap();
    s.metrics
        .ingest(vec![
            sample(CLUSTER, D1, T0 - 120_000, 90.0),
            sample(CLUSTER, D1, T0 - 20_000, 10.0),
            sample(CLUSTER, D1, T0 - 10_000, 30.0),
            sample(CLUSTER, D2, T0 - 10_000, 80.0),
        ])
        .await
        .unwrap();
    let sum = s.metrics.summary(CLUSTER, MINUTE_MS, T0).await.unwrap();
    assert_eq!(sum.reporting_droplets, 2);
    assert_eq!(sum.last_sample_ms, Some(T0 - 10_000));
    let cpu = sum.metrics.iter().find(|m| m.0 == Metric::Cpu).unwrap();
    assert!(
        (cpu.1 - 40.0).abs() < 1e-9,
        "(10 + 30 + 80) / 3, the 2-minute-old one left out: {}",
        cpu.1
    );
    assert_eq!((cpu.2, cpu.3.as_str()), (80.0, D2));
    assert_eq!(
        sum.droplet_counts,
        vec![(DropletStatus::New, 1), (DropletStatus::Active, 1)]
    );
}

/// Droplet events consumed together are one upsert that ends as the same
/// events one by one would: the newest event wins, whatever the order, and
/// a droplet moved to another cluster is counted there.
async fn droplet_states_recorded_together_keep_the_newest_event(backend: Backend) {
    let s = suite(backend).await;
    let store = s.metrics.store();
    let state = |droplet: &str, cluster: &str, status: DropletStatus, event_ms: i64| DropletState {
        droplet: droplet.into(),
        cluster: cluster.into(),
        status,
        event_ms,
    };
    store
        .record_droplet(D1, CLUSTER, DropletStatus::Active, T0)
        .await
        .unwrap();
    let third = "0190b6a8-7d2c-7f3e-8a4b-000000000004";
    store
        .record_droplets(&[
            // Older than what is stored: left as it is.
            state(D1, CLUSTER, DropletStatus::New, T0 - 1_000),
            state(D2, CLUSTER, DropletStatus::New, T0),
            state(D2, CLUSTER, DropletStatus::Active, T0 + 1_000),
            // Older than the one before it in the same batch.
            state(D2, CLUSTER, DropletStatus::New, T0 + 500),
            state(third, CLUSTER, DropletStatus::Active, T0),
            state(third, OTHER, DropletStatus::Off, T0 + 1),
        ])
        .await
        .unwrap();
    store.record_droplets(&[]).await.unwrap();
    assert_eq!(
        store.droplet_counts(CLUSTER).await.unwrap(),
        vec![(DropletStatus::Active, 2)]
    );
    assert_eq!(
        store.droplet_counts(OTHER).await.unwrap(),
        vec![(DropletStatus::Off, 1)]
    );
}

on_both_backends!(
    a_redelivered_batch_is_stored_once,
    raw_queries_answer_one_series_per_droplet_and_metric,
    pages_count_series_and_resume_where_they_stopped,
    rollups_answer_the_range_with_the_raw_averages_minimums_and_maximums,
    raw_samples_go_after_their_window_and_rollups_still_answer,
    series_longer_than_ten_thousand_points_are_refused,
    summaries_average_the_window_and_count_droplets_by_status,
    droplet_states_recorded_together_keep_the_newest_event,
);
