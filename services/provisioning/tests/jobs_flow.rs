//! The event chain end to end on MariaDB and a real Kafka-protocol broker
//! (tansu): jobs.CreateJob → outbox → cg.jobs.requested → provisioning's
//! worker pool → droplets → cg.jobs.progress → jobs' state machine → WatchJob.

mod common;

use std::time::Duration;

use cg_runtime::{
    config::DatabaseConfig,
    kafka::{self, KafkaConfig, Outgoing, Producer, topics},
};
use cg_testkit::{Backend, Broker, Storage, TestDb};
use clustergenie_proto::{jobs::v1 as jpb, provisioning::v1 as pb};
use common::{Server, config, fast_cloud};
use tokio_util::sync::CancellationToken;

fn scale(cluster_id: &str, n: i32) -> jpb::CreateJobRequest {
    jpb::CreateJobRequest {
        cluster_id: cluster_id.into(),
        action: Some(jpb::JobAction {
            action: Some(jpb::job_action::Action::ScaleCluster(jpb::ScaleCluster {
                target_count: n,
                size: "s-1vcpu-1gb".into(),
                image: "ubuntu-24-04-x64".into(),
            })),
        }),
        ..Default::default()
    }
}

/// Watches a job to its end; returns the (status, progress) seen.
async fn run_to_end(
    client: &mut jpb::job_service_client::JobServiceClient<tonic::transport::Channel>,
    req: jpb::CreateJobRequest,
) -> Vec<(i32, i32)> {
    let job = client
        .create_job(req)
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    let mut stream = client
        .watch_job(jpb::WatchJobRequest { id: job.id })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while let Some(update) = tokio::time::timeout(Duration::from_secs(30), stream.message())
        .await
        .expect("the job ends within 30 s")
        .unwrap()
    {
        let j = update.job.unwrap();
        seen.push((j.status, j.progress));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_job_flows_through_kafka_to_the_executor_and_back() {
    let broker = Broker::start(Storage::Memory);
    let kafka = KafkaConfig {
        brokers: broker.bootstrap(),
        partitions: 2,
        retry_base: Duration::from_millis(10),
        ..KafkaConfig::default()
    };
    let prov_db = TestDb::new(Backend::MySql).await;
    let jobs_db = TestDb::new(Backend::MySql).await;
    let mut prov_config = config(&prov_db, fast_cloud());
    prov_config.kafka = Some(kafka.clone());
    let prov = Server::start(&prov_config).await;

    let jobs_app = jobs::App::build(&jobs::Config {
        database: DatabaseConfig::new(jobs_db.url.clone()),
        kafka: Some(kafka.clone()),
        ..jobs::Config::default()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jobs_addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let token = stop.clone();
    let jobs_server = tokio::spawn(jobs_app.serve(
        listener,
        async move { token.cancelled().await },
        Duration::from_secs(5),
    ));
    let mut jobs_client =
        jpb::job_service_client::JobServiceClient::connect(format!("http://{jobs_addr}"))
            .await
            .unwrap();

    let mut c = prov.clients().await;
    let cluster = c.cluster("scaled", "nyc1").await;

    let up = run_to_end(&mut jobs_client, scale(&cluster.id, 3)).await;
    assert_eq!(
        up.first().map(|s| s.0),
        Some(jpb::JobStatus::Queued as i32),
        "{up:?}"
    );
    assert_eq!(
        up.last(),
        Some(&(jpb::JobStatus::Succeeded as i32, 100)),
        "{up:?}"
    );
    let progress: Vec<i32> = up.iter().map(|s| s.1).collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress only rises: {up:?}"
    );
    let live = |c: &mut common::Clients| {
        let mut droplets = c.droplets.clone();
        let cluster_id = cluster.id.clone();
        async move {
            droplets
                .list_droplets(pb::ListDropletsRequest {
                    cluster_id,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .droplets
        }
    };
    let droplets = live(&mut c).await;
    assert_eq!(droplets.len(), 3);
    assert!(
        droplets
            .iter()
            .all(|d| d.status == pb::DropletStatus::Active as i32)
    );

    let down = run_to_end(&mut jobs_client, scale(&cluster.id, 1)).await;
    assert_eq!(
        down.last(),
        Some(&(jpb::JobStatus::Succeeded as i32, 100)),
        "{down:?}"
    );
    let left = live(&mut c).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, droplets[0].id, "the newest droplets go first");

    let mut stats = pb::executor_service_client::ExecutorServiceClient::new(prov.channel().await);
    let s = stats
        .get_executor_stats(pb::GetExecutorStatsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.workers, 4);
    let scale_stats = s
        .latencies
        .iter()
        .find(|l| l.kind == "JOB_KIND_SCALE_CLUSTER")
        .expect("scale latency recorded");
    assert_eq!(scale_stats.completed, 2);

    // Garbage on the request topic is dead-lettered; the executor goes on.
    Producer::new(&kafka)
        .unwrap()
        .send(Outgoing {
            topic: topics::JOBS_REQUESTED,
            key: &cluster.id,
            event_id: "garbage",
            event_type: "clustergenie.events.v1.JobRequested",
            payload: b"\xff\x00 definitely not protobuf",
            traceparent: None,
        })
        .await
        .unwrap();
    let again = run_to_end(&mut jobs_client, scale(&cluster.id, 2)).await;
    assert_eq!(
        again.last(),
        Some(&(jpb::JobStatus::Succeeded as i32, 100)),
        "{again:?}"
    );
    let dead = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let dlq_stop = CancellationToken::new();
    let consumer = {
        let (kafka, dead, dlq_stop) = (kafka.clone(), dead.clone(), dlq_stop.clone());
        tokio::spawn(async move {
            let dlq = kafka::dlq(topics::JOBS_REQUESTED);
            kafka::consume(&kafka, "test-dlq", &[dlq.as_str()], dlq_stop, move |e| {
                let dead = dead.clone();
                async move {
                    dead.lock().unwrap().push(e);
                    Ok(())
                }
            })
            .await
        })
    };
    for _ in 0..200 {
        if !dead.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    dlq_stop.cancel();
    consumer.await.unwrap().unwrap();
    let dead = std::mem::take(&mut *dead.lock().unwrap());
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event_id(), Some("garbage"));

    stop.cancel();
    jobs_server.await.unwrap().unwrap();
    prov.stop().await;
    prov_db.drop_db().await;
    jobs_db.drop_db().await;
}
