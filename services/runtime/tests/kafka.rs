//! The Kafka plumbing against a real Kafka-protocol broker (tansu).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use cg_runtime::{
    kafka::{self, Event, Failure, KafkaConfig, Outgoing, Producer},
    topic::topics::JOBS_PROGRESS,
};
use cg_testkit::{Broker, Storage, committed_offsets, eventually};
use clustergenie_proto::events::v1::JobProgress;
use prost::Message as _;
use tokio_util::sync::CancellationToken;

const PROGRESS: &str = "clustergenie.events.v1.JobProgress";

fn config(broker: &Broker) -> KafkaConfig {
    KafkaConfig {
        brokers: broker.bootstrap(),
        partitions: 3,
        max_attempts: 3,
        retry_base: Duration::from_millis(10),
        retry_cap: Duration::from_millis(50),
        send_timeout: Duration::from_secs(10),
        ..KafkaConfig::default()
    }
}

fn progress(job: &str, percent: i32) -> Vec<u8> {
    JobProgress {
        job_id: job.into(),
        cluster_id: "c1".into(),
        percent,
        ..Default::default()
    }
    .encode_to_vec()
}

async fn send(p: &Producer, topic: &str, id: &str, event_type: &str, payload: &[u8]) {
    p.send(Outgoing {
        topic,
        key: "c1",
        event_id: id,
        event_type,
        payload,
        traceparent: None,
    })
    .await
    .expect("send");
}

/// Runs a consumer until `until` returns true for what it collected.
async fn collect<F>(
    config: &KafkaConfig,
    group: &str,
    topic: &str,
    handle: F,
    until: impl Fn(usize) -> bool,
) -> Vec<Event>
where
    F: Fn(&Event) -> Result<(), Failure> + Send + Sync + 'static,
{
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let task = {
        let (config, group, topic) = (config.clone(), group.to_string(), topic.to_string());
        let (seen, stop, handle) = (seen.clone(), stop.clone(), Arc::new(handle));
        tokio::spawn(async move {
            kafka::consume(&config, &group, &[&topic], stop, move |e| {
                let (seen, handle) = (seen.clone(), handle.clone());
                async move {
                    let r = handle(&e);
                    if r.is_ok() {
                        seen.lock().unwrap().push(e);
                    }
                    r
                }
            })
            .await
        })
    };
    eventually(Duration::from_secs(15), "the records", || {
        let n = seen.lock().unwrap().len();
        std::future::ready(if until(n) { Ok(()) } else { Err(n) })
    })
    .await;
    stop.cancel();
    task.await.unwrap().expect("consumer ends cleanly");
    Arc::try_unwrap(seen).unwrap().into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_round_trip_with_key_headers_and_payload() {
    let broker = Broker::start(Storage::Memory);
    let config = config(&broker);
    kafka::ensure_topics(&config, &["t.roundtrip"])
        .await
        .unwrap();
    // Creating again is not an error.
    kafka::ensure_topics(&config, &["t.roundtrip"])
        .await
        .unwrap();
    let producer = Producer::new(&config).unwrap();
    for i in 0..3 {
        send(
            &producer,
            "t.roundtrip",
            &format!("e{i}"),
            PROGRESS,
            &progress("j", i),
        )
        .await;
    }
    let events = collect(&config, "g1", "t.roundtrip", |_| Ok(()), |n| n >= 3).await;
    assert_eq!(events.len(), 3);
    // One key: one partition, so order is kept.
    let ids: Vec<_> = events
        .iter()
        .map(|e| e.event_id().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["e0", "e1", "e2"]);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.key.as_deref(), Some("c1"));
        let p: JobProgress = JOBS_PROGRESS.decode(e).unwrap();
        assert_eq!(p.percent, i as i32);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_goes_to_the_dead_letter_topic_and_the_consumer_goes_on() {
    let broker = Broker::start(Storage::Memory);
    let config = config(&broker);
    kafka::ensure_topics(&config, &["t.work"]).await.unwrap();
    let producer = Producer::new(&config).unwrap();
    send(
        &producer,
        "t.work",
        "bad",
        PROGRESS,
        b"\xff\xff not protobuf",
    )
    .await;
    send(&producer, "t.work", "good", PROGRESS, &progress("j", 50)).await;

    let handled = collect(
        &config,
        "g-work",
        "t.work",
        |e| JOBS_PROGRESS.decode(e).map(|_| ()),
        |n| n >= 1,
    )
    .await;
    assert_eq!(handled.len(), 1);
    assert_eq!(handled[0].event_id(), Some("good"));

    let dead = collect(
        &config,
        "g-dlq",
        &kafka::dlq("t.work"),
        |_| Ok(()),
        |n| n >= 1,
    )
    .await;
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(d.event_id(), Some("bad"), "original headers are kept");
    assert_eq!(d.header(kafka::HEADER_DLQ_TOPIC), Some("t.work"));
    assert_eq!(d.header(kafka::HEADER_DLQ_ATTEMPTS), Some("1"));
    assert!(
        d.header(kafka::HEADER_DLQ_ERROR)
            .unwrap()
            .contains("cannot decode")
    );
    assert_eq!(d.payload, b"\xff\xff not protobuf");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_failure_is_retried_then_dead_lettered_when_it_persists() {
    let broker = Broker::start(Storage::Memory);
    let config = config(&broker);
    kafka::ensure_topics(&config, &["t.retry"]).await.unwrap();
    let producer = Producer::new(&config).unwrap();
    send(&producer, "t.retry", "flaky", PROGRESS, &progress("a", 1)).await;
    send(&producer, "t.retry", "broken", PROGRESS, &progress("b", 1)).await;
    send(&producer, "t.retry", "last", PROGRESS, &progress("c", 1)).await;

    let flaky_calls = Arc::new(AtomicU32::new(0));
    let calls = flaky_calls.clone();
    let handled = collect(
        &config,
        "g-retry",
        "t.retry",
        move |e| match e.event_id() {
            // Fails twice, then works: within max_attempts (3).
            Some("flaky") if calls.fetch_add(1, Ordering::SeqCst) < 2 => {
                Err(Failure::Retryable("database busy".into()))
            }
            Some("broken") => Err(Failure::Retryable("never works".into())),
            _ => Ok(()),
        },
        |n| n >= 2,
    )
    .await;
    let ids: Vec<_> = handled.iter().map(|e| e.event_id().unwrap()).collect();
    assert_eq!(ids, ["flaky", "last"]);
    assert_eq!(flaky_calls.load(Ordering::SeqCst), 3);

    let dead = collect(
        &config,
        "g-retry-dlq",
        &kafka::dlq("t.retry"),
        |_| Ok(()),
        |n| n >= 1,
    )
    .await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event_id(), Some("broken"));
    assert_eq!(dead[0].header(kafka::HEADER_DLQ_ATTEMPTS), Some("3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_records_are_not_delivered_again_to_the_group() {
    let broker = Broker::start(Storage::Memory);
    let config = config(&broker);
    kafka::ensure_topics(&config, &["t.commit"]).await.unwrap();
    let producer = Producer::new(&config).unwrap();
    for i in 0..3 {
        send(
            &producer,
            "t.commit",
            &format!("old{i}"),
            PROGRESS,
            &progress("j", i),
        )
        .await;
    }
    let first = collect(&config, "g-commit", "t.commit", |_| Ok(()), |n| n >= 3).await;
    assert_eq!(first.len(), 3);
    // The async commits land before the group comes back.
    eventually(Duration::from_secs(10), "the commits", || {
        let committed: i64 = committed_offsets(&config, "g-commit", "t.commit")
            .iter()
            .map(|(_, o)| o)
            .sum();
        std::future::ready(if committed == 3 {
            Ok(())
        } else {
            Err(committed)
        })
    })
    .await;
    send(&producer, "t.commit", "new", PROGRESS, &progress("j", 9)).await;
    let second = collect(&config, "g-commit", "t.commit", |_| Ok(()), |n| n >= 1).await;
    let ids: Vec<_> = second.iter().map(|e| e.event_id().unwrap()).collect();
    assert_eq!(ids, ["new"]);
}
