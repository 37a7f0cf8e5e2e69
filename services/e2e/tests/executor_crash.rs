//! Kill -9 provisioning while a job runs, start it again: the job finishes
//! exactly once, with no duplicate droplets.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use cg_testkit::{Backend, Broker, Storage, TestDb, config_for, eventually};
use clustergenie_proto::{jobs::v1 as jpb, provisioning::v1 as pb};
use e2e::wait_job;
use jobs::JobsService;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_provisioning(addr: &str, db: &str, brokers: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cg-service"))
        .env("CG_SERVICE", "provisioning")
        .env("CLUSTERGENIE_LISTEN_ADDR", addr)
        .env("CLUSTERGENIE_DATABASE__URL", db)
        .env("CLUSTERGENIE_KAFKA__BROKERS", brokers)
        .env("CLUSTERGENIE_KAFKA__PARTITIONS", "2")
        // Slow boots keep the job running long enough to be interrupted.
        .env("CLUSTERGENIE_CLOUD__BOOT_DELAY", "1500ms")
        // A dead replica's attempts are taken over once their lease expires.
        .env("CLUSTERGENIE_EXECUTOR__LEASE", "2s")
        .env("CLUSTERGENIE_TELEMETRY__LOG_FILTER", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start provisioning")
}

async fn healthy(addr: &str) {
    eventually(Duration::from_secs(20), "provisioning to serve", || {
        cg_runtime::grpc::probe(addr.parse().unwrap())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_interrupted_by_kill_9_finishes_once_after_a_restart() {
    let broker = Broker::start(Storage::Memory);
    let prov_db = TestDb::new(Backend::MySql).await;
    let jobs_db = TestDb::new(Backend::MySql).await;
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = spawn_provisioning(&addr, &prov_db.url, &broker.bootstrap());
    healthy(&addr).await;

    let jobs_server =
        cg_testkit::start::<JobsService>(&config_for::<JobsService>(Some(&jobs_db), Some(&broker)))
            .await;
    let mut jobs_client =
        jpb::job_service_client::JobServiceClient::connect(jobs_server.endpoint())
            .await
            .unwrap();

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    let mut clusters = pb::cluster_service_client::ClusterServiceClient::new(channel.clone());
    let mut droplets = pb::droplet_service_client::DropletServiceClient::new(channel);
    let cluster = clusters
        .create_cluster(pb::CreateClusterRequest {
            name: "crashy".into(),
            region: "nyc1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cluster
        .unwrap();
    let job = jobs_client
        .create_job(cg_testkit::jobs::scale_cluster(&cluster.id, 4))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();

    // Wait until it is running with droplets made, then kill -9.
    wait_job(
        &mut jobs_client,
        &job.id,
        Duration::from_secs(6),
        "the job never ran",
        |j| j.status == jpb::JobStatus::Running as i32 && j.progress > 0,
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();

    let mut child = spawn_provisioning(&addr, &prov_db.url, &broker.bootstrap());
    healthy(&addr).await;
    let done = wait_job(
        &mut jobs_client,
        &job.id,
        Duration::from_secs(30),
        "the job never finished after the restart",
        |j| j.status != jpb::JobStatus::Queued as i32 && j.status != jpb::JobStatus::Running as i32,
    )
    .await;
    assert_eq!(done.status, jpb::JobStatus::Succeeded as i32, "{done:?}");
    assert_eq!(done.attempts, 1, "resumed, not retried");
    let live = droplets
        .list_droplets(pb::ListDropletsRequest {
            cluster_id: cluster.id.clone(),
            include_archived: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .droplets;
    assert_eq!(live.len(), 4, "no duplicate droplets: {live:?}");

    child.kill().unwrap();
    child.wait().unwrap();
    jobs_server.stop().await.expect("jobs stops cleanly");
}
