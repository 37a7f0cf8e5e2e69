//! End-to-end job throughput and latency: jobs.CreateJob → outbox →
//! cg.jobs.requested → provisioning's executor → cg.jobs.progress → jobs'
//! state machine, on MariaDB and a tansu broker, with no simulated delay.
//! Jobs arrive open-loop at a fixed rate; latency is the job's own
//! create → finish time as jobs recorded it.
//!
//! `just bench-jobs` (or `cargo bench -p e2e --bench jobs -- --help`).

use std::time::{Duration, Instant};

use clap::Parser;
use clustergenie_proto::jobs::v1 as jpb;
use e2e::{Flow, FlowOptions};
use hdrhistogram::Histogram;
use provisioning::{cloud::CloudConfig, executor::ExecutorConfig};

#[derive(Debug, Parser)]
struct Args {
    /// Arrival rates to measure, in jobs per second.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    rates: Vec<u32>,
    /// Seconds of arrivals per rate.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    #[arg(long, default_value_t = 8)]
    workers: usize,
    /// Partitions per topic: how many lanes each consumer runs in parallel.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// How long a consumer's fetch may wait, in ms (tansu holds it that long).
    #[arg(long, default_value_t = 20)]
    fetch_wait_ms: u64,
    /// The most records per produce batch (`kafka.batch_records`).
    #[arg(long, default_value_t = 1)]
    batch_records: u32,
    /// How often each active droplet reports its load, in seconds (the
    /// fleet's default is 10; every job's droplet keeps reporting, so the
    /// telemetry grows with the droplets the bench made).
    #[arg(long, default_value_t = 10)]
    sample_interval_s: u64,
    /// Accepted for `cargo bench` compatibility.
    #[arg(long, hide = true)]
    bench: bool,
}

fn millis(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref()
        .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let cloud = CloudConfig {
        boot_delay: Duration::ZERO,
        action_duration: Duration::ZERO,
        region_capacity: provisioning::cloud::MAX_REGION_CAPACITY,
        ..e2e::fast_cloud()
    };
    let flow = Flow::start_with(FlowOptions {
        storage: cg_testkit::Storage::Memory,
        kafka: cg_runtime::kafka::KafkaConfig {
            partitions: args.partitions,
            fetch_wait: Duration::from_millis(args.fetch_wait_ms),
            batch_records: args.batch_records,
            ..Default::default()
        },
        cloud,
        executor: ExecutorConfig {
            workers: args.workers,
            queue: 1024,
            ..ExecutorConfig::default()
        },
        fleet: provisioning::fleet::FleetConfig {
            sample_interval: Duration::from_secs(args.sample_interval_s),
        },
    })
    .await;
    let mut c = flow.clients().await;
    let jobs_client = flow.jobs().await;
    // Warm-up, not measured: the first job waits for both consumer groups
    // to form and the producers to connect.
    let warm = c.cluster("bench-warm-up", "nyc3").await.id;
    let mut client = jobs_client.clone();
    let job = client
        .create_job(cg_testkit::jobs::provision_one(&warm, "w"))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    e2e::wait_job(
        &mut client,
        &job.id,
        Duration::from_secs(60),
        "the warm-up job",
        |j| j.status == jpb::JobStatus::Succeeded as i32,
    )
    .await;
    let mut rows = Vec::new();
    for (round, &rate) in args.rates.iter().enumerate() {
        // Fresh clusters per round keep each round's jobs apart.
        let mut clusters = Vec::new();
        for i in 0..16 {
            clusters.push(c.cluster(&format!("bench-{round}-{i}"), "nyc3").await.id);
        }
        let broker_cpu = || {
            flow.broker
                .pid()
                .and_then(|p| cg_testkit::cpu::process(&p.to_string()))
                .unwrap_or(0.0)
        };
        let (cpu_before, broker_before) = (cg_testkit::cpu::Reading::now(), broker_cpu());
        let total = rate as u64 * args.secs;
        let gap = Duration::from_secs_f64(1.0 / f64::from(rate));
        let started = Instant::now();
        let mut creates = Vec::with_capacity(total as usize);
        for n in 0..total {
            let due = started + gap.mul_f64(n as f64);
            tokio::time::sleep_until(due.into()).await;
            let mut client = jobs_client.clone();
            let cluster = clusters[n as usize % clusters.len()].clone();
            creates.push(tokio::spawn(async move {
                client
                    .create_job(jpb::CreateJobRequest {
                        cluster_id: cluster,
                        action: Some(jpb::JobAction {
                            action: Some(jpb::job_action::Action::ProvisionDroplets(
                                jpb::ProvisionDroplets {
                                    count: 1,
                                    size: "s-1vcpu-1gb".into(),
                                    image: "ubuntu-24-04-x64".into(),
                                    name_prefix: format!("b{n}"),
                                },
                            )),
                        }),
                        ..Default::default()
                    })
                    .await
                    .map(|r| r.into_inner().job.unwrap().id)
            }));
        }
        let mut ids = Vec::new();
        for c in creates {
            if let Ok(Ok(id)) = c.await {
                ids.push(id);
            }
        }
        // Wait for every job of the round to finish.
        let mut client = jobs_client.clone();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut finished = Vec::new();
        while Instant::now() < deadline {
            finished.clear();
            for id in &ids {
                let j = client
                    .get_job(jpb::GetJobRequest { id: id.clone() })
                    .await
                    .unwrap()
                    .into_inner()
                    .job
                    .unwrap();
                if j.status == jpb::JobStatus::Succeeded as i32
                    || j.status == jpb::JobStatus::Failed as i32
                {
                    finished.push(j);
                } else {
                    break;
                }
            }
            if finished.len() == ids.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // CPU milliseconds per finished job: the machine's, and of it the
        // mesh's (this process: every service and the load generator), the
        // broker's and MariaDB's. The wait loop above polls every 200 ms, a
        // small share.
        let used = cg_testkit::cpu::Reading::now().since(&cpu_before);
        let per_job = |secs: f64| 1000.0 * secs / finished.len().max(1) as f64;
        let per_job = [
            per_job(used.machine),
            per_job(used.this),
            per_job(broker_cpu() - broker_before),
            per_job(used.mariadb),
        ];
        let mut hist = Histogram::<u64>::new(3).unwrap();
        // Where the time goes: create → first running report (the request's
        // way to an executor), then running → finished.
        let mut queue_hist = Histogram::<u64>::new(3).unwrap();
        let mut run_hist = Histogram::<u64>::new(3).unwrap();
        let (mut first, mut last, mut failed) = (i64::MAX, 0, 0);
        for j in &finished {
            let (c, f) = (millis(&j.create_time), millis(&j.finish_time));
            hist.record(u64::try_from(f - c).unwrap_or(0)).unwrap();
            if j.start_time.is_some() {
                let s = millis(&j.start_time);
                queue_hist
                    .record(u64::try_from(s - c).unwrap_or(0))
                    .unwrap();
                run_hist.record(u64::try_from(f - s).unwrap_or(0)).unwrap();
            }
            first = first.min(c);
            last = last.max(f);
            if j.status == jpb::JobStatus::Failed as i32 {
                failed += 1;
            }
        }
        let span = ((last - first).max(1)) as f64 / 1000.0;
        let row = format!(
            "| {rate} | {} | {} | {:.0} | {} ms | {} ms | {} / {} ms | {} / {} ms | {failed} | {:.1} ({:.1} / {:.1} / {:.1}) |",
            ids.len(),
            finished.len(),
            finished.len() as f64 / span,
            hist.value_at_quantile(0.5),
            hist.value_at_quantile(0.99),
            queue_hist.value_at_quantile(0.5),
            queue_hist.value_at_quantile(0.99),
            run_hist.value_at_quantile(0.5),
            run_hist.value_at_quantile(0.99),
            per_job[0],
            per_job[1],
            per_job[2],
            per_job[3],
        );
        eprintln!("{row}");
        rows.push(row);
    }
    println!();
    println!(
        "| offered jobs/s | created | finished | achieved jobs/s | p50 | p99 | to running p50 / p99 | running to done p50 / p99 | failed | CPU ms per job: machine (mesh / broker / MariaDB) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!("{r}");
    }
    flow.stop().await;
}
