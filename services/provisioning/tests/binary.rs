//! The real binary on its defaults (SQLite under ./data), probed by its own
//! `--health-check`, as a container healthcheck would.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use nix::{sys::signal, unistd::Pid};

#[test]
fn the_binary_runs_on_defaults_and_answers_its_own_health_check() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = env!("CARGO_BIN_EXE_provisioning");
    let mut child = Command::new(bin)
        .current_dir(dir.path())
        .env_remove("CLUSTERGENIE_DATABASE__URL")
        .env("CLUSTERGENIE_LISTEN_ADDR", &addr)
        .env(
            "CLUSTERGENIE_METRICS_ADDR",
            format!("127.0.0.1:{metrics_port}"),
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let probe = || {
        Command::new(bin)
            .arg("--health-check")
            .env("CLUSTERGENIE_LISTEN_ADDR", &addr)
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    let mut healthy = false;
    for _ in 0..100 {
        if probe() {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = scrape(metrics_port);
    signal::kill(Pid::from_raw(child.id() as i32), signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert!(healthy, "--health-check never succeeded");
    assert!(
        metrics.contains("cg_up{service=\"provisioning\"} 1"),
        "Prometheus metrics are served: {metrics}"
    );
    assert!(status.success(), "{status:?}");
    assert!(dir.path().join("data/provisioning.db").exists());
    assert!(!probe(), "--health-check fails once the service is gone");
}

/// With a broker, the binary exports each consumer's lag: a garbage job
/// request is dead-lettered, its offset committed, and the lag of
/// `cg.jobs.requested` shows up in `/metrics`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exports_its_consumer_lag() {
    use cg_runtime::kafka::{KafkaConfig, Outgoing, Producer, topics};
    let broker = cg_testkit::Broker::start(cg_testkit::Storage::Memory);
    let dir = tempfile::tempdir().unwrap();
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (port, metrics_port) = (free(), free());
    let mut child = Command::new(env!("CARGO_BIN_EXE_provisioning"))
        .current_dir(dir.path())
        .env_remove("CLUSTERGENIE_DATABASE__URL")
        .env("CLUSTERGENIE_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "CLUSTERGENIE_METRICS_ADDR",
            format!("127.0.0.1:{metrics_port}"),
        )
        .env("CLUSTERGENIE_KAFKA__BROKERS", broker.bootstrap())
        .env("CLUSTERGENIE_KAFKA__PARTITIONS", "1")
        .env("CLUSTERGENIE_KAFKA__MAX_ATTEMPTS", "1")
        .env("CLUSTERGENIE_KAFKA__STATS_INTERVAL", "200ms")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let config = KafkaConfig {
        brokers: broker.bootstrap(),
        partitions: 1,
        ..KafkaConfig::default()
    };
    // The service creates its topics at start; wait for that, then send.
    let (mut sent, mut lag) = (false, None);
    for _ in 0..150 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !sent
            && cg_runtime::kafka::ensure_topics(&config, &[topics::JOBS_REQUESTED])
                .await
                .is_ok()
        {
            Producer::new(&config)
                .unwrap()
                .send(Outgoing {
                    topic: topics::JOBS_REQUESTED,
                    key: "c",
                    event_id: "garbage-1",
                    event_type: "clustergenie.events.v1.JobRequested",
                    payload: b"not protobuf",
                    traceparent: None,
                })
                .await
                .unwrap();
            sent = true;
        }
        let metrics = tokio::task::spawn_blocking(move || try_scrape(metrics_port))
            .await
            .unwrap()
            .unwrap_or_default();
        if let Some(line) = metrics
            .lines()
            .find(|l| l.starts_with("cg_kafka_consumer_lag{") && l.contains("cg.jobs.requested\""))
        {
            lag = Some(line.to_string());
            break;
        }
    }
    signal::kill(Pid::from_raw(child.id() as i32), signal::Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
    let lag = lag.unwrap_or_default();
    assert!(
        lag.contains("group=\"provisioning\"") && lag.ends_with(" 0"),
        "the consumer caught up and says so: {lag:?}"
    );
}

#[test]
fn a_bad_setting_stops_the_binary_with_a_message_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_provisioning"))
        .env("CLUSTERGENIE_CLOUD__FAILURE_RATE", "2")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cloud.failure_rate"), "{stderr}");
}

/// GET /metrics over plain HTTP/1.1.
fn scrape(port: u16) -> String {
    try_scrape(port).expect("metrics port")
}

/// [`scrape`], or `None` while nothing listens yet.
fn try_scrape(port: u16) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(body)
}
