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

/// The dead letters of `topic`, once there are any.
async fn dead_letters(config: &KafkaConfig, topic: &str) -> Vec<cg_runtime::dlq::DeadLetter> {
    eventually(Duration::from_secs(20), "the dead letter", || {
        let (config, topic) = (config.clone(), topic.to_string());
        async move {
            let dead = cg_runtime::dlq::list(&config, &topic, Duration::from_secs(1))
                .await
                .map_err(|e| e.to_string())?;
            if dead.is_empty() {
                Err("none yet".to_string())
            } else {
                Ok(dead)
            }
        }
    })
    .await
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
async fn a_transient_failure_is_retried_for_as_long_as_it_lasts_and_only_permanent_ones_are_dead_lettered()
 {
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
            // A database away for a while: far more failures than any
            // fixed attempt budget, and still no dead letter.
            Some("flaky") if calls.fetch_add(1, Ordering::SeqCst) < 12 => {
                Err(Failure::Retryable("database unavailable".into()))
            }
            Some("broken") => Err(Failure::Permanent("invalid job".into())),
            _ => Ok(()),
        },
        |n| n >= 2,
    )
    .await;
    let ids: Vec<_> = handled.iter().map(|e| e.event_id().unwrap()).collect();
    assert_eq!(ids, ["flaky", "last"], "one partition: order is kept");
    assert_eq!(flaky_calls.load(Ordering::SeqCst), 13);

    let dead = collect(
        &config,
        "g-retry-dlq",
        &kafka::dlq("t.retry"),
        |_| Ok(()),
        |n| n >= 1,
    )
    .await;
    assert_eq!(dead.len(), 1, "only the permanent failure is dead-lettered");
    assert_eq!(dead[0].event_id(), Some("broken"));
    assert_eq!(dead[0].header(kafka::HEADER_DLQ_ATTEMPTS), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_whose_handler_panics_twice_is_dead_lettered_and_the_rest_flow_on() {
    let broker = Broker::start(Storage::Memory);
    let config = config(&broker);
    kafka::ensure_topics(&config, &["t.panic"]).await.unwrap();
    let producer = Producer::new(&config).unwrap();
    send(&producer, "t.panic", "poison", PROGRESS, &progress("a", 1)).await;
    send(&producer, "t.panic", "fine", PROGRESS, &progress("b", 1)).await;
    let panics = Arc::new(AtomicU32::new(0));
    let seen = panics.clone();
    let handled = collect(
        &config,
        "g-panic",
        "t.panic",
        move |e| {
            if e.event_id() == Some("poison") {
                seen.fetch_add(1, Ordering::SeqCst);
                panic!("a bug in the handler");
            }
            Ok(())
        },
        |n| n >= 1,
    )
    .await;
    assert_eq!(handled[0].event_id(), Some("fine"));
    assert_eq!(panics.load(Ordering::SeqCst), 2);
    let dead = cg_runtime::dlq::list(&config, "t.panic", Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event_id, "poison");
    assert!(dead[0].error.contains("panicked"), "{}", dead[0].error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_replayed_reaches_its_topic_again_with_its_headers_and_a_fixed_handler_takes_it()
 {
    let broker = Broker::start(Storage::Memory);
    let config = config(&broker);
    kafka::ensure_topics(&config, &["t.replay"]).await.unwrap();
    let producer = Producer::new(&config).unwrap();
    send(
        &producer,
        "t.replay",
        "needs-fix",
        PROGRESS,
        &progress("a", 1),
    )
    .await;

    // The handler has a bug: the record is refused as permanent.
    let fixed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let handled = Arc::new(Mutex::new(Vec::<Event>::new()));
    let stop = CancellationToken::new();
    let consumer = {
        let (config, fixed, handled, stop) =
            (config.clone(), fixed.clone(), handled.clone(), stop.clone());
        tokio::spawn(async move {
            kafka::consume(&config, "g-replay", &["t.replay"], stop, move |e| {
                let (fixed, handled) = (fixed.clone(), handled.clone());
                async move {
                    if !fixed.load(Ordering::SeqCst) {
                        return Err(Failure::Permanent("unknown field".into()));
                    }
                    handled.lock().unwrap().push(e);
                    Ok(())
                }
            })
            .await
        })
    };
    let dead = dead_letters(&config, "t.replay").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event_id, "needs-fix", "its headers are kept");
    assert_eq!(dead[0].event_type, PROGRESS);
    assert_eq!(dead[0].original_topic, "t.replay");
    assert!(dead[0].error.contains("unknown field"));

    // The fix ships; the record is re-driven.
    fixed.store(true, Ordering::SeqCst);
    let replayed = cg_runtime::dlq::replay(&config, "t.replay", Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(replayed, 1);
    eventually(Duration::from_secs(20), "the replayed record", || {
        let n = handled.lock().unwrap().len();
        std::future::ready(if n >= 1 { Ok(()) } else { Err(n) })
    })
    .await;
    let got = handled.lock().unwrap()[0].clone();
    assert_eq!(got.event_id(), Some("needs-fix"));
    assert_eq!(got.header(cg_runtime::dlq::HEADER_REPLAYS), Some("1"));
    assert_eq!(got.header(kafka::HEADER_DLQ_ERROR), None);
    let p: JobProgress = JOBS_PROGRESS.decode(&got).unwrap();
    assert_eq!(p.job_id, "a");

    // A second replay finds nothing new to send.
    let again = cg_runtime::dlq::replay(&config, "t.replay", Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(again, 0);
    stop.cancel();
    consumer.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_joining_and_leaving_never_move_a_committed_offset_backwards() {
    let broker = Broker::start(Storage::Memory);
    let config = KafkaConfig {
        commit_interval: Duration::from_millis(100),
        session_timeout: Duration::from_secs(6),
        ..config(&broker)
    };
    kafka::ensure_topics(&config, &["t.rebalance"])
        .await
        .unwrap();
    let producer = Producer::new(&config).unwrap();
    let handled = Arc::new(Mutex::new(std::collections::HashSet::<String>::new()));
    let start = {
        let (config, handled) = (config.clone(), handled.clone());
        move |stop: CancellationToken| {
            let (config, handled) = (config.clone(), handled.clone());
            tokio::spawn(async move {
                kafka::consume(&config, "g-rebalance", &["t.rebalance"], stop, move |e| {
                    let handled = handled.clone();
                    async move {
                        // Slow enough that records are in flight at each rebalance.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        handled
                            .lock()
                            .unwrap()
                            .insert(e.event_id().unwrap_or_default().to_string());
                        Ok(())
                    }
                })
                .await
            })
        }
    };
    let first_stop = CancellationToken::new();
    let first = start(first_stop.clone());
    let watch = cg_testkit::OffsetWatch::start(&config, "g-rebalance", "t.rebalance");
    let total = 300;
    let mut second_member = None;
    for i in 0..total {
        // Keys spread the records over every partition.
        producer
            .send(Outgoing {
                topic: "t.rebalance",
                key: &format!("c{}", i % 7),
                event_id: &format!("r{i}"),
                event_type: PROGRESS,
                payload: &progress("j", i),
                traceparent: None,
            })
            .await
            .unwrap();
        if i == 60 {
            // A second member joins mid-burst…
            second_member = Some(tokio::spawn({
                let start = start.clone();
                async move {
                    let second_stop = CancellationToken::new();
                    let second = start(second_stop.clone());
                    tokio::time::sleep(Duration::from_secs(8)).await;
                    // …and leaves again while records still flow.
                    second_stop.cancel();
                    second.await.unwrap().unwrap();
                }
            }));
        }
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eventually(Duration::from_secs(60), "every record handled", || {
        let n = handled.lock().unwrap().len();
        std::future::ready(if n == total as usize { Ok(()) } else { Err(n) })
    })
    .await;
    eventually(Duration::from_secs(30), "every offset committed", || {
        let committed: i64 = committed_offsets(&config, "g-rebalance", "t.rebalance")
            .iter()
            .map(|(_, o)| o)
            .sum();
        std::future::ready(if committed == i64::from(total) {
            Ok(())
        } else {
            Err(committed)
        })
    })
    .await;
    // The watch covers the second member's leaving too, not just its joining.
    second_member.expect("a second member").await.unwrap();
    watch.finish().await;
    first_stop.cancel();
    first.await.unwrap().unwrap();
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

/// A test's (or a service's) runtime that shuts down cancels its consumer
/// tasks: the consumer is dropped there, and librdkafka's close waits for
/// the group coordinator. Against a broker that hangs that wait never
/// ends, and it must not hold up the runtime's shutdown.
#[test]
fn a_consumer_cancelled_while_its_broker_hangs_does_not_hold_up_the_runtime() {
    let broker = Broker::start(Storage::Memory);
    let config = config(&broker);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        kafka::ensure_topics(&config, &["t.frozen"]).await.unwrap();
        let handled = Arc::new(AtomicU32::new(0));
        let counter = handled.clone();
        let consumer_config = config.clone();
        // Never stopped: the runtime's shutdown cancels it.
        tokio::spawn(async move {
            kafka::consume(
                &consumer_config,
                "g.frozen",
                &["t.frozen"],
                CancellationToken::new(),
                move |_| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async { Ok(()) }
                },
            )
            .await
        });
        let producer = Producer::new(&config).unwrap();
        send(&producer, "t.frozen", "e1", PROGRESS, &progress("j", 1)).await;
        // A member of the group with an offset to commit.
        eventually(Duration::from_secs(20), "the record handled", || {
            let n = handled.load(Ordering::SeqCst);
            std::future::ready(if n > 0 { Ok(()) } else { Err(n) })
        })
        .await;
    });
    broker.freeze();
    let (done, shut_down) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(rt);
        let _ = done.send(());
    });
    let ended = shut_down.recv_timeout(Duration::from_secs(20));
    broker.thaw();
    assert!(
        ended.is_ok(),
        "the runtime's shutdown waited on the consumer's close for 20 s"
    );
}

/// The broker answers a waiting fetch when a record arrives (Apache Kafka
/// does; upstream tansu held every fetch for its whole wait, which is why
/// cg-broker carries a patched tansu-storage). With a 5 s fetch wait, each
/// record of a consumer that is already waiting arrives within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_reaches_a_waiting_consumer_before_its_fetch_wait_ends() {
    let broker = Broker::start(Storage::Memory);
    let config = KafkaConfig {
        fetch_wait: Duration::from_secs(5),
        ..config(&broker)
    };
    kafka::ensure_topics(&config, &["t.prompt"]).await.unwrap();
    let producer = Producer::new(&config).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let task = {
        let (config, stop) = (config.clone(), stop.clone());
        tokio::spawn(async move {
            kafka::consume(&config, "g-prompt", &["t.prompt"], stop, move |e| {
                let _ = tx.send((e, std::time::Instant::now()));
                async { Ok(()) }
            })
            .await
        })
    };
    // The first record also waits for the group to form.
    send(&producer, "t.prompt", "first", PROGRESS, &progress("j", 0)).await;
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the first record arrives")
        .unwrap();
    for i in 1..=3 {
        // Long enough for the consumer's next fetch to be waiting.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = std::time::Instant::now();
        send(
            &producer,
            "t.prompt",
            &format!("e{i}"),
            PROGRESS,
            &progress("j", i),
        )
        .await;
        let (event, at) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the record arrives")
            .unwrap();
        assert_eq!(event.event_id(), Some(format!("e{i}").as_str()));
        let took = at.duration_since(sent);
        assert!(
            took < Duration::from_secs(1),
            "record {i} took {took:?} with a 5 s fetch wait: the broker held the fetch"
        );
    }
    stop.cancel();
    task.await.unwrap().expect("consumer ends cleanly");
}

/// Records that wait together are handed over together, in order and no
/// more than `max_batch` at a time; a batch that fails for a transient
/// reason is retried whole, and one that holds a record that can never
/// succeed is handled again record by record, so only that record is
/// dead-lettered and every other one is handled exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_waiting_together_are_handled_as_batches_and_only_a_bad_one_is_dead_lettered() {
    const MAX_BATCH: usize = 8;
    let broker = Broker::start(Storage::Memory);
    let config = config(&broker);
    kafka::ensure_topics(&config, &["t.batch"]).await.unwrap();
    let producer = Producer::new(&config).unwrap();
    // All sent before the consumer starts: its first fetch finds them waiting.
    let ids: Vec<String> = (0..30).map(|i| format!("e{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let payload = if i == 17 {
            b"\xff\xff not protobuf".to_vec()
        } else {
            progress("j", i32::try_from(i).unwrap())
        };
        send(&producer, "t.batch", id, PROGRESS, &payload).await;
    }

    let handled = Arc::new(Mutex::new(Vec::<String>::new()));
    let sizes = Arc::new(Mutex::new(Vec::<usize>::new()));
    let transient = Arc::new(AtomicU32::new(0));
    let stop = CancellationToken::new();
    let task = {
        let (config, stop) = (config.clone(), stop.clone());
        let (handled, sizes, transient) = (handled.clone(), sizes.clone(), transient.clone());
        tokio::spawn(async move {
            kafka::consume_batches(
                &config,
                "g-batch",
                &["t.batch"],
                stop,
                MAX_BATCH,
                move |events| {
                    let (handled, sizes, transient) =
                        (handled.clone(), sizes.clone(), transient.clone());
                    async move {
                        // All or nothing, as one transaction would be.
                        let mut ids = Vec::new();
                        for e in &events {
                            JOBS_PROGRESS.decode(e)?;
                            if e.event_id() == Some("e3")
                                && transient.fetch_add(1, Ordering::SeqCst) < 2
                            {
                                return Err(Failure::Retryable("database unavailable".into()));
                            }
                            ids.push(e.event_id().unwrap().to_string());
                        }
                        sizes.lock().unwrap().push(events.len());
                        handled.lock().unwrap().extend(ids);
                        Ok(())
                    }
                },
            )
            .await
        })
    };
    eventually(Duration::from_secs(20), "the good records", || {
        let n = handled.lock().unwrap().len();
        std::future::ready(if n >= 29 { Ok(()) } else { Err(n) })
    })
    .await;
    let dead = dead_letters(&config, "t.batch").await;
    stop.cancel();
    task.await.unwrap().expect("consumer ends cleanly");

    let expected: Vec<String> = ids.iter().filter(|id| *id != "e17").cloned().collect();
    assert_eq!(
        *handled.lock().unwrap(),
        expected,
        "each good record once, in order"
    );
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event_id, "e17");
    assert_eq!(
        transient.load(Ordering::SeqCst),
        3,
        "the transient failure was retried"
    );
    let sizes = sizes.lock().unwrap().clone();
    assert!(sizes.iter().all(|&n| n <= MAX_BATCH), "{sizes:?}");
    assert!(
        sizes.iter().any(|&n| n > 1),
        "records waiting together came together: {sizes:?}"
    );
    // Closing committed the group's position: past the last record.
    let committed: i64 = tokio::task::spawn_blocking(move || {
        committed_offsets(&config, "g-batch", "t.batch")
            .into_iter()
            .map(|(_, o)| o)
            .sum()
    })
    .await
    .unwrap();
    assert_eq!(committed, 30);
}

/// A group whose committed offset falls inside a batch (records produced
/// together, then a commit after some of them) resumes at that record,
/// not at the next batch: nothing of the batch's rest is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_resuming_inside_a_produced_batch_gets_the_rest_of_it() {
    use rdkafka::{
        ClientConfig, Offset, TopicPartitionList,
        consumer::{BaseConsumer, CommitMode, Consumer as _},
        message::{Header, OwnedHeaders},
        producer::{FutureProducer, FutureRecord},
    };
    let broker = Broker::start(Storage::Memory);
    let config = config(&broker);
    kafka::ensure_topics(&config, &["t.midbatch"])
        .await
        .unwrap();
    // Lingering, so the ten records leave in one produce request: one batch.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("linger.ms", "200")
        .set("batch.num.messages", "100")
        .create()
        .unwrap();
    let deliveries: Vec<_> = (0..10)
        .map(|i| {
            let id = format!("e{i}");
            let payload = progress("j", i);
            producer
                .send_result(
                    FutureRecord::to("t.midbatch")
                        .key("c1")
                        .payload(&payload)
                        .headers(OwnedHeaders::new().insert(Header {
                            key: kafka::HEADER_EVENT_ID,
                            value: Some(id.as_str()),
                        })),
                )
                .map_err(|(e, _)| e)
                .unwrap()
        })
        .collect();
    let mut partition = None;
    for d in deliveries {
        let delivered = d.await.unwrap().map_err(|(e, _)| e).unwrap();
        assert!(partition.is_none_or(|p| p == delivered.partition));
        partition = Some(delivered.partition);
    }
    let partition = partition.unwrap();

    // The group handled e0..e3 and committed: it resumes at offset 4.
    let bootstrap = config.brokers.clone();
    tokio::task::spawn_blocking(move || {
        let committer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("group.id", "g-midbatch")
            .create()
            .unwrap();
        let mut at = TopicPartitionList::new();
        at.add_partition_offset("t.midbatch", partition, Offset::Offset(4))
            .unwrap();
        committer.commit(&at, CommitMode::Sync).unwrap();
    })
    .await
    .unwrap();

    let resumed = collect(&config, "g-midbatch", "t.midbatch", |_| Ok(()), |n| n >= 6).await;
    let ids: Vec<_> = resumed.iter().map(|e| e.event_id().unwrap()).collect();
    assert_eq!(ids, ["e4", "e5", "e6", "e7", "e8", "e9"]);
}
