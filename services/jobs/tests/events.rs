//! Jobs over a real Kafka-protocol broker (tansu) on MariaDB: a created job
//! is requested on `cg.jobs.requested`; progress on `cg.jobs.progress`
//! advances it; garbage is dead-lettered and the consumer goes on.

use std::time::Duration;

use cg_runtime::{
    kafka::{self, KafkaConfig, Outgoing, Producer},
    topic::{JobRequest, topics},
};
use cg_testkit::{Backend, Broker, Storage, Tap, TestDb, config_for};
use clustergenie_proto::{events::v1 as ev, jobs::v1 as pb};
use jobs::JobsService;
use prost::Message as _;

const CLUSTER: &str = "0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6b";

async fn first_event(config: &KafkaConfig, topic: &str) -> kafka::Event {
    let tap = Tap::start(config, &[topic]);
    let seen = tap
        .wait(Duration::from_secs(20), topic, |e| !e.is_empty())
        .await;
    seen.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_travels_through_kafka_from_request_to_success() {
    let db = TestDb::new(Backend::MySql).await;
    let broker = Broker::start(Storage::Memory);
    let config = config_for::<JobsService>(Some(&db), Some(&broker));
    let kafka_config = config.common.kafka.clone().unwrap();
    let server = cg_testkit::start::<JobsService>(&config).await;
    let mut client = pb::job_service_client::JobServiceClient::connect(server.endpoint())
        .await
        .unwrap();

    let job = client
        .create_job(cg_testkit::jobs::scale_cluster(CLUSTER, 3))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();

    // The outbox relay delivers the request, keyed by cluster.
    let requested = first_event(&kafka_config, topics::JOBS_REQUESTED.name).await;
    assert_eq!(requested.key.as_deref(), Some(CLUSTER));
    let JobRequest::Run(request) = topics::JOBS_REQUESTED.decode(&requested).unwrap() else {
        panic!("a job request to run");
    };
    assert_eq!(request.job_id, job.id);
    assert_eq!(request.attempt, 1);
    assert!(request.deadline.is_some());

    let mut watch = client
        .watch_job(pb::WatchJobRequest { id: job.id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().job.unwrap().status,
        pb::JobStatus::Queued as i32
    );

    // An executor's reports, with garbage in between that must not stall them.
    let producer = Producer::new(&kafka_config).unwrap();
    let report = |status: ev::JobProgressStatus, percent: i32| {
        ev::JobProgress {
            job_id: job.id.clone(),
            cluster_id: CLUSTER.into(),
            attempt: 1,
            status: status as i32,
            percent,
            ..Default::default()
        }
        .encode_to_vec()
    };
    let send = |id: &'static str, payload: Vec<u8>| {
        let producer = producer.clone();
        async move {
            producer
                .send(Outgoing {
                    topic: topics::JOBS_PROGRESS.name,
                    key: CLUSTER,
                    event_id: id,
                    event_type: "clustergenie.events.v1.JobProgress",
                    payload: &payload,
                    traceparent: None,
                })
                .await
                .unwrap();
        }
    };
    send("p1", report(ev::JobProgressStatus::Running, 50)).await;
    send("junk", b"\x00\xffnot a protobuf".to_vec()).await;
    send("p2", report(ev::JobProgressStatus::Succeeded, 100)).await;

    let mut statuses = Vec::new();
    while let Some(update) = tokio::time::timeout(Duration::from_secs(20), watch.message())
        .await
        .expect("the job finishes")
        .unwrap()
    {
        let j = update.job.unwrap();
        statuses.push((j.status, j.progress));
    }
    // A watch coalesces changes it has not sent yet, so the running report
    // may be folded into the final one; what it shows must be in order.
    let running = (pb::JobStatus::Running as i32, 50);
    let succeeded = (pb::JobStatus::Succeeded as i32, 100);
    assert!(
        statuses == [running, succeeded] || statuses == [succeeded],
        "{statuses:?}"
    );

    let dead = first_event(&kafka_config, &kafka::dlq(topics::JOBS_PROGRESS.name)).await;
    assert_eq!(dead.event_id(), Some("junk"));

    // The activity log heard of the job's creation and its success, each
    // published under its own id.
    let tap = Tap::start(&kafka_config, &[topics::ACTIVITY.name]);
    let entries = tap
        .wait(
            Duration::from_secs(20),
            "job.created and job.succeeded",
            |e| e.len() >= 2,
        )
        .await;
    let kinds: Vec<String> = entries
        .iter()
        .map(|e| {
            let a = topics::ACTIVITY.decode(e).expect("an Activity");
            assert_eq!(e.event_id(), Some(a.id.as_str()));
            assert_eq!(
                (a.job_id.as_str(), a.source.as_str()),
                (job.id.as_str(), "jobs")
            );
            a.kind
        })
        .collect();
    assert_eq!(kinds, ["job.created", "job.succeeded"]);

    server.stop().await.expect("jobs stops cleanly");
}
