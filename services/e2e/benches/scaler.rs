//! The scaler's reaction time: a breaching sample batch published to
//! `cg.metrics.samples` → the scaler (its own consumer group) evaluates the
//! cluster → records the decision → jobs has the SCALE_CLUSTER job. Measured
//! on the launcher's mesh (MariaDB, tansu) from just before the publish to
//! the job being listed (polled every 2 ms), once per cluster.
//!
//! `just bench-scaler` (or `cargo bench -p e2e --bench scaler -- --help`).

use std::time::{Duration, Instant};

use cg_runtime::{
    kafka::{Outgoing, Producer},
    new_id,
    time::{now_millis, timestamp},
    topic::topics,
};
use clap::Parser;
use clustergenie_proto::{
    events::v1 as ev, jobs::v1 as jpb, monitoring::v1 as mpb, provisioning::v1 as ppb,
    scaler::v1 as spb,
};
use e2e::{Flow, FlowOptions};
use hdrhistogram::Histogram;

#[derive(Debug, Parser)]
struct Args {
    /// Clusters, one breach each.
    #[arg(long, default_value_t = 100)]
    clusters: usize,
    /// How long a consumer's fetch may wait, in ms (tansu holds it that long).
    #[arg(long, default_value_t = 20)]
    fetch_wait_ms: u64,
    /// Accepted for `cargo bench` compatibility.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let flow = Flow::start_with(FlowOptions {
        kafka: cg_runtime::kafka::KafkaConfig {
            partitions: 2,
            fetch_wait: Duration::from_millis(args.fetch_wait_ms),
            ..Default::default()
        },
        cloud: provisioning::cloud::CloudConfig {
            boot_delay: Duration::ZERO,
            action_duration: Duration::ZERO,
            region_capacity: provisioning::cloud::MAX_REGION_CAPACITY,
            ..e2e::fast_cloud()
        },
        ..FlowOptions::default()
    })
    .await;
    let mut c = flow.clients().await;
    let mut jobs = flow.jobs().await;
    let mut scaler = spb::scaler_service_client::ScalerServiceClient::new(
        e2e::channel(&flow.mesh.endpoint("scaler")).await,
    );
    let producer = Producer::new(&flow.kafka).expect("a producer");

    // Clusters of one big droplet each (idle at any hour), each with a CPU
    // policy that acts at once.
    eprintln!("setting up {} clusters", args.clusters);
    let mut targets = Vec::new();
    for i in 0..args.clusters {
        let cluster = c.cluster(&format!("bench-{i}"), "nyc3").await.id;
        let droplet = c
            .droplets
            .create_droplet(ppb::CreateDropletRequest {
                size: "s-4vcpu-8gb".into(),
                ..cg_testkit::provisioning::Clients::droplet_request(&cluster, "web")
            })
            .await
            .expect("a droplet")
            .into_inner()
            .droplet
            .unwrap();
        c.wait_droplet(&droplet.id, ppb::DropletStatus::Active)
            .await;
        scaler
            .create_policy(spb::CreatePolicyRequest {
                cluster_id: cluster.clone(),
                name: "cpu".into(),
                metric: mpb::MetricKind::CpuPercent as i32,
                target_value: 60.0,
                min_droplets: 1,
                max_droplets: 10,
                size: "s-1vcpu-1gb".into(),
                image: "ubuntu-24-04-x64".into(),
                enabled: true,
                ..Default::default()
            })
            .await
            .expect("a policy");
        targets.push((cluster, droplet.id));
    }

    let mut hist = Histogram::<u64>::new(3).unwrap();
    let mut missed = 0;
    for (n, (cluster, droplet)) in targets.iter().enumerate() {
        let batch = ev::MetricSamples {
            samples: vec![ev::MetricSample {
                droplet_id: droplet.clone(),
                cluster_id: cluster.clone(),
                time: Some(timestamp(now_millis())),
                cpu_percent: 95.0,
                memory_percent: 40.0,
                disk_percent: 30.0,
                network_in_mbps: 1.0,
                network_out_mbps: 1.0,
                load_1m: 3.8,
            }],
        };
        let event = topics::METRICS_SAMPLES.event(cluster, &batch);
        let started = Instant::now();
        producer
            .send(Outgoing {
                topic: event.topic,
                key: &event.key,
                event_id: &new_id(),
                event_type: &event.event_type,
                payload: &event.payload,
                traceparent: None,
            })
            .await
            .expect("published");
        let deadline = started + Duration::from_secs(10);
        loop {
            let found = jobs
                .list_jobs(jpb::ListJobsRequest {
                    cluster_id: cluster.clone(),
                    page_size: 10,
                    ..Default::default()
                })
                .await
                .expect("ListJobs")
                .into_inner()
                .jobs
                .iter()
                .any(|j| j.source == jpb::JobSource::Scaler as i32);
            if found {
                hist.record(started.elapsed().as_micros() as u64).unwrap();
                break;
            }
            if Instant::now() > deadline {
                missed += 1;
                eprintln!("cluster {n}: no job within 10 s");
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "\n| breaches | p50 | p90 | p99 | max | no job in 10 s |\n|---|---|---|---|---|---|\n| {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {missed} |",
        hist.len(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        hist.max() as f64 / 1000.0,
    );
    flow.stop().await;
}
