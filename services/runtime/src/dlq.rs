//! Dead-letter topics: what a consumer could never handle waits in
//! `<topic>.dlq` with its original headers and why it failed. [`list`]
//! shows it; [`replay`] re-publishes it to its original topic once the
//! handler is fixed (the launcher's `clustergenie dlq list|replay`).
//!
//! Replay reads as the consumer group [`REPLAY_GROUP`] and commits what it
//! re-published, so running it twice never sends a record twice.

use std::{sync::Arc, time::Duration};

use rdkafka::{
    Message as _,
    consumer::{CommitMode, Consumer as _, StreamConsumer},
    message::{Header, Headers as _, OwnedHeaders},
    producer::FutureRecord,
    topic_partition_list::{Offset, TopicPartitionList},
};

use crate::{
    Error,
    kafka::{HEADER_DLQ_ATTEMPTS, HEADER_DLQ_ERROR, HEADER_DLQ_TOPIC, KafkaConfig, Producer, dlq},
};

/// The consumer group whose committed offsets say what was replayed.
pub const REPLAY_GROUP: &str = "clustergenie-dlq-replay";
/// Headers a replayed record carries: how often it was replayed.
pub const HEADER_REPLAYS: &str = "dlq-replays";

/// One dead-lettered record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub original_topic: String,
    pub event_id: String,
    pub event_type: String,
    pub error: String,
    pub attempts: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub payload: Vec<u8>,
}

impl DeadLetter {
    fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default()
    }
}

/// Every record in `topic`'s dead-letter topic, oldest first per
/// partition. Reading ends once nothing arrives for `idle`.
pub async fn list(
    config: &KafkaConfig,
    topic: &str,
    idle: Duration,
) -> Result<Vec<DeadLetter>, Error> {
    let group = format!("clustergenie-dlq-list-{}", uuid::Uuid::new_v4());
    let (_consumer, records) = read(config, topic, &group, Offset::Beginning, idle).await?;
    Ok(records)
}

/// Re-publishes every dead-lettered record of `topic` not replayed before to
/// `topic`, with its key and original headers (the `dlq-*` ones dropped, a
/// replay count added). Returns how many were replayed.
pub async fn replay(config: &KafkaConfig, topic: &str, idle: Duration) -> Result<usize, Error> {
    let (consumer, records) = read(config, topic, REPLAY_GROUP, Offset::Stored, idle).await?;
    if records.is_empty() {
        return Ok(0);
    }
    let producer = Producer::new(config)?;
    let mut done = TopicPartitionList::new();
    for r in &records {
        let target = if r.original_topic.is_empty() {
            topic.to_string()
        } else {
            r.original_topic.clone()
        };
        let replays = r
            .header(HEADER_REPLAYS)
            .parse::<u32>()
            .unwrap_or(0)
            .saturating_add(1)
            .to_string();
        let mut headers = OwnedHeaders::new();
        for (k, v) in &r.headers {
            if [
                HEADER_DLQ_ERROR,
                HEADER_DLQ_ATTEMPTS,
                HEADER_DLQ_TOPIC,
                HEADER_REPLAYS,
            ]
            .contains(&k.as_str())
            {
                continue;
            }
            headers = headers.insert(Header {
                key: k.as_str(),
                value: Some(v.as_slice()),
            });
        }
        headers = headers.insert(Header {
            key: HEADER_REPLAYS,
            value: Some(replays.as_str()),
        });
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&target)
            .payload(r.payload.as_slice())
            .headers(headers);
        if let Some(key) = &r.key {
            record = record.key(key.as_bytes());
        }
        if let Err(e) = producer.send_raw(record).await {
            // What was sent is remembered, so the next replay resumes here.
            commit(&consumer, done).await?;
            return Err(e);
        }
        done.add_partition_offset(&dlq(topic), r.partition, Offset::Offset(r.offset + 1))
            .map_err(|e| Error::Kafka(format!("offsets: {e}")))?;
    }
    commit(&consumer, done).await?;
    tracing::info!(topic, replayed = records.len(), "dead letters replayed");
    Ok(records.len())
}

async fn commit(consumer: &Arc<StreamConsumer>, done: TopicPartitionList) -> Result<(), Error> {
    if done.count() == 0 {
        return Ok(());
    }
    let consumer = consumer.clone();
    tokio::task::spawn_blocking(move || consumer.commit(&done, CommitMode::Sync))
        .await
        .map_err(|e| Error::Kafka(format!("commit: {e}")))?
        .map_err(|e| Error::Kafka(format!("commit replayed offsets: {e}")))
}

/// Reads `topic`'s dead-letter topic from `from` on every partition until
/// it is idle for `idle`. Assigned, not subscribed: no rebalance to wait for.
async fn read(
    config: &KafkaConfig,
    topic: &str,
    group: &str,
    from: Offset,
    idle: Duration,
) -> Result<(Arc<StreamConsumer>, Vec<DeadLetter>), Error> {
    let name = dlq(topic);
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "fetch.wait.max.ms",
            config.fetch_wait.as_millis().to_string(),
        )
        .create()
        .map_err(|e| Error::Kafka(format!("consumer: {e}")))?;
    let consumer = Arc::new(consumer);
    let metadata = {
        let (consumer, topic) = (consumer.clone(), name.clone());
        tokio::task::spawn_blocking(move || {
            consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))
        })
        .await
        .map_err(|e| Error::Kafka(format!("metadata: {e}")))?
        .map_err(|e| Error::Kafka(format!("metadata of {name}: {e}")))?
    };
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == name && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(Error::Kafka(format!("no topic {name}")));
    }
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(&name, *p, from)
            .map_err(|e| Error::Kafka(format!("assign: {e}")))?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| Error::Kafka(format!("assign {name}: {e}")))?;
    let mut records = Vec::new();
    while let Ok(message) = tokio::time::timeout(idle, consumer.recv()).await {
        let m = message.map_err(|e| Error::Kafka(format!("read {name}: {e}")))?;
        let headers: Vec<(String, Vec<u8>)> = m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        let mut letter = DeadLetter {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            original_topic: String::new(),
            event_id: String::new(),
            event_type: String::new(),
            error: String::new(),
            attempts: String::new(),
            headers,
            payload: m.payload().unwrap_or_default().to_vec(),
        };
        letter.original_topic = letter.header(HEADER_DLQ_TOPIC);
        letter.event_id = letter.header(crate::kafka::HEADER_EVENT_ID);
        letter.event_type = letter.header(crate::kafka::HEADER_EVENT_TYPE);
        letter.error = letter.header(HEADER_DLQ_ERROR);
        letter.attempts = letter.header(HEADER_DLQ_ATTEMPTS);
        records.push(letter);
    }
    records.sort_by_key(|r| (r.partition, r.offset));
    Ok((consumer, records))
}
