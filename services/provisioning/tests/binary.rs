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
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    body
}
