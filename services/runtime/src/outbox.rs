//! The transactional outbox: a service writes its state change and the event
//! announcing it in one database transaction ([`enqueue`]); the [`Relay`]
//! publishes unsent events in order and marks them sent. Delivery is at
//! least once (a crash between publish and mark resends), so consumers
//! deduplicate by event id.
//!
//! Replicas sharing a database take turns: a relay publishes only while it
//! holds the database's relay lease (`runtime_leases`, renewed as it works,
//! taken over once it expires), so each row is published once under normal
//! operation and per-key order holds. A row the broker refuses for itself
//! (too large, an invalid topic) is tried [`PARK_AFTER`] times, then parked
//! with its error (`cg_outbox_parked_total`), and the rows behind it flow on.
//!
//! The `outbox` table comes with the runtime's migrations
//! (`database/migrations/runtime`), which the service kit applies to every
//! service's database.

use std::{sync::Arc, time::Duration};

use sqlx::{AnyConnection, AnyPool, Row};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{
    Error,
    db::Db,
    kafka::{Outgoing, Producer},
    time::now_millis,
};

/// Refusals of one row before it is parked.
pub const PARK_AFTER: i64 = 5;
const LEASE: &str = "outbox-relay";

/// The wake signal of one database's relay: committing code calls
/// [`Wake::wake`] so the relay publishes now instead of at its next poll.
/// It belongs to the database handle, so services sharing a process wake
/// only their own relay.
#[derive(Clone, Debug)]
pub struct Wake(Arc<watch::Sender<u64>>);

impl Default for Wake {
    fn default() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }
}

impl Wake {
    /// Call after the commit.
    pub fn wake(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// An event to announce once the surrounding transaction commits; made by
/// [`crate::topic::Topic::event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The event id (`ce-id`); `None` draws a fresh one. Set when the
    /// payload names its own id (an activity entry).
    pub id: Option<String>,
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
    let id = event.id.unwrap_or_else(crate::new_id);
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
    /// How long the relay lease lasts unrenewed: a dead relay's database is
    /// taken over by another replica after this.
    pub lease: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch: 256,
            idle: Duration::from_millis(500),
            retention: Duration::from_secs(3600),
            lease: Duration::from_secs(5),
        }
    }
}

/// Publishes the outbox to Kafka.
pub struct Relay {
    pool: AnyPool,
    wake: Wake,
    producer: Producer,
    config: RelayConfig,
    holder: String,
    /// Until when this relay holds the lease, as it last wrote it.
    held_until: std::sync::atomic::AtomicI64,
}

struct Pending {
    id: String,
    topic: String,
    key: String,
    event_type: String,
    payload: Vec<u8>,
    traceparent: String,
    attempts: i64,
}

impl Relay {
    pub fn new(db: &Db, producer: Producer, config: RelayConfig) -> Self {
        Self {
            pool: db.pool.clone(),
            wake: db.wake.clone(),
            producer,
            config,
            holder: crate::new_id(),
            held_until: std::sync::atomic::AtomicI64::new(0),
        }
    }

    /// Takes or renews the relay lease; false while another relay holds it.
    pub async fn lease(&self) -> Result<bool, sqlx::Error> {
        let now = now_millis();
        let ttl = i64::try_from(self.config.lease.as_millis()).unwrap_or(i64::MAX);
        let held = self.held_until.load(std::sync::atomic::Ordering::Relaxed);
        // Renewed at half time: a renewal in the same millisecond would
        // change no row, which MySQL reports as "not held".
        if held - now > ttl / 2 {
            return Ok(true);
        }
        let until = now + ttl;
        let inserted =
            sqlx::query("INSERT INTO runtime_leases (name, holder, expires_at) VALUES (?, ?, ?)")
                .bind(LEASE)
                .bind(self.holder.as_str())
                .bind(until)
                .execute(&self.pool)
                .await;
        let taken = match inserted {
            Ok(_) => true,
            Err(e) if crate::db::is_unique_violation(&e) => {
                sqlx::query(
                    "UPDATE runtime_leases SET holder = ?, expires_at = ? \
                     WHERE name = ? AND (holder = ? OR expires_at < ?)",
                )
                .bind(self.holder.as_str())
                .bind(until)
                .bind(LEASE)
                .bind(self.holder.as_str())
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected()
                    == 1
            }
            Err(e) => return Err(e),
        };
        if taken {
            if held < now {
                tracing::info!(holder = %self.holder, "outbox relay lease taken");
            }
            self.held_until
                .store(until, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(taken)
    }

    /// Publishes one batch in id order when this relay holds the lease.
    /// Returns how many rows were published.
    pub async fn relay_once(&self) -> Result<usize, Error> {
        let db = |e: sqlx::Error| Error::Kafka(format!("outbox: {e}"));
        if !self.lease().await.map_err(db)? {
            return Ok(0);
        }
        let rows = sqlx::query(&format!(
            "SELECT id, topic, event_key, event_type, payload, traceparent, attempts FROM outbox \
             WHERE sent_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT {}",
            self.config.batch
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
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
                    attempts: row
                        .try_get::<i64, _>("attempts")
                        .or_else(|_| row.try_get::<i32, _>("attempts").map(i64::from))?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db)?;
        if pending.is_empty() {
            return Ok(0);
        }
        let outgoing: Vec<Outgoing<'_>> = pending.iter().map(Pending::outgoing).collect();
        // Every row is enqueued before any acknowledgement is awaited (one
        // round trip for the batch; the idempotent producer keeps the order
        // within each partition). Each row's own outcome counts: a row the
        // broker refuses for itself is counted (and parked in the end); a
        // broker that is away fails the round, and the rows it did not take
        // are sent again by the next one.
        let results = self.producer.send_each(&outgoing).await;
        let mut sent = Vec::new();
        let mut transient = None;
        for (p, result) in pending.iter().zip(results) {
            match result {
                Ok(()) => sent.push(p),
                Err(e) if crate::kafka::is_refused_record(&e) => {
                    self.refused(p, &e.to_string()).await.map_err(db)?;
                }
                Err(e) => transient = Some(e.to_string()),
            }
        }
        if !sent.is_empty() {
            let placeholders = vec!["?"; sent.len()].join(", ");
            let sql = format!("UPDATE outbox SET sent_at = ? WHERE id IN ({placeholders})");
            let mut q = sqlx::query(&sql).bind(now_millis());
            for p in &sent {
                q = q.bind(p.id.as_str());
            }
            q.execute(&self.pool).await.map_err(db)?;
            metrics::counter!("cg_outbox_published_total").increment(sent.len() as u64);
        }
        match transient {
            Some(e) if sent.is_empty() => Err(Error::Kafka(format!("publish: {e}"))),
            _ => Ok(sent.len()),
        }
    }

    /// Counts a refusal of row `p`; parks it after [`PARK_AFTER`].
    async fn refused(&self, p: &Pending, error: &str) -> Result<(), sqlx::Error> {
        let attempts = p.attempts + 1;
        let parked = attempts >= PARK_AFTER;
        let error: String = error.chars().take(1000).collect();
        sqlx::query("UPDATE outbox SET attempts = ?, last_error = ?, parked_at = ? WHERE id = ?")
            .bind(attempts)
            .bind(error.as_str())
            .bind(parked.then(now_millis))
            .bind(p.id.as_str())
            .execute(&self.pool)
            .await?;
        if parked {
            metrics::counter!("cg_outbox_parked_total", "topic" => p.topic.clone()).increment(1);
            tracing::error!(id = %p.id, topic = %p.topic, attempts, %error, "outbox row parked");
        } else {
            tracing::warn!(id = %p.id, topic = %p.topic, attempts, %error, "outbox row refused");
        }
        Ok(())
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
        let mut woken = self.wake.subscribe();
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
                    } else if self.held_until.load(std::sync::atomic::Ordering::Relaxed)
                        < now_millis()
                    {
                        // Another replica relays: check back before its lease could lapse.
                        self.config.lease / 2
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

impl Pending {
    fn outgoing(&self) -> Outgoing<'_> {
        Outgoing {
            topic: &self.topic,
            key: &self.key,
            event_id: &self.id,
            event_type: &self.event_type,
            payload: &self.payload,
            traceparent: (!self.traceparent.is_empty()).then_some(self.traceparent.as_str()),
        }
    }
}
