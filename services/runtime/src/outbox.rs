//! The transactional outbox: a service writes its state change and the event
//! announcing it in one database transaction ([`enqueue`]); the [`Relay`]
//! publishes unsent events in order and marks them sent. Delivery is at
//! least once (a crash between publish and mark resends), so consumers
//! deduplicate by event id.
//!
//! The `outbox` table comes with the runtime's migrations
//! (`database/migrations/runtime`), which the service kit applies to every
//! service's database.

use std::time::Duration;

use std::sync::LazyLock;

use sqlx::{AnyConnection, AnyPool, Row};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    Error,
    kafka::{Outgoing, Producer},
    time::now_millis,
};

/// Bumped by [`wake`]; relays in this process wait on it between polls.
static WAKE: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::channel(0).0);

/// Tells this process's relays that committed events are waiting, so they
/// publish now instead of at their next poll. Call after the commit.
pub fn wake() {
    WAKE.send_modify(|n| *n = n.wrapping_add(1));
}

/// An event to announce once the surrounding transaction commits; made by
/// [`crate::topic::Topic::event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub topic: &'static str,
    /// The cluster id: ordering is per cluster.
    pub key: String,
    /// The protobuf full name of the payload.
    pub event_type: String,
    pub payload: Vec<u8>,
}

/// Records `event` inside the caller's transaction and returns its event id.
/// The current span's trace context is kept, so the published record
/// continues the trace that caused it.
pub async fn enqueue(tx: &mut AnyConnection, event: NewEvent) -> Result<String, sqlx::Error> {
    let id = crate::new_id();
    sqlx::query(
        "INSERT INTO outbox (id, topic, event_key, event_type, payload, traceparent, created_at, \
         sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
    )
    .bind(id.as_str())
    .bind(event.topic)
    .bind(event.key)
    .bind(event.event_type)
    .bind(event.payload)
    .bind(crate::kafka::current_traceparent().unwrap_or_default())
    .bind(now_millis())
    .execute(tx)
    .await?;
    Ok(id)
}

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Rows published per round.
    pub batch: u32,
    /// Pause when nothing is waiting.
    pub idle: Duration,
    /// Sent rows are deleted after this long.
    pub retention: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch: 256,
            idle: Duration::from_millis(500),
            retention: Duration::from_secs(3600),
        }
    }
}

/// Publishes the outbox to Kafka.
pub struct Relay {
    pool: AnyPool,
    producer: Producer,
    config: RelayConfig,
}

impl Relay {
    pub fn new(pool: AnyPool, producer: Producer, config: RelayConfig) -> Self {
        Self {
            pool,
            producer,
            config,
        }
    }

    /// Publishes one batch in id order; stops at the first failed send so
    /// order holds. Returns how many were published.
    pub async fn relay_once(&self) -> Result<usize, Error> {
        let db = |e: sqlx::Error| Error::Kafka(format!("outbox: {e}"));
        let rows = sqlx::query(&format!(
            "SELECT id, topic, event_key, event_type, payload, traceparent FROM outbox \
             WHERE sent_at IS NULL ORDER BY id LIMIT {}",
            self.config.batch
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        struct Pending {
            id: String,
            topic: String,
            key: String,
            event_type: String,
            payload: Vec<u8>,
            traceparent: String,
        }
        let pending = rows
            .iter()
            .map(|row| {
                Ok(Pending {
                    id: row.try_get("id")?,
                    topic: row.try_get("topic")?,
                    key: row.try_get("event_key")?,
                    event_type: row.try_get("event_type")?,
                    payload: row.try_get("payload")?,
                    traceparent: row.try_get("traceparent")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db)?;
        if pending.is_empty() {
            return Ok(0);
        }
        let outgoing: Vec<Outgoing<'_>> = pending
            .iter()
            .map(|p| Outgoing {
                topic: &p.topic,
                key: &p.key,
                event_id: &p.id,
                event_type: &p.event_type,
                payload: &p.payload,
                traceparent: (!p.traceparent.is_empty()).then_some(p.traceparent.as_str()),
            })
            .collect();
        // All or nothing: a batch that fails is sent again whole (consumers
        // deduplicate by event id), so order is never broken.
        self.producer.send_all(&outgoing).await?;
        let placeholders = vec!["?"; pending.len()].join(", ");
        let sql = format!("UPDATE outbox SET sent_at = ? WHERE id IN ({placeholders})");
        let mut q = sqlx::query(&sql).bind(now_millis());
        for p in &pending {
            q = q.bind(p.id.as_str());
        }
        q.execute(&self.pool).await.map_err(db)?;
        let sent = pending.len();
        metrics::counter!("cg_outbox_published_total").increment(sent as u64);
        Ok(sent)
    }

    async fn prune(&self) -> Result<u64, sqlx::Error> {
        let cutoff = now_millis() - i64::try_from(self.config.retention.as_millis()).unwrap_or(0);
        Ok(
            sqlx::query("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?")
                .bind(cutoff)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Relays until `stop`; failures (broker or database away) back off and
    /// retry, never losing a row.
    pub async fn run(self, stop: CancellationToken) {
        let mut woken = WAKE.subscribe();
        let mut failures = 0u32;
        let mut rounds = 0u64;
        loop {
            // Before reading: a commit (and its wake) after this point is
            // seen by the read or wakes the wait below, never lost between.
            woken.mark_unchanged();
            let relayed = tokio::select! {
                // Delivery is at least once: an interrupted batch is sent
                // again by the next relay, so shutdown need not wait for it.
                () = stop.cancelled() => return,
                r = self.relay_once() => r,
            };
            let wait = match relayed {
                Ok(n) => {
                    failures = 0;
                    if n > 0 {
                        Duration::ZERO
                    } else {
                        self.config.idle
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, failures, "outbox relay failed; retrying");
                    crate::kafka::backoff(
                        Duration::from_millis(100),
                        Duration::from_secs(10),
                        failures,
                    )
                }
            };
            rounds += 1;
            if rounds.is_multiple_of(1000)
                && let Err(e) = self.prune().await
            {
                tracing::warn!(error = %e, "outbox prune failed");
            }
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
                // A failing broker keeps its backoff; otherwise wake early.
                _ = woken.changed(), if failures == 0 => {}
            }
        }
    }
}
