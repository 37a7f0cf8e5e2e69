//! Kafka for every service: topic creation at start, an idempotent producer
//! that stamps each record with its event id, type and W3C `traceparent`,
//! and a consumer loop that commits only after processing, retries with
//! full-jitter backoff and parks what keeps failing in `<topic>.dlq`.
//!
//! Nothing here depends on the broker behind it: Apache Kafka in compose,
//! tansu in tests and the embedded launcher.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use rdkafka::{
    ClientConfig, Message as _,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::{ClientContext, DefaultClientContext},
    consumer::{CommitMode, Consumer as _, ConsumerContext, StreamConsumer},
    error::{KafkaError, RDKafkaErrorCode},
    message::{BorrowedMessage, Header, Headers as _, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
    statistics::Statistics,
    topic_partition_list::{Offset, TopicPartitionList},
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::Error;

/// Record headers every event carries.
pub const HEADER_EVENT_ID: &str = "ce-id";
pub const HEADER_EVENT_TYPE: &str = "ce-type";
pub const HEADER_TRACEPARENT: &str = "traceparent";
/// Headers a dead-lettered record gains.
pub const HEADER_DLQ_ERROR: &str = "dlq-error";
pub const HEADER_DLQ_ATTEMPTS: &str = "dlq-attempts";
pub const HEADER_DLQ_TOPIC: &str = "dlq-original-topic";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: comma-separated `host:port`.
    pub brokers: String,
    /// Partitions of the topics this service creates.
    pub partitions: i32,
    pub replication_factor: i32,
    /// Attempts at one record before it goes to `<topic>.dlq`.
    pub max_attempts: u32,
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_cap: Duration,
    #[serde(with = "humantime_serde")]
    pub send_timeout: Duration,
    /// How long a fetch may wait for records. Brokers that hold a fetch for
    /// the whole wait (tansu does) add this to every hop of the event chain.
    #[serde(with = "humantime_serde")]
    pub fetch_wait: Duration,
    /// How often consumers export their lag (librdkafka statistics).
    #[serde(with = "humantime_serde")]
    pub stats_interval: Duration,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            partitions: 6,
            replication_factor: 1,
            max_attempts: 5,
            retry_base: Duration::from_millis(100),
            retry_cap: Duration::from_secs(10),
            send_timeout: Duration::from_secs(30),
            fetch_wait: Duration::from_millis(20),
            stats_interval: Duration::from_secs(5),
        }
    }
}

impl KafkaConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.brokers.trim().is_empty() {
            return Err("kafka.brokers must name at least one host:port".into());
        }
        if self.partitions < 1 || self.replication_factor < 1 {
            return Err("kafka.partitions and kafka.replication_factor must be at least 1".into());
        }
        if self.max_attempts == 0 {
            return Err("kafka.max_attempts must be at least 1".into());
        }
        if self.stats_interval < Duration::from_millis(100) {
            return Err("kafka.stats_interval must be at least 100ms".into());
        }
        Ok(())
    }

    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        c
    }
}

fn kafka_err(what: &str, e: KafkaError) -> Error {
    Error::Kafka(format!("{what}: {e}"))
}

/// The dead-letter topic of `topic`.
pub fn dlq(topic: &str) -> String {
    format!("{topic}.dlq")
}

/// Creates `topics` and their dead-letter topics; ones that exist already
/// count as created (brokers often disable auto-creation, tansu never does it).
pub async fn ensure_topics(config: &KafkaConfig, topics: &[&str]) -> Result<(), Error> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = config
        .client()
        .create()
        .map_err(|e| kafka_err("admin client", e))?;
    let names: Vec<String> = topics
        .iter()
        .flat_map(|t| [t.to_string(), dlq(t)])
        .collect();
    let new: Vec<NewTopic<'_>> = names
        .iter()
        .map(|n| {
            NewTopic::new(
                n,
                config.partitions,
                TopicReplication::Fixed(config.replication_factor),
            )
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(new.iter(), &opts)
        .await
        .map_err(|e| kafka_err("create topics", e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(Error::Kafka(format!("create topic {topic}: {code}")));
            }
        }
    }
    Ok(())
}

/// An idempotent producer (acks=all): a retried send never duplicates.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
    timeout: Duration,
}

/// One event to publish.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub topic: &'a str,
    /// The cluster id: ordering is per cluster.
    pub key: &'a str,
    pub event_id: &'a str,
    /// The payload's protobuf full name, e.g. `clustergenie.events.v1.JobProgress`.
    pub event_type: &'a str,
    pub payload: &'a [u8],
    /// The W3C trace context to continue; `None` takes the current span's.
    pub traceparent: Option<&'a str>,
}

impl Producer {
    pub fn new(config: &KafkaConfig) -> Result<Self, Error> {
        let inner = config
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "0")
            .set(
                "message.timeout.ms",
                config.send_timeout.as_millis().to_string(),
            )
            .create()
            .map_err(|e| kafka_err("producer", e))?;
        Ok(Self {
            inner,
            timeout: config.send_timeout,
        })
    }

    /// Sends and waits for the broker's acknowledgement.
    pub async fn send(&self, event: Outgoing<'_>) -> Result<(), Error> {
        self.send_all(std::slice::from_ref(&event)).await
    }

    /// Enqueues every event in order, then waits for all acknowledgements:
    /// one round trip for the batch. The idempotent producer keeps the order
    /// within each partition.
    pub async fn send_all(&self, events: &[Outgoing<'_>]) -> Result<(), Error> {
        let mut pending = Vec::with_capacity(events.len());
        for event in events {
            pending.push(self.enqueue(event).await?);
        }
        for (delivery, topic) in pending {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => return Err(kafka_err(&format!("send to {topic}"), e)),
                Err(_) => return Err(Error::Kafka(format!("send to {topic}: producer dropped"))),
            }
        }
        Ok(())
    }

    async fn enqueue<'a>(
        &self,
        event: &Outgoing<'a>,
    ) -> Result<(rdkafka::producer::DeliveryFuture, &'a str), Error> {
        let traceparent = match event.traceparent {
            Some(tp) => Some(tp.to_string()),
            None => current_traceparent(),
        };
        let mut headers = OwnedHeaders::new()
            .insert(Header {
                key: HEADER_EVENT_ID,
                value: Some(event.event_id),
            })
            .insert(Header {
                key: HEADER_EVENT_TYPE,
                value: Some(event.event_type),
            });
        if let Some(tp) = &traceparent {
            headers = headers.insert(Header {
                key: HEADER_TRACEPARENT,
                value: Some(tp.as_str()),
            });
        }
        let mut record = FutureRecord::to(event.topic)
            .key(event.key)
            .payload(event.payload)
            .headers(headers);
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            match self.inner.send_result(record) {
                Ok(delivery) => return Ok((delivery, event.topic)),
                // The local queue is full: wait for room, as `send` would.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                    if tokio::time::Instant::now() < deadline =>
                {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(kafka_err(&format!("send to {}", event.topic), e)),
            }
        }
    }

    async fn send_raw(&self, record: FutureRecord<'_, [u8], [u8]>) -> Result<(), Error> {
        self.inner
            .send(record, self.timeout)
            .await
            .map(|_| ())
            .map_err(|(e, _)| kafka_err("send", e))
    }
}

/// The W3C trace context of the current span, if it is being traced.
pub fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut carrier: HashMap<String, String> = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    carrier.remove(HEADER_TRACEPARENT)
}

/// A received record, owned.
#[derive(Debug, Clone)]
pub struct Event {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub payload: Vec<u8>,
}

impl Event {
    fn from_message(m: &BorrowedMessage<'_>) -> Self {
        let headers = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            headers,
            payload: m.payload().unwrap_or_default().to_vec(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    pub fn event_id(&self) -> Option<&str> {
        self.header(HEADER_EVENT_ID)
    }

    pub fn event_type(&self) -> Option<&str> {
        self.header(HEADER_EVENT_TYPE)
    }
}

/// Why a handler failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// May succeed later (a database hiccup): retried with backoff.
    Retryable(String),
    /// Never will (garbage, unknown type): dead-lettered at once.
    Permanent(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Retryable(m) => write!(f, "retryable: {m}"),
            Self::Permanent(m) => write!(f, "permanent: {m}"),
        }
    }
}

pub use crate::time::backoff;

/// Exports each assigned partition's consumer lag from librdkafka's
/// periodic statistics (no extra broker round trips).
struct LagReporter {
    group: String,
}

impl ClientContext for LagReporter {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                // -1 is librdkafka's internal UA partition; a negative lag
                // means "not known yet".
                if *partition < 0 || p.consumer_lag < 0 {
                    continue;
                }
                metrics::gauge!(
                    "cg_kafka_consumer_lag",
                    "group" => self.group.clone(),
                    "topic" => topic.clone(),
                    "partition" => partition.to_string()
                )
                .set(p.consumer_lag as f64);
            }
        }
    }
}

impl ConsumerContext for LagReporter {}

/// Records of one partition waiting for its lane; a full lane pauses intake.
const LANE_CAPACITY: usize = 16;

type Lanes = HashMap<(String, i32), tokio::sync::mpsc::Sender<Event>>;

/// Consumes `topics` as consumer group `group` until `stop`, handing each
/// record to `handle`. Each assigned partition gets its own lane (a task):
/// records of one partition (one cluster's, since records are keyed by
/// cluster) are handled in order, partitions in parallel. Offsets are
/// committed only after a record was handled or dead-lettered, so delivery
/// is at least once; a record that keeps failing goes to `<topic>.dlq` and
/// its lane moves on.
pub async fn consume<F, Fut>(
    config: &KafkaConfig,
    group: &str,
    topics: &[&str],
    stop: CancellationToken,
    handle: F,
) -> Result<(), Error>
where
    F: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Failure>> + Send + 'static,
{
    let consumer: StreamConsumer<LagReporter> = config
        .client()
        .set(
            "statistics.interval.ms",
            config.stats_interval.as_millis().to_string(),
        )
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set(
            "fetch.wait.max.ms",
            config.fetch_wait.as_millis().to_string(),
        )
        .create_with_context(LagReporter {
            group: group.to_string(),
        })
        .map_err(|e| kafka_err("consumer", e))?;
    consumer
        .subscribe(topics)
        .map_err(|e| kafka_err("subscribe", e))?;
    let lane = Lane {
        consumer: Arc::new(consumer),
        producer: Producer::new(config)?,
        config: config.clone(),
        handle: Arc::new(handle),
        stop: stop.clone(),
    };
    let mut lanes: Lanes = HashMap::new();
    let mut running = tokio::task::JoinSet::new();
    let result = loop {
        let message = tokio::select! {
            () = stop.cancelled() => break Ok(()),
            m = lane.consumer.recv() => m,
        };
        let event = match message {
            Ok(m) => Event::from_message(&m),
            Err(e) => {
                // Broker away or rebalancing: librdkafka reconnects by itself.
                tracing::warn!(error = %e, group, "kafka receive failed");
                tokio::select! {
                    () = stop.cancelled() => break Ok(()),
                    () = tokio::time::sleep(config.retry_base) => continue,
                }
            }
        };
        let key = (event.topic.clone(), event.partition);
        let sender = match lanes.get(&key) {
            Some(tx) if !tx.is_closed() => tx.clone(),
            _ => {
                let (tx, rx) = tokio::sync::mpsc::channel(LANE_CAPACITY);
                running.spawn(lane.clone().run(rx));
                lanes.insert(key, tx.clone());
                tx
            }
        };
        tokio::select! {
            () = stop.cancelled() => break Ok(()),
            sent = sender.send(event) => {
                if sent.is_err() {
                    // The lane ended on an error, reported just below.
                    tracing::warn!(group, "a partition lane stopped");
                }
            }
        }
        if let Some(failed) = first_failure(&mut running) {
            break Err(failed);
        }
    };
    // Lanes stop at their next record or retry wait; a record in a handler
    // is finished first so no handler outlives this call.
    drop(lanes);
    stop_lanes(&stop, &mut running, result).await
}

async fn stop_lanes(
    stop: &CancellationToken,
    running: &mut tokio::task::JoinSet<Result<(), Error>>,
    result: Result<(), Error>,
) -> Result<(), Error> {
    if result.is_err() && !stop.is_cancelled() {
        // Unlike a shutdown, the lanes would keep running without this.
        running.abort_all();
    }
    let mut result = result;
    while let Some(joined) = running.join_next().await {
        if let Ok(Err(e)) = joined
            && result.is_ok()
        {
            result = Err(e);
        }
    }
    result
}

fn first_failure(running: &mut tokio::task::JoinSet<Result<(), Error>>) -> Option<Error> {
    while let Some(joined) = running.try_join_next() {
        match joined {
            Ok(Err(e)) => return Some(e),
            Err(e) if e.is_panic() => {
                return Some(Error::Config(format!("a partition lane panicked: {e}")));
            }
            _ => {}
        }
    }
    None
}

/// Handles one partition's records in order.
struct Lane<F> {
    consumer: Arc<StreamConsumer<LagReporter>>,
    producer: Producer,
    config: KafkaConfig,
    handle: Arc<F>,
    stop: CancellationToken,
}

impl<F> Clone for Lane<F> {
    fn clone(&self) -> Self {
        Self {
            consumer: self.consumer.clone(),
            producer: self.producer.clone(),
            config: self.config.clone(),
            handle: self.handle.clone(),
            stop: self.stop.clone(),
        }
    }
}

impl<F, Fut> Lane<F>
where
    F: Fn(Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Failure>> + Send + 'static,
{
    async fn run(self, mut records: tokio::sync::mpsc::Receiver<Event>) -> Result<(), Error> {
        loop {
            let event = tokio::select! {
                biased;
                () = self.stop.cancelled() => return Ok(()),
                e = records.recv() => match e {
                    Some(e) => e,
                    None => return Ok(()),
                },
            };
            let mut attempt = 0u32;
            let failure = loop {
                attempt += 1;
                match (self.handle)(event.clone()).await {
                    Ok(()) => break None,
                    Err(Failure::Retryable(reason)) if attempt < self.config.max_attempts => {
                        let wait = backoff(self.config.retry_base, self.config.retry_cap, attempt);
                        tracing::warn!(topic = %event.topic, offset = event.offset, attempt, %reason, "handler failed; retrying");
                        tokio::select! {
                            // Uncommitted: the record is redelivered after a restart.
                            () = self.stop.cancelled() => return Ok(()),
                            () = tokio::time::sleep(wait) => {}
                        }
                    }
                    Err(f) => break Some(f),
                }
            };
            let outcome = if let Some(failure) = failure {
                tracing::error!(topic = %event.topic, offset = event.offset, attempt, %failure, "dead-lettering record");
                // The offset moves on only once the record is parked: while
                // the broker refuses it, this partition waits (others go on).
                let mut tries = 0u32;
                while let Err(e) = dead_letter(&self.producer, &event, &failure, attempt).await {
                    tries = tries.saturating_add(1);
                    tracing::warn!(error = %e, tries, "dead-lettering failed; retrying");
                    tokio::select! {
                        () = self.stop.cancelled() => return Ok(()),
                        () = tokio::time::sleep(backoff(self.config.retry_base, self.config.retry_cap, tries)) => {}
                    }
                }
                "dead_lettered"
            } else {
                "handled"
            };
            metrics::counter!("cg_kafka_records_total", "topic" => event.topic.clone(), "outcome" => outcome)
                .increment(1);
            let mut done = TopicPartitionList::new();
            let committed = done
                .add_partition_offset(
                    &event.topic,
                    event.partition,
                    Offset::Offset(event.offset + 1),
                )
                .and_then(|()| self.consumer.commit(&done, CommitMode::Async));
            if let Err(e) = committed {
                tracing::warn!(error = %e, "offset commit failed; the record may be redelivered");
            }
        }
    }
}

async fn dead_letter(
    producer: &Producer,
    event: &Event,
    failure: &Failure,
    attempts: u32,
) -> Result<(), Error> {
    let topic = dlq(&event.topic);
    let mut headers = OwnedHeaders::new();
    for (k, v) in &event.headers {
        headers = headers.insert(Header {
            key: k.as_str(),
            value: Some(v.as_slice()),
        });
    }
    let reason = failure.to_string();
    let attempts = attempts.to_string();
    headers = headers
        .insert(Header {
            key: HEADER_DLQ_ERROR,
            value: Some(reason.as_str()),
        })
        .insert(Header {
            key: HEADER_DLQ_ATTEMPTS,
            value: Some(attempts.as_str()),
        })
        .insert(Header {
            key: HEADER_DLQ_TOPIC,
            value: Some(event.topic.as_str()),
        });
    let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&topic)
        .payload(event.payload.as_slice())
        .headers(headers);
    if let Some(key) = &event.key {
        record = record.key(key.as_bytes());
    }
    producer.send_raw(record).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_never_exceeds_its_cap() {
        for attempt in 0..40 {
            let d = backoff(Duration::from_millis(100), Duration::from_secs(2), attempt);
            assert!(d <= Duration::from_secs(2));
        }
    }

    #[test]
    fn the_dead_letter_topic_is_suffixed() {
        assert_eq!(dlq("cg.jobs.requested"), "cg.jobs.requested.dlq");
    }

    #[test]
    fn empty_brokers_are_rejected() {
        let c = KafkaConfig {
            brokers: " ".into(),
            ..KafkaConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
