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
    cg_testkit::eventually_blocking(Duration::from_secs(20), "--health-check to succeed", || {
        cg_testkit::check(probe(), "not serving yet")
    });
    let metrics = scrape(metrics_port);
    signal::kill(Pid::from_raw(child.id() as i32), signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
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
    use cg_runtime::{
        kafka::{KafkaConfig, Outgoing, Producer},
        topic::topics,
    };
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
        .env("CLUSTERGENIE_KAFKA__STATS_INTERVAL", "200ms")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let config = KafkaConfig {
        brokers: broker.bootstrap(),
        partitions: 1,
        ..KafkaConfig::default()
    };
    // The service creates its topics at start; once they are there, send.
    let requested = topics::JOBS_REQUESTED.name;
    cg_testkit::eventually(Duration::from_secs(20), "the service's topics", || {
        let config = config.clone();
        async move {
            let exists =
                tokio::task::spawn_blocking(move || cg_testkit::topic_exists(&config, requested))
                    .await
                    .unwrap();
            cg_testkit::check(exists, "not yet")
        }
    })
    .await;
    Producer::new(&config)
        .unwrap()
        .send(Outgoing {
            topic: requested,
            key: "c",
            event_id: "garbage-1",
            event_type: "clustergenie.events.v1.JobRequested",
            payload: b"not protobuf",
            traceparent: None,
        })
        .await
        .unwrap();
    let lag = cg_testkit::eventually(
        Duration::from_secs(20),
        "the lag in /metrics",
        || async move {
            let metrics = tokio::task::spawn_blocking(move || try_scrape(metrics_port))
                .await
                .unwrap()
                .unwrap_or_default();
            metrics
                .lines()
                .find(|l| {
                    l.starts_with("cg_kafka_consumer_lag{")
                        && l.contains("cg.jobs.requested\"")
                        && l.ends_with(" 0")
                })
                .map(str::to_string)
                .ok_or(())
        },
    )
    .await;
    signal::kill(Pid::from_raw(child.id() as i32), signal::Signal::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        lag.contains("group=\"provisioning\"") && lag.ends_with(" 0"),
        "the consumer caught up and says so: {lag:?}"
    );
}

#[test]
fn print_config_shows_the_effective_settings_with_secrets_hidden() {
    let out = Command::new(env!("CARGO_BIN_EXE_provisioning"))
        .arg("--print-config")
        .env(
            "CLUSTERGENIE_DATABASE__URL",
            "mysql://cg:hunter2@db:3306/provisioning",
        )
        .env("CLUSTERGENIE_CLOUD__BOOT_DELAY", "7s")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(printed.contains("url = \"***\""), "{printed}");
    assert!(printed.contains("boot_delay = \"7s\""), "{printed}");
    assert!(
        printed.contains("listen_addr = \"0.0.0.0:50051\""),
        "{printed}"
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
