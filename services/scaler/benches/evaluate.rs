//! Evaluations per second across many clusters with several policies each:
//! the engine alone (evaluate + record into the history), and the engine
//! with each evaluation's storage round (read the cluster's state, write it
//! back by compare-and-set) on MariaDB, from a few concurrent evaluators as
//! the consumer's lanes run them.
//!
//! `just bench-scaler` (or `cargo bench -p scaler --bench evaluate -- --help`).

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use cg_runtime::db;
use cg_testkit::{Backend, TestDb};
use clap::Parser;
use scaler::{
    hpa::{History, Inputs, Metric, MetricReading, PolicyRule, evaluate},
    repo::{ScalerStore, SqlScaler},
};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 1000)]
    clusters: usize,
    #[arg(long, default_value_t = 3)]
    policies: usize,
    /// Evaluation rounds over every cluster, engine only.
    #[arg(long, default_value_t = 100)]
    rounds: usize,
    /// Rounds with the storage round trip.
    #[arg(long, default_value_t = 3)]
    stored_rounds: usize,
    /// Concurrent evaluators in the stored run.
    #[arg(long, default_value_t = 8)]
    lanes: usize,
    /// Accepted for `cargo bench` compatibility.
    #[arg(long, hide = true)]
    bench: bool,
}

const METRICS: [Metric; 3] = [
    Metric::CpuPercent,
    Metric::MemoryPercent,
    Metric::NetworkInMbps,
];

fn rules(cluster: usize, n: usize) -> Vec<PolicyRule> {
    (0..n)
        .map(|p| PolicyRule {
            id: format!("c{cluster}-p{p}"),
            metric: METRICS[p % METRICS.len()],
            target: 60.0,
            min: 2,
            max: 20,
            up_window_ms: 0,
            down_window_ms: 300_000,
            schedules: Vec::new(),
            added_droplet_monthly_cents: 600,
        })
        .collect()
}

/// A load that wanders around the target, so proposals keep changing.
fn inputs(cluster: usize, t: i64, current: u32) -> Inputs {
    let phase = (t / 1000 + cluster as i64) as f64;
    let readings: BTreeMap<Metric, MetricReading> = METRICS
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let average = 60.0 + 30.0 * ((phase + i as f64) / 7.0).sin();
            (
                *m,
                MetricReading {
                    average,
                    missing: false,
                },
            )
        })
        .collect();
    Inputs {
        now_ms: t,
        current,
        readings,
        job_in_progress: false,
        monthly_cost_cents: 10_000,
        cost_cap_cents: Some(50_000),
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let all: Vec<Vec<PolicyRule>> = (0..args.clusters)
        .map(|c| rules(c, args.policies))
        .collect();

    // Engine only: every cluster once per simulated 10 s sample interval.
    let mut histories = vec![History::default(); args.clusters];
    let mut counts = vec![3u32; args.clusters];
    let started = Instant::now();
    let mut evaluations = 0u64;
    for round in 0..args.rounds {
        let t = 1_800_000_000_000 + round as i64 * 10_000;
        for c in 0..args.clusters {
            let eval = evaluate(&all[c], &inputs(c, t, counts[c]), &histories[c]);
            let acted = eval.desired != eval.current;
            histories[c].record(t, &eval, acted);
            counts[c] = eval.desired;
            evaluations += 1;
        }
    }
    let engine = evaluations as f64 / started.elapsed().as_secs_f64();

    // With storage: each evaluation reads the cluster's state and writes its
    // history back by compare-and-set, as the service does.
    let test_db = TestDb::new(Backend::MySql).await;
    let migrated = db::connect(&test_db.config(), &db::with_runtime(&scaler::MIGRATOR))
        .await
        .expect("migrated");
    let store = Arc::new(SqlScaler::new(&migrated));
    let all = Arc::new(all);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for lane in 0..args.lanes {
        let (store, all) = (store.clone(), all.clone());
        let (clusters, rounds, lanes) = (args.clusters, args.stored_rounds, args.lanes);
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            for round in 0..rounds {
                let t = 1_800_000_000_000 + round as i64 * 10_000;
                for c in (lane..clusters).step_by(lanes) {
                    let id = format!("00000000-0000-7000-8000-{c:012}");
                    let state = store.cluster(&id).await.expect("state");
                    let history: History = if state.history.is_empty() {
                        History::default()
                    } else {
                        serde_json::from_str(&state.history).expect("history")
                    };
                    let mut history = history;
                    let eval = evaluate(&all[c], &inputs(c, t, 3), &history);
                    history.record(t, &eval, false);
                    let next = scaler::repo::ClusterState {
                        history: serde_json::to_string(&history).expect("json"),
                        version: state.version + 1,
                        updated_at: t,
                        ..state
                    };
                    assert!(store.record(&next, None, None).await.expect("record"));
                    done += 1;
                }
            }
            done
        }));
    }
    let mut stored = 0u64;
    for t in tasks {
        stored += t.await.expect("a lane");
    }
    let with_storage = stored as f64 / started.elapsed().as_secs_f64();

    println!(
        "\n| clusters × policies | engine only | with the MariaDB state round ({} lanes) |\n|---|---|---|\n| {} × {} | {:.0} evaluations/s | {:.0} evaluations/s |",
        args.lanes, args.clusters, args.policies, engine, with_storage
    );
}
