//! What a process says about itself: `clustergenie.system.v1.ProcessService`,
//! served by every service through the kit and gathered by the gateway for
//! the System page. Worker pools and counters are live values the service
//! registers on its [`Status`]; consumer lag comes from librdkafka's
//! statistics; the outbox, dead-letter topics and dependencies are read
//! when asked. The same numbers go to Prometheus as gauges
//! (`cg_outbox_backlog`, `cg_outbox_parked`, `cg_kafka_dlq_records`).

use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    pin::Pin,
    sync::{
        Arc, LazyLock, Mutex,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use clustergenie_proto::system::v1 as pb;
use rdkafka::consumer::{BaseConsumer, Consumer as _};

use crate::{
    db::Db,
    kafka::KafkaConfig,
    time::{now_millis, timestamp},
};

/// How long one dependency check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// A dependency check: `Ok(detail)` when up, `Err(reason)` when down.
pub type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<String, String>> + Send>> + Send + Sync>;

#[derive(Debug)]
struct PoolState {
    name: String,
    workers: usize,
    queue_capacity: usize,
    busy: AtomicI64,
    queued: AtomicI64,
}

/// A worker pool's live numbers.
#[derive(Debug, Clone)]
pub struct Pool(Arc<PoolState>);

impl Pool {
    pub fn set_busy(&self, busy: usize) {
        self.0
            .busy
            .store(i64::try_from(busy).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    pub fn set_queued(&self, queued: usize) {
        self.0
            .queued
            .store(i64::try_from(queued).unwrap_or(i64::MAX), Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct CounterState {
    name: String,
    labels: Vec<(String, String)>,
    value: AtomicU64,
}

/// A count since start, shown on the System page (and, where the service
/// says so, also a Prometheus counter of its own).
#[derive(Debug, Clone)]
pub struct Counter(Arc<CounterState>);

impl Counter {
    pub fn increment(&self, n: u64) {
        self.0.value.fetch_add(n, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct Registry {
    pools: Vec<Arc<PoolState>>,
    counters: Vec<Arc<CounterState>>,
    groups: BTreeSet<String>,
    consumed: BTreeSet<String>,
    checks: Vec<(String, Check)>,
}

/// One process's status board.
#[derive(Clone)]
pub struct Status {
    service: &'static str,
    started_ms: i64,
    registry: Arc<Mutex<Registry>>,
    broker: Arc<Mutex<Option<Arc<BaseConsumer>>>>,
}

impl std::fmt::Debug for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Status")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// Consumer lag by (group, topic, partition), as librdkafka last reported
/// it. Process-wide: librdkafka's statistics callback has no other way out,
/// and each status reads only its own groups.
static LAG: LazyLock<Mutex<BTreeMap<LagKey, i64>>> = LazyLock::new(Mutex::default);

/// (group, topic, partition).
type LagKey = (String, String, i32);

/// Replaces group `group`'s lag rows with `rows` (the partitions it holds now).
pub(crate) fn report_lag(group: &str, rows: impl IntoIterator<Item = (String, i32, i64)>) {
    if let Ok(mut lag) = LAG.lock() {
        lag.retain(|(g, _, _), _| g != group);
        for (topic, partition, n) in rows {
            lag.insert((group.to_string(), topic, partition), n);
        }
    }
}

impl Status {
    pub fn new(service: &'static str) -> Self {
        Self {
            service,
            started_ms: now_millis(),
            registry: Arc::default(),
            broker: Arc::default(),
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a worker pool of `workers` with a queue of `queue_capacity`.
    pub fn pool(&self, name: &str, workers: usize, queue_capacity: usize) -> Pool {
        let state = Arc::new(PoolState {
            name: name.to_string(),
            workers,
            queue_capacity,
            busy: AtomicI64::new(0),
            queued: AtomicI64::new(0),
        });
        self.registry().pools.push(state.clone());
        Pool(state)
    }

    /// The counter `name{labels}`, registered on first use.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Counter {
        let labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        let mut registry = self.registry();
        if let Some(c) = registry
            .counters
            .iter()
            .find(|c| c.name == name && c.labels == labels)
        {
            return Counter(c.clone());
        }
        let state = Arc::new(CounterState {
            name: name.to_string(),
            labels,
            value: AtomicU64::new(0),
        });
        registry.counters.push(state.clone());
        Counter(state)
    }

    /// A dependency checked each time the status is asked (within a second).
    pub fn dependency(&self, name: &str, check: Check) {
        self.registry().checks.push((name.to_string(), check));
    }

    pub(crate) fn consumer_group(&self, group: &str, topics: &[&str]) {
        let mut r = self.registry();
        r.groups.insert(group.to_string());
        r.consumed
            .extend(topics.iter().map(|t| crate::kafka::dlq(t)));
    }

    fn broker_client(&self, kafka: &KafkaConfig) -> Result<Arc<BaseConsumer>, String> {
        let mut slot = self
            .broker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let consumer: BaseConsumer = kafka
            .client()
            .create()
            .map_err(|e| format!("broker client: {e}"))?;
        let consumer = Arc::new(consumer);
        *slot = Some(consumer.clone());
        Ok(consumer)
    }

    /// The broker's state and each dead-letter topic's size; blocking.
    fn read_broker(
        &self,
        kafka: &KafkaConfig,
        dlq_topics: &[String],
    ) -> (pb::Dependency, Vec<pb::DeadLetters>) {
        let started = Instant::now();
        let consumer = match self.broker_client(kafka) {
            Ok(c) => c,
            Err(e) => return (dependency("broker", Err(e), started), Vec::new()),
        };
        let metadata = consumer.fetch_metadata(None, CHECK_TIMEOUT);
        let partitions: BTreeMap<String, i32> = metadata
            .as_ref()
            .map(|m| {
                m.topics()
                    .iter()
                    .map(|t| (t.name().to_string(), t.partitions().len() as i32))
                    .collect()
            })
            .unwrap_or_default();
        let state = metadata
            .map(|m| format!("{} broker(s)", m.brokers().len()))
            .map_err(|e| e.to_string());
        let broker = dependency("broker", state, started);
        let dead = dlq_topics
            .iter()
            .map(|topic| {
                // Every partition's end minus its start; -1 when any is unknown.
                let records = match partitions.get(topic) {
                    Some(n) => (0..*n)
                        .map(|p| {
                            consumer
                                .fetch_watermarks(topic, p, CHECK_TIMEOUT)
                                .map(|(low, high)| high - low)
                        })
                        .sum::<Result<i64, _>>()
                        .unwrap_or(-1),
                    None => -1,
                };
                pb::DeadLetters {
                    topic: topic.clone(),
                    records,
                }
            })
            .collect();
        (broker, dead)
    }

    /// The status now. `readiness` names the parts that are down.
    pub async fn snapshot(
        &self,
        down: Vec<String>,
        db: Option<&Db>,
        kafka: Option<&KafkaConfig>,
    ) -> pb::ProcessStatus {
        let (pools, counters, groups, dlq, checks) = {
            let r = self.registry();
            (
                r.pools.clone(),
                r.counters.clone(),
                r.groups.clone(),
                r.consumed.iter().cloned().collect::<Vec<_>>(),
                r.checks.clone(),
            )
        };
        let mut dependencies = Vec::new();
        let mut outbox = None;
        if let Some(db) = db {
            let started = Instant::now();
            match tokio::time::timeout(CHECK_TIMEOUT, outbox_status(db)).await {
                Ok(Ok(o)) => {
                    metrics::gauge!("cg_outbox_backlog").set(o.backlog as f64);
                    metrics::gauge!("cg_outbox_parked").set(o.parked as f64);
                    outbox = Some(o);
                    dependencies.push(dependency(
                        "database",
                        Ok(format!("{:?}", db.backend).to_lowercase()),
                        started,
                    ));
                }
                Ok(Err(e)) => dependencies.push(dependency("database", Err(e), started)),
                Err(_) => dependencies.push(dependency(
                    "database",
                    Err("no answer within a second".into()),
                    started,
                )),
            }
        }
        let mut dead_letters = Vec::new();
        if let Some(kafka) = kafka {
            let (this, kafka) = (self.clone(), kafka.clone());
            match tokio::task::spawn_blocking(move || this.read_broker(&kafka, &dlq)).await {
                Ok((broker, dead)) => {
                    for d in &dead {
                        if d.records >= 0 {
                            metrics::gauge!("cg_kafka_dlq_records", "topic" => d.topic.clone())
                                .set(d.records as f64);
                        }
                    }
                    dependencies.push(broker);
                    dead_letters = dead;
                }
                Err(e) => {
                    dependencies.push(dependency("broker", Err(e.to_string()), Instant::now()))
                }
            }
        }
        for (name, check) in checks {
            let started = Instant::now();
            let result = tokio::time::timeout(CHECK_TIMEOUT, check())
                .await
                .unwrap_or_else(|_| Err("no answer within a second".into()));
            dependencies.push(dependency(&name, result, started));
        }
        let consumer_lag = LAG
            .lock()
            .map(|lag| {
                lag.iter()
                    .filter(|((g, _, _), _)| groups.contains(g))
                    .map(|((group, topic, partition), n)| pb::ConsumerLag {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition: *partition,
                        lag: *n,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let serving = if down.is_empty() {
            pb::Serving::Serving
        } else {
            pb::Serving::NotServing
        };
        pb::ProcessStatus {
            service: self.service.to_string(),
            instance: instance(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            start_time: Some(timestamp(self.started_ms)),
            serving: serving as i32,
            down_parts: down,
            error: String::new(),
            worker_pools: pools
                .iter()
                .map(|p| pb::WorkerPool {
                    name: p.name.clone(),
                    workers: i32::try_from(p.workers).unwrap_or(i32::MAX),
                    busy: i32::try_from(p.busy.load(Ordering::Relaxed)).unwrap_or(i32::MAX),
                })
                .collect(),
            queues: pools
                .iter()
                .filter(|p| p.queue_capacity > 0)
                .map(|p| pb::QueueStatus {
                    name: p.name.clone(),
                    length: p.queued.load(Ordering::Relaxed),
                    capacity: i64::try_from(p.queue_capacity).unwrap_or(i64::MAX),
                })
                .collect(),
            consumer_lag,
            outbox,
            dead_letters,
            counters: counters
                .iter()
                .map(|c| pb::Counter {
                    name: c.name.clone(),
                    labels: c.labels.iter().cloned().collect(),
                    value: c.value.load(Ordering::Relaxed) as f64,
                })
                .collect(),
            dependencies,
        }
    }
}

fn instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{host}:{}", std::process::id())
}

fn dependency(name: &str, state: Result<String, String>, started: Instant) -> pb::Dependency {
    let latency = prost_types::Duration::try_from(started.elapsed()).ok();
    match state {
        Ok(detail) => pb::Dependency {
            name: name.to_string(),
            state: pb::DependencyState::Up as i32,
            detail,
            latency,
        },
        Err(reason) => pb::Dependency {
            name: name.to_string(),
            state: pb::DependencyState::Down as i32,
            detail: reason,
            latency,
        },
    }
}

async fn outbox_status(db: &Db) -> Result<pb::OutboxStatus, String> {
    use sqlx::Row as _;
    let err = |e: sqlx::Error| e.to_string();
    let pending = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox \
         WHERE sent_at IS NULL AND parked_at IS NULL",
    )
    .fetch_one(&db.pool)
    .await
    .map_err(err)?;
    let parked: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND parked_at IS NOT NULL",
    )
    .fetch_one(&db.pool)
    .await
    .map_err(err)?;
    let backlog: i64 = pending.try_get("n").map_err(err)?;
    let oldest: Option<i64> = pending.try_get("oldest").map_err(err)?;
    Ok(pb::OutboxStatus {
        backlog,
        parked,
        oldest_pending_time: oldest.map(timestamp),
    })
}

/// `ProcessService`, as the kit serves it for every service.
pub struct ProcessApi {
    pub status: Status,
    pub readiness: crate::kit::Readiness,
    pub db: Option<Db>,
    pub kafka: Option<KafkaConfig>,
}

#[tonic::async_trait]
impl pb::process_service_server::ProcessService for ProcessApi {
    #[tracing::instrument(skip_all)]
    async fn get_process_status(
        &self,
        _: tonic::Request<pb::GetProcessStatusRequest>,
    ) -> Result<tonic::Response<pb::GetProcessStatusResponse>, tonic::Status> {
        let status = self
            .status
            .snapshot(
                self.readiness.down_parts(),
                self.db.as_ref(),
                self.kafka.as_ref(),
            )
            .await;
        Ok(tonic::Response::new(pb::GetProcessStatusResponse {
            status: Some(status),
        }))
    }
}
