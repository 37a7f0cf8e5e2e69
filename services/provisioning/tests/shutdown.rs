//! SIGTERM on the real binary: in-flight calls finish, the process exits 0
//! within its grace period.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use cg_testkit::{Backend, TestDb, provisioning::Clients};
use clustergenie_proto::provisioning::v1 as pb;
use futures::future::join_all;
use nix::{sys::signal, unistd::Pid};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_calls_finish_and_exits_zero() {
    let db = TestDb::new(Backend::MySql).await;
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_provisioning"))
        .env("CLUSTERGENIE_LISTEN_ADDR", &addr)
        .env("CLUSTERGENIE_DATABASE__URL", &db.url)
        // Each create spends this long "talking to the cloud": long enough
        // to be in flight when the signal lands.
        .env("CLUSTERGENIE_CLOUD__API_LATENCY", "1s")
        .env("CLUSTERGENIE_SHUTDOWN_GRACE", "10s")
        .env("CLUSTERGENIE_TELEMETRY__LOG_FILTER", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start provisioning");

    let endpoint = format!("http://{addr}");
    cg_testkit::eventually(Duration::from_secs(20), "provisioning to serve", || {
        cg_runtime::grpc::probe(addr.parse().unwrap())
    })
    .await;
    let channel = tonic::transport::Endpoint::from_shared(endpoint)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut clusters = pb::cluster_service_client::ClusterServiceClient::new(channel.clone());
    let cluster = clusters
        .create_cluster(pb::CreateClusterRequest {
            name: "draining".into(),
            region: "nyc1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cluster
        .unwrap();

    let droplets = pb::droplet_service_client::DropletServiceClient::new(channel);
    // A watch held open must not keep the process alive past the drain.
    let first = droplets
        .clone()
        .create_droplet(Clients::droplet_request(&cluster.id, "watched"))
        .await
        .unwrap()
        .into_inner()
        .droplet
        .unwrap();
    let mut watch = droplets
        .clone()
        .watch_droplet(pb::WatchDropletRequest { id: first.id })
        .await
        .unwrap()
        .into_inner();
    assert!(watch.message().await.unwrap().is_some());
    let calls = (0..20).map(|i| {
        let mut client = droplets.clone();
        let req = Clients::droplet_request(&cluster.id, &format!("d{i}"));
        async move { client.create_droplet(req).await }
    });
    let in_flight = tokio::spawn(join_all(calls));
    // The scenario's timing, not a wait for a condition: the signal lands
    // while the creates spend their 1 s with the cloud.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    signal::kill(Pid::from_raw(child.id() as i32), signal::Signal::SIGTERM).unwrap();

    let results = in_flight.await.unwrap();
    // The watch ends with UNAVAILABLE (reconnect elsewhere), not silently.
    let ended = loop {
        match watch.message().await {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    match ended {
        Err(status) => assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}"),
        Ok(None) => panic!("the watch ended without saying why"),
        Ok(Some(_)) => unreachable!(),
    }
    let failures: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "in-flight calls failed: {failures:?}");

    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "exited after {:?}, beyond the grace period",
        signalled.elapsed()
    );
    // The listener is closed: new calls cannot connect.
    assert!(
        cg_runtime::grpc::probe(addr.parse().unwrap())
            .await
            .is_err()
    );
}
