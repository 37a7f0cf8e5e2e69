//! The kit supervises consumers: one that dies is started again after a
//! backoff, and the service reads `NOT_SERVING` while it is down.

use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use cg_runtime::{
    Error,
    config::CommonConfig,
    grpc::ServiceRoutes,
    kafka::{Failure, Outgoing, Producer},
    kit::{Routes, Service, ServiceContext},
};
use cg_testkit::{Broker, Storage, eventually};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const TOPIC: &str = "t.supervised";

/// How often the handler has refused to go on; shared with the test.
static DEATHS: AtomicU32 = AtomicU32::new(0);
static HANDLED: AtomicU32 = AtomicU32::new(0);

struct Fragile;

impl Service for Fragile {
    const NAME: &'static str = "fragile";
    const DEFAULT_PORT: u16 = 0;
    type Config = CommonConfig;

    fn topics() -> Vec<&'static str> {
        vec![TOPIC]
    }

    async fn build(_: &CommonConfig, ctx: &mut ServiceContext) -> Result<Self, Error> {
        ctx.consume("fragile", &[TOPIC], |e: cg_runtime::kafka::Event| {
            async move {
                // The "die" record kills the consumer twice, then is handled.
                if e.event_id() == Some("die") && DEATHS.fetch_add(1, Ordering::SeqCst) < 2 {
                    return Err(Failure::Fatal("local state is broken".into()));
                }
                HANDLED.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        });
        Ok(Self)
    }

    fn routes(&self) -> Routes {
        Routes::Grpc(ServiceRoutes::new())
    }
}

async fn status(endpoint: &str) -> Result<i32, String> {
    let mut client = HealthClient::new(cg_testkit::channel(endpoint).await);
    client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map(|r| r.into_inner().status)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_dies_is_restarted_and_health_reads_not_serving_meanwhile() {
    let broker = Broker::start(Storage::Memory);
    let mut config = cg_testkit::config_for::<Fragile>(None, Some(&broker));
    if let Some(k) = config.kafka.as_mut() {
        k.restart_min = Duration::from_secs(2);
    }
    let running = cg_testkit::start::<Fragile>(&config).await;
    let endpoint = running.endpoint();
    assert_eq!(status(&endpoint).await, Ok(ServingStatus::Serving as i32));

    let producer = Producer::new(config.kafka.as_ref().unwrap()).unwrap();
    producer
        .send(Outgoing {
            topic: TOPIC,
            key: "c1",
            event_id: "die",
            event_type: "test.Event",
            payload: b"x",
            traceparent: None,
        })
        .await
        .unwrap();

    eventually(
        Duration::from_secs(30),
        "NOT_SERVING while the consumer is down",
        || {
            let endpoint = endpoint.clone();
            async move {
                match status(&endpoint).await {
                    Ok(s) if s == ServingStatus::NotServing as i32 => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        },
    )
    .await;
    eventually(
        Duration::from_secs(60),
        "the record handled after restarts",
        || {
            let n = HANDLED.load(Ordering::SeqCst);
            std::future::ready(if n >= 1 { Ok(()) } else { Err(n) })
        },
    )
    .await;
    assert_eq!(
        DEATHS.load(Ordering::SeqCst),
        3,
        "died twice, then handled it"
    );
    eventually(Duration::from_secs(10), "SERVING again", || {
        let endpoint = endpoint.clone();
        async move {
            match status(&endpoint).await {
                Ok(s) if s == ServingStatus::Serving as i32 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    running.stop().await.unwrap();
}
