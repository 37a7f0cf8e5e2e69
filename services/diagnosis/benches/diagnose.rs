//! How long a diagnosis takes once its snapshot is read: the rules alone
//! over a day of a 50-droplet cluster's metrics at 1-minute resolution (the
//! aim: p99 under 50 ms), and the rules with the LLM explaining their
//! answer, against a local fake endpoint that answers after a fixed
//! latency: a new prompt every time, and a prompt the cache answers.
//!
//! `cargo bench -p diagnosis --bench diagnose` (or `… -- --help`).

use std::{
    collections::BTreeMap,
    hint::black_box,
    net::SocketAddr,
    time::{Duration, Instant},
};

use axum::{
    Router, body::Bytes, extract::State, http::header, response::IntoResponse, routing::post,
};
use clap::Parser;
use diagnosis::{
    analyzers::{Rules, analyze},
    domain::Source,
    facts::{
        ActionFacts, ActionState, ActivityFacts, DropletFacts, DropletState, HealthFacts, JobFacts,
        JobState, Metric, Point, Series, SizeFacts, Snapshot,
    },
    llm::{self, Enricher, LlmConfig, Tools},
    service::masker_for,
};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// Droplets in the synthetic cluster.
    #[arg(long, default_value_t = 50)]
    droplets: usize,
    /// Rules-only iterations.
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// Iterations with the fake LLM (each waits for its latency).
    #[arg(long, default_value_t = 100)]
    llm_iterations: usize,
    /// How long the fake LLM takes to answer.
    #[arg(long, default_value_t = 200)]
    llm_latency_ms: u64,
    /// One health result per check and droplet this often over the day
    /// (monitoring probes every 10 s by default).
    #[arg(long, default_value_t = 60)]
    health_interval_s: i64,
    /// Accepted for `cargo bench` compatibility.
    #[arg(long, hide = true)]
    bench: bool,
}

const NOW: i64 = 1_800_000_000_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// What is wrong with a droplet of the synthetic cluster.
const SATURATED_CPU: usize = 0;
const LEAKING: [usize; 3] = [1, 2, 3];
const DISK_FILLING: usize = 4;
const NETWORK_LOST: usize = 5;
const FAILING_CHECKS: usize = 6;
const CRASHING: usize = 7;
const STUCK_ACTION: usize = 8;
const FAILING_ACTIONS: usize = 9;

fn uuid(kind: u16, n: usize) -> String {
    format!("0190b6a8-{kind:04x}-7000-8000-{n:012}")
}

fn droplet_id(i: usize) -> String {
    uuid(0xd, i)
}

/// Deterministic noise in [-1, 1) (splitmix64 of the inputs).
fn noise(droplet: usize, metric: usize, i: i64) -> f64 {
    let mut x = (droplet as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (metric as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        ^ (i as u64).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// One metric of one droplet at time `t` (the `i`th sample).
fn value(droplet: usize, metric: Metric, t: i64, i: i64) -> f64 {
    let m = metric as usize;
    let n = noise(droplet, m, i);
    let daily = (2.0 * std::f64::consts::PI * (t % DAY) as f64 / DAY as f64).sin();
    let hours_from = |start: i64| (t - start) as f64 / HOUR as f64;
    match metric {
        Metric::Cpu if droplet == SATURATED_CPU && t > NOW - 2 * HOUR => 97.0 + 1.5 * n,
        Metric::Cpu => 30.0 + 8.0 * daily + 3.0 * n,
        // A line rising 15 %/h for the last three hours.
        Metric::Memory if LEAKING.contains(&droplet) && t > NOW - 3 * HOUR => {
            40.0 + 15.0 * hours_from(NOW - 3 * HOUR) + 0.3 * n
        }
        Metric::Memory => 40.0 + 0.5 * n,
        // 2 %/h all day, 84 % now.
        Metric::Disk if droplet == DISK_FILLING => 36.0 + 2.0 * hours_from(NOW - DAY) + 0.05 * n,
        Metric::Disk => 40.0 + 0.05 * n,
        Metric::NetIn if droplet == NETWORK_LOST && t > NOW - 30 * MINUTE => 0.3 + 0.1 * n,
        Metric::NetIn => 40.0 + 5.0 * daily + 3.0 * n,
        Metric::NetOut => 20.0 + 2.0 * n,
        Metric::Load1m if droplet == SATURATED_CPU && t > NOW - 2 * HOUR => 6.0 + 0.5 * n,
        Metric::Load1m => 0.8 + 0.2 * n,
    }
}

fn size(slug: &str, vcpus: u32, memory_mb: u32, disk_gb: u32, monthly_cents: i64) -> SizeFacts {
    SizeFacts {
        slug: slug.into(),
        vcpus,
        memory_mb,
        disk_gb,
        monthly_cents,
        regions: vec!["nyc1".into()],
    }
}

/// A cluster of `droplets` with a day of every metric at 1-minute
/// resolution, health results, activity, actions and jobs, in which most
/// analyzers find something.
fn snapshot(droplets: usize, health_interval_ms: i64) -> Snapshot {
    let samples = DAY / MINUTE;
    let mut series = Vec::with_capacity(droplets * Metric::ALL.len());
    for d in 0..droplets {
        for metric in Metric::ALL {
            series.push(Series {
                droplet_id: droplet_id(d),
                metric,
                points: (0..samples)
                    .map(|i| {
                        let t = NOW - (samples - 1 - i) * MINUTE;
                        Point {
                            t,
                            v: value(d, metric, t, i).max(0.0),
                        }
                    })
                    .collect(),
            });
        }
    }

    let checks = [uuid(0xc, 1), uuid(0xc, 2)];
    let probes = DAY / health_interval_ms;
    let mut health = Vec::new();
    for d in 0..droplets {
        for (c, check) in checks.iter().enumerate() {
            for k in 0..probes {
                let t = NOW - (probes - 1 - k) * health_interval_ms;
                let failing = (d == NETWORK_LOST && t > NOW - 30 * MINUTE)
                    || (d == FAILING_CHECKS && c == 0 && t >= NOW - 15 * MINUTE);
                health.push(HealthFacts {
                    check_id: check.clone(),
                    droplet_id: droplet_id(d),
                    healthy: !failing,
                    time_ms: t,
                    message: if failing {
                        "connection refused".into()
                    } else {
                        "HTTP 200 in 12 ms".into()
                    },
                });
            }
        }
    }

    let mut activity = Vec::new();
    let mut entry = |kind: &str, d: usize, t: i64, attributes: &[(&str, &str)]| {
        let n = activity.len();
        activity.push(ActivityFacts {
            id: uuid(0xa, n),
            kind: kind.into(),
            droplet_id: droplet_id(d),
            job_id: String::new(),
            time_ms: t,
            message: format!("{kind} on web-{d}"),
            attributes: attributes
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<BTreeMap<_, _>>(),
        });
    };
    // Everyday noise: an alert or an update per droplet every half hour.
    for d in 0..droplets {
        for k in 0..48 {
            let t = NOW - DAY + k * 30 * MINUTE + d as i64 * 1_000;
            if k % 2 == 0 {
                entry("alert.fired", d, t, &[("metric", "cpu_percent")]);
            } else {
                entry("action.completed", d, t, &[("action", "resize")]);
            }
        }
    }
    if CRASHING < droplets {
        for k in 0..4 {
            let t = NOW - 5 * HOUR + k * HOUR;
            entry("fault.injected", CRASHING, t, &[("fault", "crash")]);
            entry(
                "action.completed",
                CRASHING,
                t + MINUTE,
                &[("action", "reboot")],
            );
        }
    }

    let mut actions = Vec::new();
    for d in 0..droplets {
        for k in 0..5 {
            actions.push(ActionFacts {
                id: uuid(0xac, d * 100 + k),
                droplet_id: droplet_id(d),
                kind: "resize".into(),
                state: ActionState::Completed,
                started_ms: NOW - DAY + k as i64 * 4 * HOUR,
                error: String::new(),
            });
        }
    }
    if STUCK_ACTION < droplets {
        actions.push(ActionFacts {
            id: uuid(0xac, 999_001),
            droplet_id: droplet_id(STUCK_ACTION),
            kind: "snapshot".into(),
            state: ActionState::InProgress,
            started_ms: NOW - 40 * MINUTE,
            error: String::new(),
        });
    }
    if FAILING_ACTIONS < droplets {
        for k in 0..3 {
            actions.push(ActionFacts {
                id: uuid(0xac, 999_100 + k),
                droplet_id: droplet_id(FAILING_ACTIONS),
                kind: "resize".into(),
                state: ActionState::Errored,
                started_ms: NOW - (k as i64 + 1) * HOUR,
                error: "the region is out of capacity".into(),
            });
        }
    }

    let jobs: Vec<JobFacts> = (0..60)
        .map(|k: usize| {
            let created = NOW - DAY + k as i64 * 20 * MINUTE;
            let (state, error) = match k {
                57 | 58 => (JobState::Failed, "droplet action errored after 3 attempts"),
                59 => (JobState::Running, ""),
                _ => (JobState::Succeeded, ""),
            };
            JobFacts {
                id: uuid(0xb, k),
                kind: "scale".into(),
                state,
                attempts: 1,
                created_ms: created,
                updated_ms: created + MINUTE,
                error: error.into(),
            }
        })
        .collect();

    Snapshot {
        cluster_id: uuid(0xcc, 1),
        cluster_name: "shop".into(),
        region: "nyc1".into(),
        tags: vec!["env:prod".into()],
        droplets: (0..droplets)
            .map(|d| DropletFacts {
                id: droplet_id(d),
                name: format!("web-{d}"),
                size: "s-2vcpu-4gb".into(),
                image: "ubuntu-24-04-x64".into(),
                state: DropletState::Active,
                public_ip: format!("198.51.{}.{}", d / 250, d % 250 + 1),
                private_ip: format!("10.10.{}.{}", d / 250, d % 250 + 1),
                tags: vec!["web".into()],
                locked: d == STUCK_ACTION,
                vcpus: 2,
                memory_mb: 4096,
                disk_gb: 80,
            })
            .collect(),
        sizes: vec![
            size("s-1vcpu-1gb", 1, 1024, 25, 600),
            size("s-1vcpu-2gb", 1, 2048, 50, 1200),
            size("s-2vcpu-4gb", 2, 4096, 80, 2400),
            size("s-4vcpu-8gb", 4, 8192, 160, 4800),
            size("s-8vcpu-16gb", 8, 16384, 320, 9600),
        ],
        series,
        health,
        activity,
        actions,
        jobs,
        now_ms: NOW,
        window_ms: DAY,
        scope: None,
    }
}

/// The fake endpoint's answer, after `latency`.
async fn chat_completion(State(latency): State<Duration>, _request: Bytes) -> impl IntoResponse {
    tokio::time::sleep(latency).await;
    let content = json!({
        "explanation": "CLUSTER_1 is short of memory on DROPLET_2 and of CPU on DROPLET_1.",
        "ranking": [],
    })
    .to_string();
    let body = json!({
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop",
        }],
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// A fake OpenAI-compatible endpoint on a free local port.
async fn fake_llm(latency: Duration) -> SocketAddr {
    let app = Router::new()
        .route("/v1/chat/completions", post(chat_completion))
        .with_state(latency);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a local port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the fake LLM") });
    addr
}

/// Tools the model never gets to use: the fake answers at once.
struct NoTools;

impl Tools for NoTools {
    async fn query_metric(&self, _: &str, _: Metric, _: u32) -> Result<Vec<Point>, String> {
        Err("no tools in the bench".into())
    }

    async fn health_results(&self, _: Option<&str>, _: bool) -> Result<Value, String> {
        Err("no tools in the bench".into())
    }

    async fn activity(&self, _: Option<&str>, _: usize) -> Result<Value, String> {
        Err("no tools in the bench".into())
    }

    async fn droplet(&self, _: &str) -> Result<Value, String> {
        Err("no tools in the bench".into())
    }
}

/// The rules, masking, the prompt and the enrichment, as the service runs
/// them for one diagnosis; `name` stands for the cluster in the prompt.
async fn diagnose_with_llm(
    snapshot: &Snapshot,
    rules: &Rules,
    enricher: &Enricher,
    name: &str,
    expected: Source,
) {
    let analysis = analyze(snapshot, rules);
    let mut masker = masker_for(snapshot);
    let droplets: Vec<(String, String, String)> = snapshot
        .droplets
        .iter()
        .map(|d| {
            let state = match d.state {
                DropletState::New => "new",
                DropletState::Active => "active",
                DropletState::Off => "off",
            };
            (d.id.clone(), d.size.clone(), state.to_string())
        })
        .collect();
    let prompt = llm::prompt(
        name,
        snapshot.scope.as_deref(),
        &droplets,
        &analysis.findings,
        &analysis.recommendations,
    );
    let enrichment = enricher
        .enrich(
            llm::Ask {
                cluster_id: &snapshot.cluster_id,
                prompt,
                findings: &analysis.findings,
            },
            &mut masker,
            &NoTools,
        )
        .await;
    assert!(
        enrichment.used && enrichment.source == expected,
        "expected an answer from {expected:?}, got {:?} ({})",
        enrichment.source,
        enrichment.error
    );
    black_box(enrichment);
}

/// p50, p99 (nearest rank) and mean.
struct Summary {
    n: usize,
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn summarize(mut took: Vec<Duration>) -> Summary {
    assert!(!took.is_empty(), "at least one iteration");
    took.sort();
    let rank = |q: f64| {
        let r = (q * took.len() as f64).ceil() as usize;
        took[r.clamp(1, took.len()) - 1]
    };
    Summary {
        n: took.len(),
        p50: rank(0.50),
        p99: rank(0.99),
        mean: took.iter().sum::<Duration>() / u32::try_from(took.len()).unwrap_or(u32::MAX),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    assert!(
        args.health_interval_s > 0,
        "--health-interval-s must be positive"
    );
    let rules = Rules {
        window: Duration::from_secs(24 * 3600),
        recent: Duration::from_secs(10 * 60),
        ..Default::default()
    };
    rules.validate().expect("valid rules");
    let snapshot = snapshot(args.droplets, args.health_interval_s * 1000);
    let points: usize = snapshot.series.iter().map(|s| s.points.len()).sum();

    // The rules alone.
    let analysis = analyze(&snapshot, &rules);
    let mut fired: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &analysis.findings {
        *fired.entry(f.analyzer.as_str()).or_default() += 1;
    }
    for _ in 0..3 {
        black_box(analyze(black_box(&snapshot), &rules));
    }
    let took: Vec<Duration> = (0..args.iterations)
        .map(|_| {
            let started = Instant::now();
            black_box(analyze(black_box(&snapshot), &rules));
            started.elapsed()
        })
        .collect();
    let rules_only = summarize(took);

    // With the LLM: a new prompt each time (an unregistered cluster label
    // survives masking, so the cache key differs), then one repeated.
    let latency = Duration::from_millis(args.llm_latency_ms);
    let addr = fake_llm(latency).await;
    let enricher = Enricher::new(&LlmConfig {
        base_url: Some(format!("http://{addr}/v1")),
        model: "bench".into(),
        per_cluster_per_minute: 1_000_000,
        concurrency: 64,
        ..Default::default()
    })
    .expect("an enricher");
    let label = |i: usize| format!("{} run {i}", snapshot.cluster_id);
    // Warm the connection.
    diagnose_with_llm(&snapshot, &rules, &enricher, &label(0), Source::Llm).await;
    let mut took = Vec::with_capacity(args.llm_iterations);
    for i in 1..=args.llm_iterations {
        let name = label(i);
        let started = Instant::now();
        diagnose_with_llm(&snapshot, &rules, &enricher, &name, Source::Llm).await;
        took.push(started.elapsed());
    }
    let uncached = summarize(took);
    // The warm-up's prompt is in the cache now.
    let cached_name = label(0);
    let mut took = Vec::with_capacity(args.llm_iterations);
    for _ in 0..args.llm_iterations {
        let started = Instant::now();
        diagnose_with_llm(&snapshot, &rules, &enricher, &cached_name, Source::Cache).await;
        took.push(started.elapsed());
    }
    let cached = summarize(took);

    println!(
        "\n{} droplets, {} h of {} metrics at 1 min: {points} points; {} health results; {} activity entries; {} actions; {} jobs",
        args.droplets,
        rules.window.as_secs() / 3600,
        Metric::ALL.len(),
        snapshot.health.len(),
        snapshot.activity.len(),
        snapshot.actions.len(),
        snapshot.jobs.len(),
    );
    println!(
        "findings: {} ({}); recommendations: {}",
        analysis.findings.len(),
        fired
            .iter()
            .map(|(a, n)| format!("{a} ×{n}"))
            .collect::<Vec<_>>()
            .join(", "),
        analysis.recommendations.len()
    );
    println!("\n| diagnosis | iterations | p50 | p99 | mean |\n|---|---|---|---|---|");
    let rows = [
        ("rules only".to_string(), &rules_only),
        (
            format!("rules + LLM at {} ms, new prompt", args.llm_latency_ms),
            &uncached,
        ),
        ("rules + LLM, cached prompt".to_string(), &cached),
    ];
    for (name, s) in rows {
        println!(
            "| {name} | {} | {} | {} | {} |",
            s.n,
            ms(s.p50),
            ms(s.p99),
            ms(s.mean)
        );
    }
    let aim = Duration::from_millis(50);
    println!(
        "\nrules only: p99 {} the 50 ms aim ({}).",
        if rules_only.p99 < aim {
            "meets"
        } else {
            "misses"
        },
        ms(rules_only.p99)
    );
}
