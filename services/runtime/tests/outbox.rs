//! The transactional outbox on MariaDB and SQLite, relayed to a real
//! Kafka-protocol broker (tansu).

use std::time::Duration;

use cg_runtime::{
    config::DatabaseConfig,
    db,
    kafka::{self, KafkaConfig, Producer},
    outbox::{self, NewEvent, Relay, RelayConfig},
};
use cg_testkit::{Backend, Broker, Storage, Tap, TestDb, on_both_backends, read_to_end};
use sqlx::Acquire as _;
use tokio_util::sync::CancellationToken;

const TOPIC: &str = "t.outbox";

async fn migrated(test_db: &TestDb) -> db::Db {
    // The runtime's migrations alone carry the outbox table.
    let migrator = db::with_runtime(&sqlx::migrate::Migrator::DEFAULT);
    db::connect(&DatabaseConfig::new(test_db.url.clone()), &migrator)
        .await
        .unwrap()
}

fn kafka_config(broker: &Broker) -> KafkaConfig {
    KafkaConfig {
        brokers: broker.bootstrap(),
        partitions: 1,
        send_timeout: Duration::from_secs(3),
        ..KafkaConfig::default()
    }
}

async fn write(db: &db::Db, events: &[&str], commit: bool) {
    let mut conn = db.pool.acquire().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    for name in events {
        outbox::enqueue(
            &mut tx,
            NewEvent {
                topic: TOPIC,
                key: "c1".into(),
                event_type: "test.Event".into(),
                payload: name.as_bytes().to_vec(),
            },
        )
        .await
        .unwrap();
    }
    if commit {
        tx.commit().await.unwrap();
    } else {
        tx.rollback().await.unwrap();
    }
}

async fn read_topic(config: &KafkaConfig, want: usize) -> Vec<kafka::Event> {
    let tap = Tap::start(config, &[TOPIC]);
    tap.wait(Duration::from_secs(10), "the relayed events", |e| {
        e.len() >= want
    })
    .await
}

async fn committed_events_are_published_once_in_order(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = migrated(&test_db).await;
    let broker = Broker::start(Storage::Memory);
    let config = kafka_config(&broker);
    kafka::ensure_topics(&config, &[TOPIC]).await.unwrap();
    let relay = Relay::new(
        db.pool.clone(),
        Producer::new(&config).unwrap(),
        RelayConfig::default(),
    );

    write(&db, &["a", "b", "c"], true).await;
    write(&db, &["rolled-back"], false).await;
    assert_eq!(relay.relay_once().await.unwrap(), 3);
    assert_eq!(
        relay.relay_once().await.unwrap(),
        0,
        "sent rows are not sent again"
    );

    // Read to the end of the topic, so a duplicate would show.
    let events = read_to_end(&config, TOPIC, "c1").await;
    let payloads: Vec<_> = events
        .iter()
        .map(|e| String::from_utf8_lossy(&e.payload).into_owned())
        .collect();
    assert_eq!(payloads, ["a", "b", "c"]);
    assert!(events.iter().all(|e| e.event_type() == Some("test.Event")));
    assert!(events.iter().all(|e| e.key.as_deref() == Some("c1")));
    let ids: std::collections::HashSet<_> = events
        .iter()
        .map(|e| e.event_id().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 3, "each event has its own id");
}

async fn events_wait_out_a_broker_outage(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = migrated(&test_db).await;
    let mut broker = Broker::start(Storage::Sqlite);
    let config = kafka_config(&broker);
    kafka::ensure_topics(&config, &[TOPIC]).await.unwrap();
    let relay = Relay::new(
        db.pool.clone(),
        Producer::new(&config).unwrap(),
        RelayConfig::default(),
    );

    broker.stop();
    write(&db, &["during-outage"], true).await;
    assert!(
        relay.relay_once().await.is_err(),
        "nothing can be published while the broker is down"
    );
    broker.restart();

    let stop = CancellationToken::new();
    let running = tokio::spawn(
        Relay::new(
            db.pool.clone(),
            Producer::new(&config).unwrap(),
            RelayConfig::default(),
        )
        .run(stop.clone()),
    );
    let events = read_topic(&config, 1).await;
    stop.cancel();
    running.await.unwrap();
    let payloads: Vec<_> = events
        .iter()
        .map(|e| String::from_utf8_lossy(&e.payload).into_owned())
        .collect();
    assert!(
        payloads.contains(&"during-outage".to_string()),
        "{payloads:?}"
    );
}

on_both_backends!(
    committed_events_are_published_once_in_order,
    events_wait_out_a_broker_outage,
);
