//! Monitoring's domain: metric kinds, samples, queries and their answers,
//! free of protobuf and SQL. Requests are parsed into these once, at the
//! boundary (`grpc`), so nothing behind it holds a bad range or step.

use std::collections::BTreeMap;

use cg_runtime::{page::PageRequest, types::Id};

pub const SECOND_MS: i64 = 1000;
pub const MINUTE_MS: i64 = 60 * SECOND_MS;
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Rollup granularities, finest first. A query with a `step` reads, of
/// the levels that divide its step, the coarsest one up to its mark, then
/// each finer one up to its own, then raw samples.
pub const LEVELS: [i64; 3] = [MINUTE_MS, 5 * MINUTE_MS, HOUR_MS];

/// At most this many points per series in one answer.
pub const MAX_POINTS: i64 = 10_000;

/// What a droplet reports, in `MetricKind` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Cpu,
    Memory,
    Disk,
    NetworkIn,
    NetworkOut,
    Load1m,
}

impl Metric {
    pub const ALL: [Self; 6] = [
        Self::Cpu,
        Self::Memory,
        Self::Disk,
        Self::NetworkIn,
        Self::NetworkOut,
        Self::Load1m,
    ];

    /// Its column in `metric_samples` (and the prefix of its rollup columns).
    pub fn column(self) -> &'static str {
        match self {
            Self::Cpu => "cpu_percent",
            Self::Memory => "memory_percent",
            Self::Disk => "disk_percent",
            Self::NetworkIn => "network_in_mbps",
            Self::NetworkOut => "network_out_mbps",
            Self::Load1m => "load_1m",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// One droplet's load at one time: every metric at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub cluster_id: String,
    pub droplet_id: String,
    pub time_ms: i64,
    /// Indexed by [`Metric::index`].
    pub values: [f64; 6],
}

/// Bucket width of a query: 10 s – 1 day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step(i64);

impl Step {
    /// `None` for zero (raw samples).
    pub fn parse(millis: i64) -> Result<Option<Self>, String> {
        match millis {
            0 => Ok(None),
            m if m < 10 * SECOND_MS => Err("must be zero (raw samples) or at least 10s".into()),
            m if m > DAY_MS => Err("must be at most 1 day".into()),
            m if m % SECOND_MS != 0 => Err("must be a whole number of seconds".into()),
            m => Ok(Some(Self(m))),
        }
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// The rollup levels this step is a multiple of, coarsest first.
    pub fn levels(self) -> impl Iterator<Item = i64> {
        LEVELS.into_iter().rev().filter(move |g| self.0 % g == 0)
    }
}

/// `t` rounded down to a multiple of `width`.
pub fn align(t: i64, width: i64) -> i64 {
    t - t.rem_euclid(width)
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    pub cluster_id: Id,
    pub droplet_id: Option<Id>,
    /// Sorted, without repeats, never empty.
    pub metrics: Vec<Metric>,
    /// Inclusive, in ms; `start_ms < end_ms`.
    pub start_ms: i64,
    pub end_ms: i64,
    pub step: Option<Step>,
    pub cluster_average: bool,
    pub page: PageRequest,
}

impl MetricQuery {
    /// Where the first bucket starts: `start_ms`, or with a step the start
    /// of the bucket holding it.
    pub fn from_ms(&self) -> i64 {
        self.step
            .map_or(self.start_ms, |s| align(self.start_ms, s.millis()))
    }

    /// Too many points for one series: the range over the step.
    pub fn too_many_points(&self) -> bool {
        self.step
            .is_some_and(|s| (self.end_ms - self.from_ms()) / s.millis() + 1 > MAX_POINTS)
    }
}

/// A mergeable summary of some samples of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agg {
    pub count: i64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub p95: f64,
}

impl Agg {
    /// Exact summary of `values` (nearest-rank 95th percentile).
    pub fn of(values: &mut [f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let rank = (n * 95).div_ceil(100).max(1);
        Some(Self {
            count: i64::try_from(n).unwrap_or(i64::MAX),
            sum: values.iter().sum(),
            min: values[0],
            max: values[n - 1],
            p95: values[rank - 1],
        })
    }

    /// Both together. Count, sum, min and max stay exact; the percentile
    /// becomes the larger of the two (an upper bound).
    pub fn merge(self, other: Self) -> Self {
        Self {
            count: self.count + other.count,
            sum: self.sum + other.sum,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
            p95: self.p95.max(other.p95),
        }
    }

    pub fn average(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum / self.count as f64
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub time_ms: i64,
    pub agg: Agg,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Empty for a cluster average.
    pub droplet_id: String,
    pub metric: Metric,
    pub points: Vec<Point>,
}

/// Partial aggregates by (droplet, metric) then bucket, merged as parts of
/// a query (rollups, then raw samples past the rollup mark) arrive.
#[derive(Debug, Default)]
pub struct Buckets(pub BTreeMap<(String, Metric), BTreeMap<i64, Agg>>);

impl Buckets {
    pub fn add(&mut self, droplet: &str, metric: Metric, bucket: i64, agg: Agg) {
        self.0
            .entry((droplet.to_string(), metric))
            .or_default()
            .entry(bucket)
            .and_modify(|a| *a = a.merge(agg))
            .or_insert(agg);
    }

    /// Raw samples grouped into buckets of `width` (per droplet, or across
    /// droplets when `average`), each bucket summarised exactly.
    pub fn add_raw(
        &mut self,
        rows: &[Sample],
        metrics: &[Metric],
        width: Option<i64>,
        average: bool,
    ) {
        let mut values: BTreeMap<(String, Metric, i64), Vec<f64>> = BTreeMap::new();
        for s in rows {
            let bucket = width.map_or(s.time_ms, |w| align(s.time_ms, w));
            let droplet = if average { "" } else { s.droplet_id.as_str() };
            for m in metrics {
                values
                    .entry((droplet.to_string(), *m, bucket))
                    .or_default()
                    .push(s.values[m.index()]);
            }
        }
        for ((droplet, metric, bucket), mut v) in values {
            if let Some(agg) = Agg::of(&mut v) {
                self.add(&droplet, metric, bucket, agg);
            }
        }
    }

    pub fn into_series(self) -> Vec<Series> {
        self.0
            .into_iter()
            .map(|((droplet_id, metric), points)| Series {
                droplet_id,
                metric,
                points: points
                    .into_iter()
                    .map(|(time_ms, agg)| Point { time_ms, agg })
                    .collect(),
            })
            .collect()
    }
}

/// One rollup row: a droplet's bucket of one granularity, every metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollup {
    pub cluster_id: String,
    pub droplet_id: String,
    pub bucket_ms: i64,
    pub metrics: [Agg; 6],
}

/// Raw samples summarised into buckets of `granularity`, per droplet.
pub fn roll_up(samples: &[Sample], granularity: i64) -> Vec<Rollup> {
    let mut groups: BTreeMap<(&str, &str, i64), Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        groups
            .entry((&s.cluster_id, &s.droplet_id, align(s.time_ms, granularity)))
            .or_default()
            .push(s);
    }
    groups
        .into_iter()
        .map(|((cluster, droplet, bucket), rows)| {
            let metrics = Metric::ALL.map(|m| {
                let mut v: Vec<f64> = rows.iter().map(|s| s.values[m.index()]).collect();
                Agg::of(&mut v).unwrap_or(Agg {
                    count: 0,
                    sum: 0.0,
                    min: 0.0,
                    max: 0.0,
                    p95: 0.0,
                })
            });
            Rollup {
                cluster_id: cluster.to_string(),
                droplet_id: droplet.to_string(),
                bucket_ms: bucket,
                metrics,
            }
        })
        .collect()
}

/// A cluster at a glance over a recent window.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub cluster_id: String,
    /// Per metric: average across reporting droplets, and the highest
    /// droplet average with its droplet.
    pub metrics: Vec<(Metric, f64, f64, String)>,
    /// Droplet counts by status (archived droplets left out).
    pub droplet_counts: Vec<(DropletStatus, i64)>,
    pub reporting_droplets: i64,
    pub last_sample_ms: Option<i64>,
    pub window_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropletStatus {
    New,
    Active,
    Off,
    Archive,
}

impl DropletStatus {
    pub const ALL: [Self; 4] = [Self::New, Self::Active, Self::Off, Self::Archive];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Active => "active",
            Self::Off => "off",
            Self::Archive => "archive",
        }
    }

    pub fn from_column(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(droplet: &str, t: i64, cpu: f64) -> Sample {
        Sample {
            cluster_id: "c".into(),
            droplet_id: droplet.into(),
            time_ms: t,
            values: [cpu, 0.0, 0.0, 0.0, 0.0, 0.0],
        }
    }

    #[test]
    fn a_zero_step_means_raw_samples() {
        assert_eq!(Step::parse(0), Ok(None));
    }

    #[test]
    fn steps_shorter_than_ten_seconds_are_rejected() {
        assert!(Step::parse(9_000).is_err());
        assert!(Step::parse(-1).is_err());
    }

    #[test]
    fn steps_longer_than_a_day_are_rejected() {
        assert!(Step::parse(DAY_MS + SECOND_MS).is_err());
        assert!(Step::parse(DAY_MS).unwrap().is_some());
    }

    #[test]
    fn a_step_reads_the_levels_that_divide_it_coarsest_first() {
        let levels = |ms| {
            Step::parse(ms)
                .unwrap()
                .unwrap()
                .levels()
                .collect::<Vec<_>>()
        };
        assert_eq!(levels(30_000), Vec::<i64>::new());
        assert_eq!(levels(2 * MINUTE_MS), [MINUTE_MS]);
        assert_eq!(levels(10 * MINUTE_MS), [5 * MINUTE_MS, MINUTE_MS]);
        assert_eq!(levels(2 * HOUR_MS), [HOUR_MS, 5 * MINUTE_MS, MINUTE_MS]);
    }

    #[test]
    fn the_95th_percentile_is_the_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let a = Agg::of(&mut v).unwrap();
        assert_eq!((a.count, a.min, a.max, a.p95), (100, 1.0, 100.0, 95.0));
        assert!((a.average() - 50.5).abs() < 1e-9);
        let mut one = vec![7.0];
        assert_eq!(Agg::of(&mut one).unwrap().p95, 7.0);
        assert_eq!(Agg::of(&mut []), None);
    }

    #[test]
    fn merged_aggregates_keep_count_sum_min_and_max_exact() {
        let a = Agg::of(&mut [1.0, 2.0, 3.0]).unwrap();
        let b = Agg::of(&mut [10.0]).unwrap();
        let m = a.merge(b);
        assert_eq!(
            (m.count, m.sum, m.min, m.max, m.p95),
            (4, 16.0, 1.0, 10.0, 10.0)
        );
        assert!((m.average() - 4.0).abs() < 1e-9);
    }

    #[test]
    fn rollups_summarise_each_droplet_per_bucket() {
        let rows = [
            sample("a", 0, 10.0),
            sample("a", 30_000, 20.0),
            sample("a", 60_000, 90.0),
            sample("b", 10_000, 50.0),
        ];
        let r = roll_up(&rows, MINUTE_MS);
        assert_eq!(r.len(), 3);
        let first = &r[0];
        assert_eq!((first.droplet_id.as_str(), first.bucket_ms), ("a", 0));
        assert_eq!(first.metrics[0].count, 2);
        assert_eq!(first.metrics[0].sum, 30.0);
        assert_eq!(first.metrics[0].max, 20.0);
        assert_eq!((r[1].bucket_ms, r[1].metrics[0].min), (60_000, 90.0));
        assert_eq!(r[2].droplet_id, "b");
    }

    #[test]
    fn cluster_averages_pool_every_droplets_samples_per_bucket() {
        let rows = [
            sample("a", 0, 10.0),
            sample("b", 0, 30.0),
            sample("b", 70_000, 5.0),
        ];
        let mut b = Buckets::default();
        b.add_raw(&rows, &[Metric::Cpu], Some(MINUTE_MS), true);
        let series = b.into_series();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].droplet_id, "");
        let p = &series[0].points;
        assert_eq!(p.len(), 2);
        assert!((p[0].agg.average() - 20.0).abs() < 1e-9);
        assert_eq!(p[1].time_ms, 60_000);
    }

    #[test]
    fn the_first_bucket_starts_on_a_multiple_of_the_step() {
        assert_eq!(align(125_000, MINUTE_MS), 120_000);
        assert_eq!(align(-1, MINUTE_MS), -MINUTE_MS);
    }
}
