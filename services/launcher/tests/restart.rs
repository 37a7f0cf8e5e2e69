//! The embedded default keeps what it accepted: `kill -9` of the launcher
//! right after a CreateJob takes the broker down with it (no orphan), and
//! the next start finishes the job from the broker's log on disk.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use cg_testkit::{eventually, free_port};
use clustergenie_proto::{jobs::v1 as jpb, provisioning::v1 as pb};

fn launch(dir: &Path, gateway_port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_clustergenie"))
        .arg("--data-dir")
        .arg(dir)
        .args([
            "--base-port",
            "0",
            "--gateway-port",
            &gateway_port.to_string(),
        ])
        .arg("--web-root")
        .arg(dir.join("no-dashboard"))
        .env("RUST_LOG", "warn")
        .env("CLUSTERGENIE_TELEMETRY__LOG_FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the launcher")
}

fn authed<T>(token: &str, body: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(body);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

/// Processes still running whose command line names `needle`.
fn processes_naming(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        // Zombies have an empty command line; they are dead already.
        if cmdline.contains(needle) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_created_just_before_kill_9_finishes_after_a_restart_and_no_broker_outlives_the_launcher()
 {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut launcher = launch(dir.path(), port);
    eventually(Duration::from_secs(60), "the gateway to serve", || {
        cg_runtime::grpc::probe(format!("127.0.0.1:{port}").parse().unwrap())
    })
    .await;
    let token = std::fs::read_to_string(dir.path().join("admin-token"))
        .unwrap()
        .trim()
        .to_string();
    let channel = cg_testkit::channel(&endpoint).await;
    let mut clusters = pb::cluster_service_client::ClusterServiceClient::new(channel.clone());
    let cluster = clusters
        .create_cluster(authed(
            &token,
            pb::CreateClusterRequest {
                name: "survivor".into(),
                region: "nyc1".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .cluster
        .unwrap();
    let mut jobs = jpb::job_service_client::JobServiceClient::new(channel);
    let job = jobs
        .create_job(authed(
            &token,
            cg_testkit::jobs::provision_one(&cluster.id, "kept"),
        ))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    // Give the relay a moment to hand the request to the broker, then die.
    tokio::time::sleep(Duration::from_millis(300)).await;
    launcher.kill().unwrap();
    launcher.wait().unwrap();

    let broker_db = dir.path().canonicalize().unwrap();
    let broker_port = std::fs::read_to_string(dir.path().join("broker.port")).unwrap();
    let needle = format!("127.0.0.1:{}", broker_port.trim());
    eventually(
        Duration::from_secs(10),
        "the broker to die with the launcher",
        || {
            let left = processes_naming(&needle);
            std::future::ready(if left.is_empty() { Ok(()) } else { Err(left) })
        },
    )
    .await;
    assert!(
        broker_db.join("broker.db").exists(),
        "the broker keeps its log on disk"
    );

    let mut launcher = launch(dir.path(), port);
    eventually(
        Duration::from_secs(60),
        "the gateway to serve again",
        || cg_runtime::grpc::probe(format!("127.0.0.1:{port}").parse().unwrap()),
    )
    .await;
    let channel = cg_testkit::channel(&endpoint).await;
    let jobs = jpb::job_service_client::JobServiceClient::new(channel);
    let done = eventually(
        Duration::from_secs(90),
        "the job to finish after the restart",
        || {
            let (mut jobs, token, id) = (jobs.clone(), token.clone(), job.id.clone());
            async move {
                let j = jobs
                    .get_job(authed(&token, jpb::GetJobRequest { id }))
                    .await
                    .map_err(|e| e.to_string())?
                    .into_inner()
                    .job
                    .unwrap();
                if j.status == jpb::JobStatus::Succeeded as i32 {
                    Ok(j)
                } else {
                    Err(format!("status {} ({})", j.status, j.message))
                }
            }
        },
    )
    .await;
    assert_eq!(done.attempts, 1);
    cg_testkit::signal(launcher.id(), "-TERM");
    launcher.wait().unwrap();
}
