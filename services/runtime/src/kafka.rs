//! Kafka for every service: topic creation at start, an idempotent producer
//! that stamps each record with its event id, type and W3C `traceparent`,
//! and a consumer loop that commits only after processing, retries
//! transient failures with full-jitter backoff for as long as they last and
//! parks what can never succeed in `<topic>.dlq` (see [`crate::dlq`] to
//! re-drive it).
//!
//! Nothing here depends on the broker behind it: Apache Kafka in compose,
//! tansu in tests and the embedded launcher.

use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};

use rdkafka::{
    ClientConfig, Message as _,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::{ClientContext, DefaultClientContext},
    consumer::{
        BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer,
    },
    error::{KafkaError, RDKafkaErrorCode},
    message::{BorrowedMessage, Header, Headers as _, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
    statistics::Statistics,
    topic_partition_list::TopicPartitionList,
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
    /// First wait before a transient failure is retried; waits double (with
    /// full jitter) up to `retry_cap`, for as long as the failure lasts.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_cap: Duration,
    #[serde(with = "humantime_serde")]
    pub send_timeout: Duration,
    /// How long the broker may hold a fetch that finds no records. Apache
    /// Kafka and cg-broker (a patched tansu) answer as soon as a record
    /// arrives, so this bounds how often an idle consumer asks, not how long
    /// a record waits; upstream tansu holds every fetch this long.
    #[serde(with = "humantime_serde")]
    pub fetch_wait: Duration,
    /// How often consumers export their lag (librdkafka statistics).
    #[serde(with = "humantime_serde")]
    pub stats_interval: Duration,
    /// How often consumers commit the offsets of handled records (also on
    /// every revoke and at the end).
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
    /// How long the group waits for a silent member before moving its
    /// partitions to the others.
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    /// The most records per produce batch (`batch.num.messages`). With
    /// `linger.ms` 0 a batch holds what queued while the previous request
    /// was in flight. 1 by default: on cg-broker, batches of many records
    /// measured no faster beyond noise, and a scale-out run with them
    /// stalled once (see services/provisioning/README.md); raise it on
    /// Apache Kafka. (cg-broker answers a fetch from inside a batch with
    /// that batch, as Kafka does; upstream tansu skipped the rest of it.)
    pub batch_records: u32,
    /// The largest record a producer sends (`message.max.bytes`); larger
    /// ones are refused, and an outbox row that big is parked.
    pub max_message_bytes: u32,
    /// First wait before a consumer that ended is started again (doubling
    /// up to 30 s while it keeps ending).
    #[serde(with = "humantime_serde")]
    pub restart_min: Duration,
    /// Static group membership (`group.instance.id` = `<this>-<group>`):
    /// a member that restarts under the same id takes its old place at
    /// once instead of waiting out the dead one's session. Unique per
    /// replica (a pod name); the embedded launcher, one process per data
    /// directory, sets it because tansu never expires a member that died
    /// with an earlier broker process.
    pub instance_id: Option<String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            partitions: 6,
            replication_factor: 1,
            retry_base: Duration::from_millis(100),
            retry_cap: Duration::from_secs(10),
            send_timeout: Duration::from_secs(30),
            fetch_wait: Duration::from_millis(20),
            stats_interval: Duration::from_secs(5),
            commit_interval: Duration::from_secs(1),
            max_message_bytes: 1_000_000,
            batch_records: 1,
            session_timeout: Duration::from_secs(10),
            restart_min: Duration::from_secs(1),
            instance_id: None,
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
        if !(1..=1_000_000).contains(&self.batch_records) {
            return Err("kafka.batch_records must be 1–1000000".into());
        }
        if !(1_000..=100_000_000).contains(&self.max_message_bytes) {
            return Err("kafka.max_message_bytes must be 1000–100000000".into());
        }
        if self.commit_interval < Duration::from_millis(10) {
            return Err("kafka.commit_interval must be at least 10ms".into());
        }
        // Apache Kafka refuses sessions under 6 s by default.
        if !(Duration::from_secs(6)..=Duration::from_secs(300)).contains(&self.session_timeout) {
            return Err("kafka.session_timeout must be between 6s and 5m".into());
        }
        if self.restart_min.is_zero() || self.retry_base.is_zero() {
            return Err("kafka.restart_min and kafka.retry_base must be positive".into());
        }
        if self.stats_interval < Duration::from_millis(100) {
            return Err("kafka.stats_interval must be at least 100ms".into());
        }
        Ok(())
    }

    pub(crate) fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        // Requests are small and answered one by one: Nagle would hold a
        // produce or fetch back until the previous one's ACK arrives.
        c.set("socket.nagle.disable", "true");
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
            .set("message.max.bytes", config.max_message_bytes.to_string())
            .set("batch.num.messages", config.batch_records.to_string())
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
        self.enqueue_raw(event)
            .await
            .map(|d| (d, event.topic))
            .map_err(|e| kafka_err(&format!("send to {}", event.topic), e))
    }

    /// Sends every event and reports each one's outcome: a record the
    /// broker refuses for itself does not fail the others.
    pub async fn send_each(&self, events: &[Outgoing<'_>]) -> Vec<Result<(), KafkaError>> {
        let mut pending = Vec::with_capacity(events.len());
        for event in events {
            pending.push(self.enqueue_raw(event).await);
        }
        let mut results = Vec::with_capacity(events.len());
        for delivery in pending {
            results.push(match delivery {
                Ok(d) => match d.await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((e, _))) => Err(e),
                    Err(_) => Err(KafkaError::Canceled),
                },
                Err(e) => Err(e),
            });
        }
        results
    }

    async fn enqueue_raw(
        &self,
        event: &Outgoing<'_>,
    ) -> Result<rdkafka::producer::DeliveryFuture, KafkaError> {
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
                Ok(delivery) => return Ok(delivery),
                // The local queue is full: wait for room, as `send` would.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                    if tokio::time::Instant::now() < deadline =>
                {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    pub(crate) async fn send_raw(&self, record: FutureRecord<'_, [u8], [u8]>) -> Result<(), Error> {
        self.inner
            .send(record, self.timeout)
            .await
            .map(|_| ())
            .map_err(|(e, _)| kafka_err("send", e))
    }
}

/// Whether the broker (or the producer) refused a record for what it is,
/// so sending it again would fail the same way, as opposed to the broker
/// being away.
pub fn is_refused_record(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        e,
        KafkaError::MessageProduction(
            C::MessageSizeTooLarge
                | C::InvalidMessageSize
                | C::InvalidMessage
                | C::InvalidRecord
                | C::InvalidTopic
        )
    )
}

/// The W3C trace context of the current span, if it is being traced.
pub fn current_traceparent() -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    let cx = tracing::Span::current().context();
    // No trace (no collector configured, or no parent): nothing to carry,
    // and no carrier to build on every call.
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier: HashMap<String, String> = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    carrier.remove(HEADER_TRACEPARENT)
}

/// A consumer span for handling `event`, continuing the trace its
/// producer put in the `traceparent` header: what a handler writes to its
/// outbox or calls carries the same trace on.
pub fn record_span(event: &Event) -> tracing::Span {
    let span = tracing::info_span!(
        "consume",
        otel.kind = "consumer",
        otel.name = %format!("{} process", event.topic),
        messaging.system = "kafka",
        messaging.destination.name = %event.topic,
        messaging.kafka.partition = event.partition,
        messaging.kafka.offset = event.offset,
        messaging.batch.message_count = tracing::field::Empty,
    );
    if let Some(tp) = event.header(HEADER_TRACEPARENT) {
        crate::telemetry::continue_trace(&span, tp);
    }
    span
}

/// A consumer span for handling a batch of records of one partition: the
/// first record's span ([`record_span`]), linking the others' traces, so
/// each producer's trace shows where its record was handled.
fn batch_span(events: &[Event]) -> tracing::Span {
    use opentelemetry::trace::TraceContextExt as _;
    let Some(first) = events.first() else {
        return tracing::Span::none();
    };
    let span = record_span(first);
    span.record("messaging.batch.message_count", events.len());
    for event in &events[1..] {
        let Some(tp) = event.header(HEADER_TRACEPARENT) else {
            continue;
        };
        let carrier = HashMap::from([(HEADER_TRACEPARENT.to_string(), tp.to_string())]);
        let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
        let linked = cx.span().span_context().clone();
        if linked.is_valid() {
            span.add_link(linked);
        }
    }
    span
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
    /// The consumer itself must stop (its state is broken): it ends with an
    /// error and its supervisor starts a new one after a backoff.
    Fatal(String),
}

/// Storage and dependency failures are retried (a database failing over
/// answers with many codes; none says the record is bad); what the request
/// itself got wrong (invalid, not found, a state conflict) would fail the
/// same way on every delivery.
impl From<crate::ApiError> for Failure {
    fn from(e: crate::ApiError) -> Self {
        use crate::ApiError as E;
        match e {
            E::Storage(_) | E::Contention | E::Unavailable(_) | E::ShuttingDown => {
                Self::Retryable(e.to_string())
            }
            e if e.is_transient() => Self::Retryable(e.to_string()),
            e => Self::Permanent(e.to_string()),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Retryable(m) => write!(f, "retryable: {m}"),
            Self::Permanent(m) => write!(f, "permanent: {m}"),
            Self::Fatal(m) => write!(f, "fatal: {m}"),
        }
    }
}

pub use crate::time::backoff;

/// Records of one partition handed to its lane; when it is full, fetched
/// records wait in the partition's backlog.
const LANE_CAPACITY: usize = 16;
/// A backlog this long pauses its partition. Pausing drops what librdkafka
/// prefetched (fetched again after the resume), so bursts are absorbed here
/// and only a partition that stays behind is paused; memory stays bounded.
const BACKLOG_LIMIT: usize = 256;
/// Handler panics on one record before it is treated as poison.
const PANICS_BEFORE_DLQ: u32 = 2;

type PartitionKey = (String, i32);

/// Which partitions this member owns, each with the epoch of its
/// assignment. A lane may store an offset only while its epoch is current,
/// so nothing is recorded for a partition after it was revoked, even when
/// an eager rebalance hands it straight back.
#[derive(Default)]
struct Ownership {
    owned: std::sync::Mutex<HashMap<PartitionKey, u64>>,
    next_epoch: std::sync::atomic::AtomicU64,
}

impl Ownership {
    fn epoch(&self, key: &PartitionKey) -> Option<u64> {
        self.owned.lock().ok()?.get(key).copied()
    }
}

/// The consumer's context: lag from librdkafka's statistics, ownership
/// from its rebalance callbacks.
struct Context {
    group: String,
    ownership: Arc<Ownership>,
}

impl ClientContext for Context {
    fn stats(&self, statistics: Statistics) {
        crate::status::report_lag(
            &self.group,
            statistics.topics.iter().flat_map(|(topic, t)| {
                t.partitions
                    .iter()
                    .filter(|(partition, p)| **partition >= 0 && p.consumer_lag >= 0)
                    .map(move |(partition, p)| (topic.clone(), *partition, p.consumer_lag))
            }),
        );
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

impl ConsumerContext for Context {
    fn pre_rebalance(&self, base: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            if let Ok(mut owned) = self.ownership.owned.lock() {
                for p in partitions.elements() {
                    owned.remove(&(p.topic().to_string(), p.partition()));
                }
            }
            // What was handled is committed before the partitions move. The
            // commit is queued ahead of this member's rejoin on the same
            // coordinator connection, so the next owner reads it; blocking
            // here instead would stall the poll (and a close whose broker is
            // gone would never end).
            if let Err(e) = base.commit_consumer_state(CommitMode::Async) {
                tracing::debug!(group = %self.group, error = %e, "nothing to commit on revoke");
            }
            tracing::info!(group = %self.group, partitions = %names(partitions), "partitions revoked");
        }
    }

    fn post_rebalance(&self, base: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            // librdkafka keeps a partition paused across a revoke and a new
            // assignment; a new lane starts with an empty backlog.
            if let Err(e) = base.resume(partitions) {
                tracing::warn!(group = %self.group, error = %e, "resume of new partitions failed");
            }
            if let Ok(mut owned) = self.ownership.owned.lock() {
                for p in partitions.elements() {
                    let epoch = self
                        .ownership
                        .next_epoch
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    owned.insert((p.topic().to_string(), p.partition()), epoch);
                }
            }
            tracing::info!(group = %self.group, partitions = %names(partitions), "partitions assigned");
        }
    }
}

/// `topic[0,2] other[1]`, for the rebalance logs.
fn names(partitions: &TopicPartitionList) -> String {
    let mut by_topic: std::collections::BTreeMap<String, Vec<i32>> = Default::default();
    for p in partitions.elements() {
        by_topic
            .entry(p.topic().to_string())
            .or_default()
            .push(p.partition());
    }
    by_topic
        .into_iter()
        .map(|(t, mut ps)| {
            ps.sort_unstable();
            let ps: Vec<String> = ps.iter().map(i32::to_string).collect();
            format!("{t}[{}]", ps.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The group member, dropped off the runtime. librdkafka's close (in the
/// consumer's drop) waits for the group coordinator, forever when the broker
/// is gone; a consumer whose task is cancelled (a runtime shutting down, as
/// at the end of a test) would block a runtime thread, and the shutdown,
/// with it.
struct KafkaConsumer(Option<StreamConsumer<Context>>);

impl std::ops::Deref for KafkaConsumer {
    type Target = StreamConsumer<Context>;

    fn deref(&self) -> &Self::Target {
        self.0
            .as_ref()
            .expect("the consumer is there until it is dropped")
    }
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            // A thread that cannot start drops it here after all.
            let _ = std::thread::Builder::new()
                .name("kafka-drop".into())
                .spawn(move || drop(consumer));
        }
    }
}

/// One partition's lane as the poll loop sees it.
struct LaneHandle {
    tx: tokio::sync::mpsc::Sender<Event>,
    epoch: u64,
    cancel: CancellationToken,
    /// Fetched records the lane had no room for, in order.
    backlog: std::collections::VecDeque<Event>,
    paused: bool,
    /// The offset after the last record received: where fetching resumes.
    next_offset: Option<i64>,
}

/// Consumes `topics` as consumer group `group` until `stop`, handing each
/// record to `handle`.
///
/// - Each assigned partition gets its own lane (a task): records of one
///   partition (one cluster's, as records are keyed by cluster) are handled
///   in order, partitions in parallel. A full lane pauses its partition;
///   the poll loop never blocks, so one slow partition neither holds back
///   the others nor makes the member miss `max.poll.interval`.
/// - Delivery is at least once: an offset is stored only after its record
///   was handled or dead-lettered, and committed every
///   `commit_interval`, on revoke and at the end.
/// - [`Failure::Retryable`] is retried with backoff for as long as it lasts
///   (only that partition waits); [`Failure::Permanent`] and a record whose
///   handler panics twice go to `<topic>.dlq` with their headers;
///   [`Failure::Fatal`] ends the consumer with an error (its supervisor, see
///   [`crate::kit::ServiceContext::consume`], restarts it).
/// - On revoke a partition's lane is cancelled: it stores nothing more, so
///   committed offsets never move backwards when partitions move.
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
    let handle = Arc::new(handle);
    consume_batches(config, group, topics, stop, 1, move |events| {
        let handle = handle.clone();
        async move {
            for event in events {
                handle(event).await?;
            }
            Ok(())
        }
    })
    .await
}

/// [`consume`], handing `handle` up to `max_batch` records at a time: the
/// records of one partition that were fetched and waiting when its lane
/// became free, in offset order. One poll's worth of work can then be
/// written in one transaction instead of one per record.
///
/// The guarantees are [`consume`]'s, per record:
/// - the offsets move on only after the whole batch was handled;
/// - a batch that fails [`Failure::Retryable`] is retried whole, with
///   backoff, for as long as the failure lasts;
/// - a batch that fails [`Failure::Permanent`] or panics is handled again
///   one record at a time, so only the record that cannot succeed is
///   dead-lettered and the others are handled (a handler must therefore
///   commit a batch whole or not at all, or be idempotent per record, which
///   every handler here is: delivery is at least once anyway).
///
/// A lone record makes a batch of one: batching never waits for more.
pub async fn consume_batches<F, Fut>(
    config: &KafkaConfig,
    group: &str,
    topics: &[&str],
    stop: CancellationToken,
    max_batch: usize,
    handle: F,
) -> Result<(), Error>
where
    F: Fn(Vec<Event>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Failure>> + Send + 'static,
{
    let max_batch = max_batch.max(1);
    let ownership = Arc::new(Ownership::default());
    let mut client = config.client();
    if let Some(id) = &config.instance_id {
        client.set("group.instance.id", format!("{id}-{group}"));
    }
    let consumer: StreamConsumer<Context> = client
        .set(
            "statistics.interval.ms",
            config.stats_interval.as_millis().to_string(),
        )
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set(
            "session.timeout.ms",
            config.session_timeout.as_millis().to_string(),
        )
        .set(
            "fetch.wait.max.ms",
            config.fetch_wait.as_millis().to_string(),
        )
        .create_with_context(Context {
            group: group.to_string(),
            ownership: ownership.clone(),
        })
        .map_err(|e| kafka_err("consumer", e))?;
    let consumer = KafkaConsumer(Some(consumer));
    consumer
        .subscribe(topics)
        .map_err(|e| kafka_err("subscribe", e))?;
    let consumer = Arc::new(consumer);
    let lane = Lane {
        consumer: consumer.clone(),
        ownership: ownership.clone(),
        producer: Producer::new(config)?,
        config: config.clone(),
        handle: Arc::new(handle),
        cancel: stop.clone(),
        epoch: 0,
        max_batch,
    };
    let mut lanes: HashMap<PartitionKey, LaneHandle> = HashMap::new();
    let mut running = tokio::task::JoinSet::new();
    let mut commit = tokio::time::interval(config.commit_interval);
    commit.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        let backlogged = lanes.values().any(|l| !l.backlog.is_empty());
        tokio::select! {
            biased;
            () = stop.cancelled() => break Ok(()),
            _ = commit.tick() => {
                lanes.retain(|key, l| {
                    let current = ownership.epoch(key) == Some(l.epoch);
                    if !current {
                        l.cancel.cancel();
                        if l.paused {
                            resume(&consumer, key, None);
                        }
                    }
                    current
                });
                commit_stored(&consumer, group);
            }
            () = tokio::time::sleep(Duration::from_millis(5)), if backlogged => {
                for (key, l) in &mut lanes {
                    flush(&consumer, key, l);
                }
            }
            message = consumer.recv() => match message {
                Ok(m) => {
                    let event = Event::from_message(&m);
                    drop(m);
                    route(&consumer, &ownership, &lane, &mut lanes, &mut running, event);
                }
                Err(e) => {
                    // Broker away or rebalancing: librdkafka reconnects by itself.
                    tracing::warn!(error = %e, group, "kafka receive failed");
                    tokio::select! {
                        () = stop.cancelled() => break Ok(()),
                        () = tokio::time::sleep(config.retry_base) => {}
                    }
                }
            },
        }
        if let Some(failed) = first_failure(&mut running) {
            break Err(failed);
        }
    };
    for l in lanes.values() {
        l.cancel.cancel();
    }
    drop(lanes);
    // A record in a handler is finished first, so no handler outlives this
    // call; then what was handled is committed and the member leaves.
    let result = stop_lanes(&mut running, result).await;
    drop(lane);
    close(consumer, group).await;
    result
}

/// How long a consumer's final commit and leave may take before it is left
/// to finish on its own.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Commits what was handled and closes the consumer on a thread of its own:
/// librdkafka's close blocks until outstanding commits are answered, which
/// never happens when the broker is gone, and a blocked runtime thread would
/// keep the process (or a test) from ending. Waits for the close, for at
/// most [`CLOSE_WAIT`], so a clean stop has left the group.
async fn close(consumer: Arc<KafkaConsumer>, group: &str) {
    let (done, closed) = tokio::sync::oneshot::channel();
    let name = group.to_string();
    let spawned = std::thread::Builder::new()
        .name("kafka-close".into())
        .spawn(move || {
            commit_stored(&consumer, &name);
            if let Some(inner) = Arc::into_inner(consumer).and_then(|mut c| c.0.take()) {
                drop(inner);
            }
            let _ = done.send(());
        });
    if let Err(e) = spawned {
        tracing::warn!(group, error = %e, "cannot close the consumer on its own thread");
        return;
    }
    if tokio::time::timeout(CLOSE_WAIT, closed).await.is_err() {
        tracing::warn!(
            group,
            "consumer close still waiting for the broker; leaving it"
        );
    }
}

fn commit_stored(consumer: &KafkaConsumer, group: &str) {
    match consumer.commit_consumer_state(CommitMode::Async) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => {
            tracing::warn!(group, error = %e, "offset commit failed; records may be redelivered")
        }
    }
}

/// Hands `event` to its partition's lane, starting one for a new
/// assignment; a lane without room gets the record in its backlog and its
/// partition paused.
fn route<F, Fut>(
    consumer: &KafkaConsumer,
    ownership: &Ownership,
    template: &Lane<F>,
    lanes: &mut HashMap<PartitionKey, LaneHandle>,
    running: &mut tokio::task::JoinSet<Result<(), Error>>,
    event: Event,
) where
    F: Fn(Vec<Event>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Failure>> + Send + 'static,
{
    let key = (event.topic.clone(), event.partition);
    // Fetched just before a revoke: the next owner reads it again.
    let Some(epoch) = ownership.epoch(&key) else {
        return;
    };
    let current = lanes
        .get(&key)
        .is_some_and(|l| l.epoch == epoch && !l.tx.is_closed());
    if !current {
        if let Some(old) = lanes.remove(&key) {
            old.cancel.cancel();
            if old.paused {
                resume(consumer, &key, None);
            }
        }
        let (tx, rx) = tokio::sync::mpsc::channel(LANE_CAPACITY.max(template.max_batch));
        let cancel = template.cancel.child_token();
        let lane = Lane {
            cancel: cancel.clone(),
            epoch,
            ..template.clone()
        };
        running.spawn(lane.run(rx));
        lanes.insert(
            key.clone(),
            LaneHandle {
                tx,
                epoch,
                cancel,
                backlog: std::collections::VecDeque::new(),
                paused: false,
                next_offset: None,
            },
        );
    }
    let Some(l) = lanes.get_mut(&key) else {
        return;
    };
    if let Some(next) = l.next_offset {
        // Received already (a seek fetches again from `next`), or fetched
        // past what a pause dropped (it comes again, in order, after the
        // seek that ends the pause).
        if event.offset < next || (l.paused && event.offset != next) {
            return;
        }
    }
    l.next_offset = Some(event.offset + 1);
    l.backlog.push_back(event);
    flush(consumer, &key, l);
    if l.backlog.len() >= BACKLOG_LIMIT && !l.paused {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&key.0, key.1);
        match consumer.pause(&tpl) {
            Ok(()) => l.paused = true,
            Err(e) => tracing::warn!(topic = %key.0, partition = key.1, error = %e, "pause failed"),
        }
    }
}

/// Moves a lane's backlog into it while it has room; resumes its partition
/// once the backlog is empty.
fn flush(consumer: &KafkaConsumer, key: &PartitionKey, l: &mut LaneHandle) {
    while let Some(event) = l.backlog.pop_front() {
        match l.tx.try_send(event) {
            Ok(()) => {}
            Err(tokio::sync::mpsc::error::TrySendError::Full(event)) => {
                l.backlog.push_front(event);
                return;
            }
            // The lane ended: its error is reported by the poll loop, and
            // the records are fetched again by whoever runs next.
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                l.backlog.clear();
                break;
            }
        }
    }
    if l.paused {
        resume(consumer, key, l.next_offset);
        l.paused = false;
    }
}

/// Resumes a paused partition from `next`, the offset after the last
/// record received: pausing drops what librdkafka had fetched beyond it,
/// and a plain resume would go on from its fetch position, skipping those.
fn resume(consumer: &KafkaConsumer, key: &PartitionKey, next: Option<i64>) {
    if let Some(next) = next {
        let mut at = TopicPartitionList::new();
        let seek = at
            .add_partition_offset(&key.0, key.1, rdkafka::Offset::Offset(next))
            // Timeout zero: the seek is queued, not waited for.
            .and_then(|()| consumer.seek_partitions(at, Duration::ZERO));
        if let Err(e) = seek {
            tracing::warn!(topic = %key.0, partition = key.1, next, error = %e, "seek before resume failed");
        }
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&key.0, key.1);
    if let Err(e) = consumer.resume(&tpl) {
        tracing::warn!(topic = %key.0, partition = key.1, error = %e, "resume failed");
    }
}

async fn stop_lanes(
    running: &mut tokio::task::JoinSet<Result<(), Error>>,
    result: Result<(), Error>,
) -> Result<(), Error> {
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
                return Some(Error::Kafka(format!("a partition lane panicked: {e}")));
            }
            _ => {}
        }
    }
    None
}

/// Handles one partition's records in order, for one assignment epoch.
struct Lane<F> {
    consumer: Arc<KafkaConsumer>,
    ownership: Arc<Ownership>,
    producer: Producer,
    config: KafkaConfig,
    handle: Arc<F>,
    cancel: CancellationToken,
    epoch: u64,
    /// The most records handed to `handle` at once.
    max_batch: usize,
}

impl<F> Clone for Lane<F> {
    fn clone(&self) -> Self {
        Self {
            consumer: self.consumer.clone(),
            ownership: self.ownership.clone(),
            producer: self.producer.clone(),
            config: self.config.clone(),
            handle: self.handle.clone(),
            cancel: self.cancel.clone(),
            epoch: self.epoch,
            max_batch: self.max_batch,
        }
    }
}

impl<F, Fut> Lane<F>
where
    F: Fn(Vec<Event>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Failure>> + Send + 'static,
{
    async fn run(self, mut records: tokio::sync::mpsc::Receiver<Event>) -> Result<(), Error> {
        let mut batch = Vec::with_capacity(self.max_batch);
        loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Ok(()),
                // What is waiting besides the first record joins it; nothing
                // waits for more to arrive.
                n = records.recv_many(&mut batch, self.max_batch) => if n == 0 {
                    return Ok(());
                },
            }
            let events = std::mem::take(&mut batch);
            let Some(outcomes) = self.settle_batch(&events).await? else {
                // Cancelled (shutdown or revoke): stored nothing, so the
                // records are delivered again.
                return Ok(());
            };
            for (event, (outcome, attempts)) in events.iter().zip(outcomes) {
                metrics::counter!("cg_kafka_records_total", "topic" => event.topic.clone(), "outcome" => outcome)
                    .increment(1);
                tracing::trace!(topic = %event.topic, offset = event.offset, attempts, outcome, "record settled");
            }
            let Some(last) = events.last() else { continue };
            if !self.store(last) {
                return Ok(());
            }
        }
    }

    /// Handles `events` whole until that succeeds or fails for good; then,
    /// when there is more than one, one by one (see [`consume_batches`]).
    /// Each record's outcome and attempts, or `None` when cancelled first.
    async fn settle_batch(
        &self,
        events: &[Event],
    ) -> Result<Option<Vec<(&'static str, u32)>>, Error> {
        if let [event] = events {
            return Ok(self.settle(event).await?.map(|o| vec![o]));
        }
        let mut attempt = 0u32;
        loop {
            attempt = attempt.saturating_add(1);
            let handled = tokio::spawn(tracing::Instrument::instrument(
                (self.handle)(events.to_vec()),
                batch_span(events),
            ))
            .await;
            let reason = match handled {
                Ok(Ok(())) => return Ok(Some(vec![("handled", attempt); events.len()])),
                Ok(Err(Failure::Retryable(reason))) => reason,
                Ok(Err(Failure::Fatal(reason))) => {
                    return Err(Error::Kafka(format!(
                        "handler of {} stopped the consumer: {reason}",
                        events[0].topic
                    )));
                }
                Ok(Err(failure @ Failure::Permanent(_))) => {
                    tracing::warn!(topic = %events[0].topic, records = events.len(), %failure, "batch failed; handling its records one by one");
                    break;
                }
                Err(e) => {
                    tracing::warn!(topic = %events[0].topic, records = events.len(), error = %e, "batch handler panicked; handling its records one by one");
                    break;
                }
            };
            let wait = backoff(self.config.retry_base, self.config.retry_cap, attempt);
            if attempt == 1 || attempt.is_power_of_two() {
                tracing::warn!(topic = %events[0].topic, partition = events[0].partition, records = events.len(), attempt, %reason, "batch handler failed; retrying");
            }
            metrics::counter!("cg_kafka_retries_total", "topic" => events[0].topic.clone())
                .increment(1);
            tokio::select! {
                () = self.cancel.cancelled() => return Ok(None),
                () = tokio::time::sleep(wait) => {}
            }
        }
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            match self.settle(event).await? {
                Some(outcome) => outcomes.push(outcome),
                None => return Ok(None),
            }
        }
        Ok(Some(outcomes))
    }

    /// Handles `event` until it succeeds or is dead-lettered; `None` when
    /// cancelled first.
    async fn settle(&self, event: &Event) -> Result<Option<(&'static str, u32)>, Error> {
        let (mut attempt, mut panics) = (0u32, 0u32);
        let failure = loop {
            attempt = attempt.saturating_add(1);
            // Its own task, so a panicking handler fails this record only.
            let handled = tokio::spawn(tracing::Instrument::instrument(
                (self.handle)(vec![event.clone()]),
                record_span(event),
            ))
            .await;
            let reason = match handled {
                Ok(Ok(())) => return Ok(Some(("handled", attempt))),
                Ok(Err(Failure::Retryable(reason))) => reason,
                Ok(Err(f @ Failure::Permanent(_))) => break f,
                Ok(Err(Failure::Fatal(reason))) => {
                    return Err(Error::Kafka(format!(
                        "handler of {} stopped the consumer: {reason}",
                        event.topic
                    )));
                }
                Err(e) => {
                    panics += 1;
                    if panics >= PANICS_BEFORE_DLQ {
                        break Failure::Permanent(format!("the handler panicked {panics} times"));
                    }
                    format!("the handler panicked: {e}")
                }
            };
            let wait = backoff(self.config.retry_base, self.config.retry_cap, attempt);
            if attempt == 1 || attempt.is_power_of_two() {
                tracing::warn!(topic = %event.topic, partition = event.partition, offset = event.offset, attempt, %reason, "handler failed; retrying");
            }
            metrics::counter!("cg_kafka_retries_total", "topic" => event.topic.clone())
                .increment(1);
            tokio::select! {
                () = self.cancel.cancelled() => return Ok(None),
                () = tokio::time::sleep(wait) => {}
            }
        };
        tracing::error!(topic = %event.topic, offset = event.offset, attempt, %failure, "dead-lettering record");
        // The offset moves on only once the record is parked: while the
        // broker refuses it, this partition waits (others go on).
        let mut tries = 0u32;
        while let Err(e) = dead_letter(&self.producer, event, &failure, attempt).await {
            tries = tries.saturating_add(1);
            tracing::warn!(error = %e, tries, "dead-lettering failed; retrying");
            tokio::select! {
                () = self.cancel.cancelled() => return Ok(None),
                () = tokio::time::sleep(backoff(self.config.retry_base, self.config.retry_cap, tries)) => {}
            }
        }
        Ok(Some(("dead_lettered", attempt)))
    }

    /// Stores the offset after `event` for the next commit, unless the
    /// partition moved meanwhile (then the lane stops).
    fn store(&self, event: &Event) -> bool {
        let Ok(owned) = self.ownership.owned.lock() else {
            return false;
        };
        // Under the lock the revoke callback takes: no store slips in after it.
        if owned.get(&(event.topic.clone(), event.partition)) != Some(&self.epoch) {
            return false;
        }
        if let Err(e) = self
            .consumer
            .store_offset(&event.topic, event.partition, event.offset)
        {
            tracing::warn!(topic = %event.topic, partition = event.partition, error = %e, "offset store failed; the record may be redelivered");
        }
        true
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
