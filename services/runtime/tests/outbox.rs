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

/// A short lease, so a relay created after another takes over quickly.
fn fast_lease() -> RelayConfig {
    RelayConfig {
        lease: Duration::from_millis(600),
        idle: Duration::from_millis(100),
        ..RelayConfig::default()
    }
}

async fn write(db: &db::Db, events: &[&str], commit: bool) {
    let mut conn = db.pool.acquire().await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    for name in events {
        outbox::enqueue(
            &mut tx,
            NewEvent {
                id: None,
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
        db.wake.wake();
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
    let relay = Relay::new(&db, Producer::new(&config).unwrap(), fast_lease());

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
    let relay = Relay::new(&db, Producer::new(&config).unwrap(), fast_lease());

    broker.stop();
    write(&db, &["during-outage"], true).await;
    assert!(
        relay.relay_once().await.is_err(),
        "nothing can be published while the broker is down"
    );
    broker.restart();

    let stop = CancellationToken::new();
    let running = tokio::spawn(
        Relay::new(&db, Producer::new(&config).unwrap(), fast_lease()).run(stop.clone()),
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

async fn two_relays_over_one_outbox_publish_each_row_once(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = migrated(&test_db).await;
    let broker = Broker::start(Storage::Memory);
    let config = kafka_config(&broker);
    kafka::ensure_topics(&config, &[TOPIC]).await.unwrap();
    let stop = CancellationToken::new();
    // Two replicas of one service: two relays over one database.
    let relays: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(
                Relay::new(&db, Producer::new(&config).unwrap(), fast_lease()).run(stop.clone()),
            )
        })
        .collect();
    let mut expected = Vec::new();
    for round in 0..20 {
        let names: Vec<String> = (0..3).map(|i| format!("r{round}-{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        write(&db, &refs, true).await;
        expected.extend(names);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cg_testkit::eventually(Duration::from_secs(20), "every row sent", || {
        let pool = db.pool.clone();
        async move {
            let unsent: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL")
                    .fetch_one(&pool)
                    .await
                    .map_err(|e| e.to_string())?;
            if unsent == 0 {
                Ok(())
            } else {
                Err(format!("{unsent} unsent"))
            }
        }
    })
    .await;
    stop.cancel();
    for r in relays {
        r.await.unwrap();
    }
    let events = read_to_end(&config, TOPIC, "c1").await;
    let payloads: Vec<_> = events
        .iter()
        .map(|e| String::from_utf8_lossy(&e.payload).into_owned())
        .collect();
    assert_eq!(payloads, expected, "each row once, in order");
}

async fn a_row_the_broker_refuses_is_parked_and_the_rows_after_it_flow_on(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = migrated(&test_db).await;
    let broker = Broker::start(Storage::Memory);
    let config = KafkaConfig {
        max_message_bytes: 2_000,
        ..kafka_config(&broker)
    };
    kafka::ensure_topics(&config, &[TOPIC]).await.unwrap();
    let relay = Relay::new(&db, Producer::new(&config).unwrap(), fast_lease());
    let huge = "x".repeat(5_000);
    write(&db, &["before"], true).await;
    write(&db, &[huge.as_str()], true).await;
    write(&db, &["after"], true).await;
    // The first round publishes the healthy rows around the refused one.
    assert_eq!(relay.relay_once().await.unwrap(), 2);
    for _ in 1..outbox::PARK_AFTER {
        assert_eq!(relay.relay_once().await.unwrap(), 0);
    }
    let row =
        sqlx::query("SELECT attempts, parked_at, last_error FROM outbox WHERE sent_at IS NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    use sqlx::Row as _;
    let attempts: i64 = row
        .try_get::<i64, _>("attempts")
        .or_else(|_| row.try_get::<i32, _>("attempts").map(i64::from))
        .unwrap();
    assert_eq!(attempts, outbox::PARK_AFTER);
    assert!(
        row.try_get::<Option<i64>, _>("parked_at")
            .unwrap()
            .is_some(),
        "parked"
    );
    let error: Option<String> = row.try_get("last_error").unwrap();
    assert!(
        error.unwrap_or_default().to_lowercase().contains("size"),
        "the error is kept"
    );
    assert_eq!(
        relay.relay_once().await.unwrap(),
        0,
        "a parked row is left alone"
    );
    write(&db, &["later"], true).await;
    assert_eq!(relay.relay_once().await.unwrap(), 1);

    let events = read_to_end(&config, TOPIC, "c1").await;
    let payloads: Vec<_> = events
        .iter()
        .map(|e| String::from_utf8_lossy(&e.payload).into_owned())
        .collect();
    assert_eq!(payloads, ["before", "after", "later"]);
}

on_both_backends!(
    committed_events_are_published_once_in_order,
    events_wait_out_a_broker_outage,
    two_relays_over_one_outbox_publish_each_row_once,
    a_row_the_broker_refuses_is_parked_and_the_rows_after_it_flow_on,
);
