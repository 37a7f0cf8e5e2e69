//! A consumer that records every event on some topics, for tests that
//! assert what a service published.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use cg_runtime::kafka::{self, Event, KafkaConfig};
use tokio_util::sync::CancellationToken;

/// Records events from `topics` (from the earliest offset) until dropped.
pub struct Tap {
    seen: Arc<Mutex<Vec<Event>>>,
    stop: CancellationToken,
}

impl Tap {
    pub fn start(config: &KafkaConfig, topics: &[&str]) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let (config, topics, sink, token) = (
            config.clone(),
            topics.iter().map(|t| (*t).to_string()).collect::<Vec<_>>(),
            seen.clone(),
            stop.clone(),
        );
        let group = format!("tap-{}", uuid::Uuid::new_v4());
        tokio::spawn(async move {
            let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
            let consumed = kafka::consume(&config, &group, &topics, token, move |e| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push(e);
                    Ok(())
                }
            })
            .await;
            if let Err(e) = consumed {
                eprintln!("tap stopped: {e}");
            }
        });
        Self { seen, stop }
    }

    /// Everything recorded so far.
    pub fn events(&self) -> Vec<Event> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the recorded events; panics with `what`
    /// after `within`.
    pub async fn wait(
        &self,
        within: Duration,
        what: &str,
        done: impl Fn(&[Event]) -> bool,
    ) -> Vec<Event> {
        crate::eventually(within, what, || {
            let events = self.events();
            let n = events.len();
            std::future::ready(if done(&events) {
                Ok(events)
            } else {
                Err(format!("{n} event(s)"))
            })
        })
        .await
    }
}

/// Everything published on `topic` under `key` so far, read to the end:
/// a marker is published behind it (same key, so same partition and
/// order), and the records before the marker are returned. Duplicates show
/// as duplicates; nothing in flight is missed.
pub async fn read_to_end(config: &KafkaConfig, topic: &str, key: &str) -> Vec<Event> {
    const MARKER: &str = "cg.test.EndMarker";
    let marker_id = uuid::Uuid::new_v4().to_string();
    kafka::Producer::new(config)
        .expect("a producer")
        .send(kafka::Outgoing {
            topic,
            key,
            event_id: &marker_id,
            event_type: MARKER,
            payload: b"",
            traceparent: None,
        })
        .await
        .expect("the marker is published");
    let tap = Tap::start(config, &[topic]);
    let seen = tap
        .wait(Duration::from_secs(20), "the end marker", |events| {
            events
                .iter()
                .any(|e| e.event_id() == Some(marker_id.as_str()))
        })
        .await;
    seen.into_iter()
        .filter(|e| e.key.as_deref() == Some(key))
        .take_while(|e| e.event_id() != Some(marker_id.as_str()))
        .collect()
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Samples the offsets `group` commits on `topic` every 100 ms on a thread
/// of its own, and fails if any partition's offset ever goes down.
pub struct OffsetWatch {
    stop: CancellationToken,
    sampler: tokio::task::JoinHandle<u32>,
}

impl OffsetWatch {
    pub fn start(config: &KafkaConfig, group: &str, topic: &str) -> Self {
        let stop = CancellationToken::new();
        let (config, group, topic, watching) = (
            config.clone(),
            group.to_string(),
            topic.to_string(),
            stop.clone(),
        );
        let sampler = tokio::task::spawn_blocking(move || {
            // One client for the whole watch: a new one per sample spends most
            // of its time finding the coordinator, and samples too seldom.
            let offsets = GroupOffsets::new(&config, &group, &topic);
            let mut high: std::collections::HashMap<i32, i64> = Default::default();
            let mut samples = 0;
            while !watching.is_cancelled() {
                for (partition, offset) in offsets.read() {
                    let before = high.entry(partition).or_insert(offset);
                    assert!(
                        offset >= *before,
                        "partition {partition}: committed offset went from {before} to {offset}"
                    );
                    *before = offset;
                }
                samples += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        });
        Self { stop, sampler }
    }

    /// Stops sampling and returns how often it sampled; panics if an offset
    /// went backwards or the watch sampled too little to say anything.
    pub async fn finish(self) -> u32 {
        self.stop.cancel();
        let samples = self
            .sampler
            .await
            .expect("no committed offset went backwards");
        assert!(samples > 10, "the offsets were sampled {samples} times");
        samples
    }
}

/// The offsets consumer group `group` has committed on `topic`, by
/// partition (partitions it never committed are left out).
pub fn committed_offsets(config: &KafkaConfig, group: &str, topic: &str) -> Vec<(i32, i64)> {
    GroupOffsets::new(config, group, topic).read()
}

/// A client that reads one group's committed offsets on one topic.
struct GroupOffsets {
    consumer: rdkafka::consumer::BaseConsumer,
    partitions: rdkafka::TopicPartitionList,
}

impl GroupOffsets {
    const TIMEOUT: Duration = Duration::from_secs(10);

    fn new(config: &KafkaConfig, group: &str, topic: &str) -> Self {
        use rdkafka::consumer::Consumer as _;
        let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", group)
            .create()
            .expect("a group client");
        let metadata = consumer
            .fetch_metadata(Some(topic), Self::TIMEOUT)
            .expect("topic metadata");
        let mut partitions = rdkafka::TopicPartitionList::new();
        for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
            partitions.add_partition(topic, p.id());
        }
        Self {
            consumer,
            partitions,
        }
    }

    fn read(&self) -> Vec<(i32, i64)> {
        use rdkafka::consumer::Consumer as _;
        self.consumer
            .committed_offsets(self.partitions.clone(), Self::TIMEOUT)
            .expect("committed offsets")
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                rdkafka::Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect()
    }
}

/// True once `topic` exists with partitions on the broker.
pub fn topic_exists(config: &KafkaConfig, topic: &str) -> bool {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let client: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .create()
        .expect("a metadata client");
    client
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .is_ok_and(|m| {
            m.topics()
                .iter()
                .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        })
}
