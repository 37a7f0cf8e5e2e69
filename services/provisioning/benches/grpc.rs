//! Throughput and latency of CreateDroplet, GetDroplet and ListDroplets over
//! real gRPC, at several concurrencies, on MariaDB and SQLite.
//!
//! `just bench` (or `cargo bench -p provisioning --bench grpc -- --help`).
//! Client and server share the machine (and this process), so the numbers
//! include the client's cost; they are for comparing changes, on one machine.

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use cg_testkit::{Backend, TestDb, provisioning::Clients};
use clap::Parser;
use clustergenie_proto::provisioning::v1 as pb;
use common::{Server, config};
use hdrhistogram::Histogram;
use provisioning::{catalog::REGIONS, cloud::CloudConfig};

#[derive(Debug, Parser)]
struct Args {
    /// Backends to measure: mysql, sqlite.
    #[arg(long, value_delimiter = ',', default_value = "mysql,sqlite")]
    backends: Vec<String>,
    /// Concurrent clients.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Also call the domain service directly (no gRPC), to show what the
    /// transport costs.
    #[arg(long)]
    direct: bool,
    /// Accepted for `cargo bench` compatibility.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Create,
    Get,
    List,
}

struct Row {
    backend: &'static str,
    path: &'static str,
    op: &'static str,
    concurrency: usize,
    ops_per_sec: f64,
    p50: Duration,
    p99: Duration,
    errors: usize,
    /// CPU microseconds per call: the machine's, this process's (client
    /// and server) and MariaDB's.
    cpu_us: [f64; 3],
    /// Share of both cores busy while measuring.
    busy: f64,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut rows = Vec::new();
    for backend in &args.backends {
        let (backend, label) = match backend.as_str() {
            "mysql" => (Backend::MySql, "MariaDB"),
            "sqlite" => (Backend::Sqlite, "SQLite"),
            other => panic!("unknown backend {other}"),
        };
        rows.extend(run_backend(backend, label, &args).await);
    }
    println!();
    println!(
        "| backend | call | via | concurrency | ops/s | p50 | p99 | errors | CPU µs per call: machine (bench process / MariaDB) | machine busy |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms | {} | {:.0} ({:.0} / {:.0}) | {:.0} % |",
            r.backend,
            r.op,
            r.path,
            r.concurrency,
            r.ops_per_sec,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.errors,
            r.cpu_us[0],
            r.cpu_us[1],
            r.cpu_us[2],
            r.busy * 100.0
        );
    }
}

async fn run_backend(backend: Backend, label: &'static str, args: &Args) -> Vec<Row> {
    let db = TestDb::new(backend).await;
    let cloud = CloudConfig {
        // Booting would add background writes to what is measured.
        boot_delay: Duration::from_secs(3600),
        region_capacity: provisioning::cloud::MAX_REGION_CAPACITY,
        ..common::fast_cloud()
    };
    let server = common::start(&config(&db, cloud)).await;
    let mut clients = Clients::connect(server.endpoint()).await;
    // One cluster per region: creates spread as a real fleet's would, and no
    // single cluster row serialises them all.
    let mut clusters = Vec::new();
    for region in REGIONS {
        clusters.push(
            clients
                .cluster(&format!("bench-{}", region.slug), region.slug)
                .await,
        );
    }
    let clusters = Arc::new(clusters);
    let created = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seq = Arc::new(AtomicUsize::new(0));
    let mut rows = Vec::new();
    let paths: &[bool] = if args.direct {
        &[false, true]
    } else {
        &[false]
    };
    for op in [Op::Create, Op::Get, Op::List] {
        for &direct in paths {
            for &concurrency in &args.concurrency {
                let (cpu_before, started) = (cg_testkit::cpu::Reading::now(), Instant::now());
                let row = measure(
                    &server,
                    op,
                    direct,
                    concurrency,
                    Duration::from_secs(args.secs),
                    &clusters,
                    &created,
                    &seq,
                )
                .await;
                let used = cg_testkit::cpu::Reading::now().since(&cpu_before);
                let calls = (row.0 * started.elapsed().as_secs_f64()).max(1.0);
                let cores = std::thread::available_parallelism().map_or(1, usize::from);
                eprintln!(
                    "{label} {op:?} direct={direct} c={concurrency}: {:.0} ops/s p50 {:?} p99 {:?}",
                    row.0, row.1, row.2
                );
                rows.push(Row {
                    backend: label,
                    path: if direct { "service" } else { "gRPC" },
                    op: match op {
                        Op::Create => "CreateDroplet",
                        Op::Get => "GetDroplet",
                        Op::List => "ListDroplets (50/page)",
                    },
                    concurrency,
                    ops_per_sec: row.0,
                    p50: row.1,
                    p99: row.2,
                    errors: row.3,
                    cpu_us: [used.machine, used.this, used.mariadb].map(|s| 1e6 * s / calls),
                    busy: used.machine / (started.elapsed().as_secs_f64() * cores as f64),
                });
            }
        }
    }
    server.stop().await.expect("stops cleanly");
    drop(db);
    rows
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    server: &Server,
    op: Op,
    direct: bool,
    concurrency: usize,
    duration: Duration,
    clusters: &Arc<Vec<pb::Cluster>>,
    created: &Arc<std::sync::Mutex<Vec<String>>>,
    seq: &Arc<AtomicUsize>,
) -> (f64, Duration, Duration, usize) {
    let mut tasks = Vec::new();
    let deadline = Instant::now() + duration;
    for worker in 0..concurrency {
        let mut c: Clients = Clients::connect(server.endpoint()).await;
        let svc = server.service().service.clone();
        let clusters = clusters.clone();
        let created = created.clone();
        let seq = seq.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).unwrap();
            let mut errors = 0usize;
            let mut i = worker;
            while Instant::now() < deadline {
                i += 1;
                let start = Instant::now();
                let ok = if direct {
                    call_direct(&svc, op, i, &clusters, &created, &seq).await
                } else {
                    match op {
                        Op::Create => {
                            let n = seq.fetch_add(1, Ordering::Relaxed);
                            let cluster = &clusters[n % clusters.len()];
                            let req = Clients::droplet_request(&cluster.id, &format!("b{n}"));
                            match c.droplets.create_droplet(req).await {
                                Ok(r) => {
                                    let id = r.into_inner().droplet.unwrap().id;
                                    created.lock().unwrap().push(id);
                                    true
                                }
                                Err(_) => false,
                            }
                        }
                        Op::Get => {
                            let id = {
                                let ids = created.lock().unwrap();
                                ids[(i * 7919) % ids.len()].clone()
                            };
                            c.droplets
                                .get_droplet(pb::GetDropletRequest { id })
                                .await
                                .is_ok()
                        }
                        Op::List => {
                            let cluster = &clusters[i % clusters.len()];
                            c.droplets
                                .list_droplets(pb::ListDropletsRequest {
                                    cluster_id: cluster.id.clone(),
                                    page_size: 50,
                                    ..Default::default()
                                })
                                .await
                                .is_ok()
                        }
                    }
                };
                if ok {
                    hist.record(start.elapsed().as_micros() as u64).unwrap();
                } else {
                    errors += 1;
                }
            }
            (hist, errors)
        }));
    }
    let started = Instant::now();
    let mut total = Histogram::<u64>::new(3).unwrap();
    let mut errors = 0;
    for t in tasks {
        let (h, e) = t.await.unwrap();
        total.add(h).unwrap();
        errors += e;
    }
    let elapsed = started.elapsed().max(duration);
    (
        total.len() as f64 / elapsed.as_secs_f64(),
        Duration::from_micros(total.value_at_quantile(0.5)),
        Duration::from_micros(total.value_at_quantile(0.99)),
        errors,
    )
}

async fn call_direct(
    svc: &provisioning::Service,
    op: Op,
    i: usize,
    clusters: &[pb::Cluster],
    created: &std::sync::Mutex<Vec<String>>,
    seq: &AtomicUsize,
) -> bool {
    use provisioning::{
        catalog,
        domain::{DropletName, Id, Tags},
        repo::{DropletFilter, PageRequest},
        service::CreateDroplet,
    };
    match op {
        Op::Create => {
            let n = seq.fetch_add(1, Ordering::Relaxed);
            let cluster = &clusters[n % clusters.len()];
            let req = CreateDroplet {
                cluster_id: Id::parse(&cluster.id).unwrap(),
                name: DropletName::parse(&format!("b{n}")).unwrap(),
                size: catalog::size_by_slug("s-1vcpu-1gb").unwrap(),
                image: catalog::image_by_slug("ubuntu-24-04-x64").unwrap(),
                tags: Tags::default(),
                request_id: None,
            };
            match svc.create_droplet(req).await {
                Ok(d) => {
                    created.lock().unwrap().push(d.id);
                    true
                }
                Err(_) => false,
            }
        }
        Op::Get => {
            let id = {
                let ids = created.lock().unwrap();
                ids[(i * 7919) % ids.len()].clone()
            };
            svc.get_droplet(&Id::parse(&id).unwrap()).await.is_ok()
        }
        Op::List => {
            let cluster = &clusters[i % clusters.len()];
            svc.list_droplets(
                &DropletFilter {
                    cluster_id: Some(cluster.id.clone()),
                    ..Default::default()
                },
                &PageRequest {
                    size: 50,
                    after: None,
                },
            )
            .await
            .is_ok()
        }
    }
}
