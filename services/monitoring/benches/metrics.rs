//! Metric history on MariaDB: ingest throughput (records of one cluster's
//! tick, written by as many concurrent handlers as the consumer has lanes,
//! and through a tansu broker end to end), and QueryMetrics latency for a
//! 24 h chart of a 50-droplet cluster over a store of ≥ 1 million samples.
//!
//! `just bench-monitoring` (or `cargo bench -p monitoring --bench metrics -- --help`).

use std::time::{Duration, Instant};

use cg_runtime::{
    kafka::{Outgoing, Producer},
    new_id,
    time::{now_millis, timestamp},
    topic::topics,
};
use cg_testkit::{Backend, Broker, Storage, TestDb, config_for};
use clap::Parser;
use clustergenie_proto::{events::v1 as ev, monitoring::v1 as pb};
use hdrhistogram::Histogram;
use monitoring::{
    MonitoringService,
    domain::{HOUR_MS, Sample},
    repo::{MetricStore, SqlMetrics},
    service::{Metrics, Settings},
};
use prost::Message as _;

#[derive(Debug, Parser)]
struct Args {
    /// Samples written in the ingest runs.
    #[arg(long, default_value_t = 300_000)]
    samples: usize,
    /// Droplets per cluster (samples per record).
    #[arg(long, default_value_t = 50)]
    droplets: usize,
    /// Concurrent writers (the consumer's lanes: partitions).
    #[arg(long, default_value_t = 6)]
    writers: usize,
    /// Samples stored before the query run (at least one cluster's day).
    #[arg(long, default_value_t = 1_100_000)]
    stored: usize,
    /// Queries per measured shape.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Skip the broker run.
    #[arg(long)]
    no_broker: bool,
    /// Accepted for `cargo bench` compatibility.
    #[arg(long, hide = true)]
    bench: bool,
}

fn tick(cluster: &str, droplets: &[String], t: i64) -> Vec<Sample> {
    droplets
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let x = (t / 10_000 + i as i64) as f64;
            Sample {
                cluster_id: cluster.to_string(),
                droplet_id: d.clone(),
                time_ms: t,
                values: [
                    (x * 0.37).sin().abs() * 90.0,
                    40.0 + (x * 0.11).cos() * 10.0,
                    55.0,
                    (x * 0.7).sin().abs() * 100.0,
                    (x * 0.3).sin().abs() * 80.0,
                    (x * 0.05).sin().abs() * 4.0,
                ],
            }
        })
        .collect()
}

async fn metrics_on(
    db: &TestDb,
    stop: &tokio_util::sync::CancellationToken,
) -> Metrics<SqlMetrics> {
    let migrated = cg_runtime::db::connect(
        &db.config(),
        &cg_runtime::db::with_runtime(&monitoring::MIGRATOR),
    )
    .await
    .expect("migrated");
    let (metrics, ingest) = Metrics::new(
        SqlMetrics::new(&migrated),
        Settings::default(),
        stop.clone(),
    );
    tokio::spawn(ingest);
    metrics
}

/// Records of `droplets` samples from `writers` concurrent handlers.
async fn ingest_direct(args: &Args) -> f64 {
    let db = TestDb::new(Backend::MySql).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let metrics = metrics_on(&db, &stop).await;
    let records = args.samples / args.droplets;
    let clusters: Vec<(String, Vec<String>)> = (0..args.writers)
        .map(|_| (new_id(), (0..args.droplets).map(|_| new_id()).collect()))
        .collect();
    let start = now_millis() - 2 * HOUR_MS;
    let began = Instant::now();
    let mut tasks = Vec::new();
    for (w, (cluster, droplets)) in clusters.into_iter().enumerate() {
        let metrics = metrics.clone();
        let mine = records / args.writers + usize::from(w < records % args.writers);
        tasks.push(tokio::spawn(async move {
            for i in 0..mine {
                let t = start + i as i64 * 1000;
                metrics
                    .ingest(tick(&cluster, &droplets, t))
                    .await
                    .expect("stored");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = began.elapsed().as_secs_f64();
    stop.cancel();
    (records * args.droplets) as f64 / secs
}

/// Records published first, then the service started: the rate at which
/// its consumer drains the topic into MariaDB.
async fn ingest_through_broker(args: &Args) -> f64 {
    let broker = Broker::start(Storage::Memory);
    let db = TestDb::new(Backend::MySql).await;
    let mut kafka = broker.kafka();
    kafka.partitions = 6;
    // The topic must exist before the producer writes; the service creates it.
    let mut config = config_for::<MonitoringService>(Some(&db), Some(&broker));
    config.common.kafka = Some(kafka.clone());
    let server = cg_testkit::start::<MonitoringService>(&config).await;
    server.stop().await.unwrap();
    let producer = Producer::new(&kafka).unwrap();
    let records = args.samples / args.droplets;
    let clusters: Vec<(String, Vec<String>)> = (0..24)
        .map(|_| (new_id(), (0..args.droplets).map(|_| new_id()).collect()))
        .collect();
    let start = now_millis() - 2 * HOUR_MS;
    let event_type = <ev::MetricSamples as prost::Name>::full_name();
    let mut payloads = Vec::with_capacity(records);
    for i in 0..records {
        let (cluster, droplets) = &clusters[i % clusters.len()];
        let t = start + (i / clusters.len()) as i64 * 1000;
        let samples = tick(cluster, droplets, t)
            .into_iter()
            .map(|s| ev::MetricSample {
                droplet_id: s.droplet_id,
                cluster_id: s.cluster_id,
                time: Some(timestamp(s.time_ms)),
                cpu_percent: s.values[0],
                memory_percent: s.values[1],
                disk_percent: s.values[2],
                network_in_mbps: s.values[3],
                network_out_mbps: s.values[4],
                load_1m: s.values[5],
            })
            .collect();
        payloads.push((
            cluster.clone(),
            new_id(),
            ev::MetricSamples { samples }.encode_to_vec(),
        ));
    }
    for chunk in payloads.chunks(500) {
        let out: Vec<Outgoing<'_>> = chunk
            .iter()
            .map(|(cluster, id, payload)| Outgoing {
                topic: topics::METRICS_SAMPLES.name,
                key: cluster,
                event_id: id,
                event_type: &event_type,
                payload,
                traceparent: None,
            })
            .collect();
        producer.send_all(&out).await.expect("published");
    }
    let began = Instant::now();
    let server = cg_testkit::start::<MonitoringService>(&config).await;
    let pool = db.pool().await;
    let want = i64::try_from(records * args.droplets).unwrap();
    loop {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM metric_samples")
            .fetch_one(&pool)
            .await
            .unwrap();
        if n >= want {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(600),
            "ingest stalled at {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secs = began.elapsed().as_secs_f64();
    server.stop().await.unwrap();
    want as f64 / secs
}

async fn query_latency(args: &Args) -> Vec<String> {
    let db = TestDb::new(Backend::MySql).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let metrics = metrics_on(&db, &stop).await;
    let now = now_millis();
    let day_start = now - 24 * HOUR_MS;
    // The charted cluster: 50 droplets every 10 s for a day (432,000);
    // other clusters fill the store to `stored`.
    let target = new_id();
    let target_droplets: Vec<String> = (0..50).map(|_| new_id()).collect();
    let mut total = 0;
    let mut t = day_start;
    while t < now {
        let mut batch = Vec::with_capacity(5000);
        while batch.len() < 5000 && t < now {
            batch.extend(tick(&target, &target_droplets, t));
            t += 10_000;
        }
        total += batch.len();
        metrics.store().insert(&batch).await.unwrap();
    }
    let mut filler = 0;
    while total < args.stored {
        let cluster = new_id();
        let droplets: Vec<String> = (0..50).map(|_| new_id()).collect();
        let mut t = now - 24 * HOUR_MS + filler * 7_000;
        while t < now && total < args.stored {
            let mut batch = Vec::with_capacity(5000);
            while batch.len() < 5000 && t < now {
                batch.extend(tick(&cluster, &droplets, t));
                t += 10_000;
            }
            total += batch.len();
            metrics.store().insert(&batch).await.unwrap();
        }
        filler += 1;
    }
    let rolled = Instant::now();
    metrics.roll_up(now).await.unwrap();
    eprintln!(
        "stored {total} samples; rolled up in {:.1} s",
        rolled.elapsed().as_secs_f64()
    );
    // Serve them over gRPC, as the dashboard reads them.
    let mut config = config_for::<MonitoringService>(Some(&db), None);
    config.rollup_interval = Duration::from_secs(3600);
    let server = cg_testkit::start::<MonitoringService>(&config).await;
    let mut client = pb::metrics_service_client::MetricsServiceClient::new(
        cg_testkit::channel(&server.endpoint()).await,
    );
    let shapes: [(&str, i64, Vec<i32>, bool); 4] = [
        (
            "cpu, per droplet, 5 min step (288 points × 50)",
            300,
            vec![1],
            false,
        ),
        (
            "all 6 metrics, per droplet, 5 min step (300 series)",
            300,
            vec![],
            false,
        ),
        ("cpu, cluster average, 5 min step", 300, vec![1], true),
        ("cpu, per droplet, 1 h step", 3600, vec![1], false),
    ];
    let mut rows = Vec::new();
    for (name, step, kinds, average) in shapes {
        let mut hist = Histogram::<u64>::new(3).unwrap();
        let mut points = 0;
        for i in 0..args.queries + 10 {
            let began = Instant::now();
            let mut token = String::new();
            let mut n = 0;
            loop {
                let page = client
                    .query_metrics(pb::QueryMetricsRequest {
                        cluster_id: target.clone(),
                        metrics: kinds.clone(),
                        start_time: Some(timestamp(now - 24 * HOUR_MS)),
                        end_time: Some(timestamp(now)),
                        step: Some(prost_types::Duration {
                            seconds: step,
                            nanos: 0,
                        }),
                        cluster_average: average,
                        page_size: 1000,
                        page_token: token,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                n += page.series.iter().map(|s| s.points.len()).sum::<usize>();
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
            // The first ten warm the caches and are not counted.
            if i >= 10 {
                hist.record(u64::try_from(began.elapsed().as_micros()).unwrap())
                    .unwrap();
            }
            points = n;
        }
        let row = format!(
            "| {name} | {points} | {:.1} ms | {:.1} ms |",
            hist.value_at_quantile(0.5) as f64 / 1000.0,
            hist.value_at_quantile(0.99) as f64 / 1000.0
        );
        eprintln!("{row}");
        rows.push(row);
    }
    server.stop().await.unwrap();
    stop.cancel();
    rows
}

/// `watchers` StreamActivity clients over gRPC; entries stored at a steady
/// rate; each entry's delay from store to every watcher.
async fn activity_fanout(watchers: usize, entries: usize) -> String {
    use futures::StreamExt as _;
    let db = TestDb::new(Backend::MySql).await;
    let server =
        cg_testkit::start::<MonitoringService>(&config_for::<MonitoringService>(Some(&db), None))
            .await;
    let channel = cg_testkit::channel(&server.endpoint()).await;
    let cluster = new_id();
    let mut streams = Vec::new();
    for _ in 0..watchers {
        let mut client = pb::activity_service_client::ActivityServiceClient::new(channel.clone());
        streams.push(
            client
                .stream_activity(pb::StreamActivityRequest {
                    cluster_id: cluster.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner(),
        );
    }
    let began = Instant::now();
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let mut delays = Vec::with_capacity(entries);
                while delays.len() < entries {
                    let Some(Ok(msg)) = s.next().await else { break };
                    let e = msg.entry.unwrap();
                    let sent: i64 = e.message.parse().unwrap();
                    delays.push(now_millis() - sent);
                }
                delays
            })
        })
        .collect();
    let log = server.service().activity.clone();
    for _ in 0..entries {
        let now = now_millis();
        let entry = monitoring::activity::Entry {
            seq: 0,
            id: new_id(),
            time_ms: now,
            cluster_id: cluster.clone(),
            source: "bench".into(),
            kind: "bench.entry".into(),
            severity: monitoring::activity::Severity::Info,
            message: now.to_string(),
            droplet_id: String::new(),
            job_id: String::new(),
            diagnosis_id: String::new(),
            decision_id: String::new(),
            health_check_id: String::new(),
            trace_id: String::new(),
            attributes: Default::default(),
        };
        log.record(vec![entry]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut hist = Histogram::<u64>::new(3).unwrap();
    let mut delivered = 0;
    for r in readers {
        for d in r.await.unwrap() {
            hist.record(u64::try_from(d).unwrap_or(0)).unwrap();
            delivered += 1;
        }
    }
    let secs = began.elapsed().as_secs_f64();
    server.stop().await.unwrap();
    format!(
        "| {watchers} watchers, {entries} entries at 100/s | {delivered} of {} | {:.0} | {} ms | {} ms |",
        watchers * entries,
        delivered as f64 / secs,
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99)
    )
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    cg_runtime::telemetry::init_for_tests();
    let direct = ingest_direct(&args).await;
    eprintln!("ingest, {} writers: {direct:.0} samples/s", args.writers);
    let broker = if args.no_broker {
        None
    } else {
        let r = ingest_through_broker(&args).await;
        eprintln!("ingest through the broker: {r:.0} samples/s");
        Some(r)
    };
    let fanout = activity_fanout(100, 500).await;
    eprintln!("{fanout}");
    let queries = query_latency(&args).await;
    println!();
    println!("| ingest into MariaDB | samples/s |");
    println!("|---|---:|");
    println!(
        "| {} samples in records of {}, {} concurrent writers | {direct:.0} |",
        args.samples, args.droplets, args.writers
    );
    if let Some(r) = broker {
        println!(
            "| the same through tansu (consumer draining a filled topic, 6 partitions) | {r:.0} |"
        );
    }
    println!();
    println!(
        "| QueryMetrics, 24 h, 50 droplets, {} samples stored | points | p50 | p99 |",
        args.stored
    );
    println!("|---|---:|---:|---:|");
    for r in queries {
        println!("{r}");
    }
    println!();
    println!("| StreamActivity fan-out | delivered | deliveries/s | delay p50 | delay p99 |");
    println!("|---|---:|---:|---:|---:|");
    println!("{fanout}");
}
