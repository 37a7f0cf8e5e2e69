//! The fleet's activity log: entries every service publishes on
//! `cg.activity`, stored once each, listed with filters and streamed from a
//! cursor. One tail task per process reads new entries in `seq` order and
//! fans them out to every live stream, so a hundred watchers cost one query
//! per poll, not a hundred.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use cg_runtime::{
    ApiError,
    kafka::{Event, Failure},
    page::{PageOf, PageRequest},
    topic::topics,
};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::{
    repo::{ActivityStore, Result},
    wire,
};

/// Entries read per query, replaying or tailing.
const PAGE: u32 = 500;
/// How often the tail looks for entries other replicas stored.
const TAIL_POLL: Duration = Duration::from_millis(200);
/// Entries a slow stream may fall behind the tail before it re-reads them
/// from the database.
const FANOUT_BACKLOG: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info = 1,
    Warning = 2,
    Error = 3,
}

impl Severity {
    pub fn from_number(n: i64) -> Option<Self> {
        match n {
            1 => Some(Self::Info),
            2 => Some(Self::Warning),
            3 => Some(Self::Error),
            _ => None,
        }
    }
}

impl From<Severity> for cg_runtime::activity::Severity {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Info => Self::Info,
            Severity::Warning => Self::Warning,
            Severity::Error => Self::Error,
        }
    }
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Position in the log: the cursor.
    pub seq: i64,
    pub id: String,
    pub time_ms: i64,
    pub cluster_id: String,
    pub source: String,
    pub kind: String,
    pub severity: Severity,
    pub message: String,
    pub droplet_id: String,
    pub job_id: String,
    pub diagnosis_id: String,
    pub decision_id: String,
    pub health_check_id: String,
    pub trace_id: String,
    pub attributes: BTreeMap<String, String>,
}

/// A cursor as clients see it: 16 hex digits of `seq`.
pub fn cursor(seq: i64) -> String {
    format!("{seq:016x}")
}

pub fn parse_cursor(raw: &str) -> Result<i64, String> {
    if raw.len() != 16 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("is not a cursor from an activity entry".into());
    }
    i64::from_str_radix(raw, 16).map_err(|_| "is not a cursor from an activity entry".into())
}

/// What ListActivity selects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub cluster_id: Option<String>,
    /// Exact kind, or a prefix ending in `.`.
    pub kind: Option<String>,
    pub min_severity: Option<Severity>,
    pub source: Option<String>,
    pub droplet_id: Option<String>,
    pub job_id: Option<String>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    /// Lowercase.
    pub text: Option<String>,
}

impl Filter {
    /// What a page token is bound to.
    pub fn key(&self) -> String {
        format!("{self:?}")
    }
}

/// What a stream selects.
#[derive(Debug, Clone, Default)]
pub struct StreamFilter {
    pub cluster_id: Option<String>,
    pub min_severity: Option<Severity>,
    /// Resume after this seq; `None` streams only new entries.
    pub since: Option<i64>,
}

impl StreamFilter {
    fn matches(&self, e: &Entry) -> bool {
        self.cluster_id.as_deref().is_none_or(|c| c == e.cluster_id)
            && self.min_severity.is_none_or(|s| e.severity >= s)
    }

    /// The same selection as a list filter (for replaying from storage).
    fn as_filter(&self) -> Filter {
        Filter {
            cluster_id: self.cluster_id.clone(),
            min_severity: self.min_severity,
            ..Filter::default()
        }
    }
}

struct Inner<S> {
    store: S,
    fanout: broadcast::Sender<Arc<Entry>>,
    stored: Notify,
    stop: CancellationToken,
}

/// The activity log on an [`ActivityStore`].
pub struct ActivityLog<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for ActivityLog<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<S: ActivityStore + Clone> ActivityLog<S> {
    /// The log and its tail task, which the caller runs (until `stop`).
    pub fn new(
        store: S,
        stop: CancellationToken,
    ) -> (Self, impl Future<Output = ()> + Send + 'static) {
        let (fanout, _) = broadcast::channel(FANOUT_BACKLOG);
        let inner = Arc::new(Inner {
            store,
            fanout,
            stored: Notify::new(),
            stop,
        });
        let tail = tail(inner.clone());
        (Self { inner }, tail)
    }

    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// Stores entries (those already stored are skipped); returns how many
    /// were new.
    pub async fn record(&self, entries: Vec<Entry>) -> Result<u64> {
        let n = self.inner.store.append(&entries).await?;
        if n > 0 {
            self.inner.stored.notify_one();
            metrics::counter!("cg_monitoring_activity_stored_total").increment(n);
        }
        Ok(n)
    }

    /// The Kafka handler for `cg.activity`, for records that arrived
    /// together: stored in one transaction. A record that cannot be read
    /// fails the batch for good, and the consumer retries its records one
    /// by one, so only that one is dead-lettered.
    pub async fn handle_batch(&self, events: Vec<Event>) -> Result<(), Failure> {
        let mut entries = Vec::with_capacity(events.len());
        for event in &events {
            let message = topics::ACTIVITY.decode(event)?;
            entries.push(wire::activity(event, message).map_err(Failure::Permanent)?);
        }
        self.record(entries)
            .await
            .map(|_| ())
            .map_err(Failure::from)
    }

    /// Newest first.
    pub async fn list(&self, filter: &Filter, page: &PageRequest) -> Result<PageOf<Entry>> {
        let before =
            match &page.after {
                Some(a) => Some(a.parse::<i64>().map_err(|_| {
                    ApiError::invalid("page_token", "is not a token from this list")
                })?),
                None => None,
            };
        let rows = self
            .inner
            .store
            .newest(filter, before, page.size + 1)
            .await?;
        Ok(PageOf::from_rows(rows, page.size, |e| e.seq.to_string()))
    }

    /// Entries after `filter.since` from storage, then live ones, with no
    /// gap and no duplicate. FAILED_PRECONDITION when the cursor is older
    /// than retention.
    pub async fn stream(&self, filter: StreamFilter) -> Result<ReceiverStream<Result<Entry>>> {
        // Subscribed before the first read, so nothing stored between the
        // read and the subscription is missed.
        let mut live = self.inner.fanout.subscribe();
        let (trimmed, newest) = self.inner.store.bounds().await?;
        let mut last = match filter.since {
            Some(since) if since < trimmed => {
                return Err(ApiError::FailedPrecondition(format!(
                    "cursor {} is older than the log's retention; list the activity again, then stream from the newest entry's cursor",
                    cursor(since)
                )));
            }
            Some(since) => since,
            None => newest,
        };
        let (tx, rx) = mpsc::channel(64);
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let as_filter = filter.as_filter();
            // Replay from storage (also after falling behind the tail).
            let mut replaying = true;
            loop {
                if replaying {
                    loop {
                        let rows = match inner.store.after(&as_filter, last, PAGE).await {
                            Ok(rows) => rows,
                            Err(e) => {
                                let _ = tx.send(Err(e)).await;
                                return;
                            }
                        };
                        let more = rows.len() == PAGE as usize;
                        for e in rows {
                            last = e.seq;
                            if tx.send(Ok(e)).await.is_err() {
                                return;
                            }
                        }
                        if !more {
                            break;
                        }
                    }
                    replaying = false;
                }
                let next = tokio::select! {
                    () = tx.closed() => return,
                    () = inner.stop.cancelled() => {
                        let _ = tx.send(Err(ApiError::ShuttingDown)).await;
                        return;
                    }
                    n = live.recv() => n,
                };
                match next {
                    Ok(e) if e.seq <= last => {}
                    Ok(e) => {
                        last = e.seq;
                        if filter.matches(&e) && tx.send(Ok((*e).clone())).await.is_err() {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => replaying = true,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(ReceiverStream::new(rx))
    }

    /// Drops entries older than `before` (producer time), remembering the
    /// highest seq dropped.
    pub async fn enforce_retention(&self, before: i64) -> Result<u64> {
        self.inner.store.trim(before).await
    }
}

/// Reads entries in seq order as they are stored (here: at once; by other
/// replicas: within a poll) and hands them to every live stream.
async fn tail<S: ActivityStore>(inner: Arc<Inner<S>>) {
    let mut last = loop {
        match inner.store.bounds().await {
            Ok((_, newest)) => break newest,
            Err(e) => {
                tracing::warn!(error = %e, "activity tail cannot read the log; retrying");
                tokio::select! {
                    () = inner.stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    let all = Filter::default();
    loop {
        tokio::select! {
            () = inner.stop.cancelled() => return,
            () = inner.stored.notified() => {}
            () = tokio::time::sleep(TAIL_POLL) => {}
        }
        loop {
            let rows = match inner.store.after(&all, last, PAGE).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "activity tail read failed");
                    break;
                }
            };
            let more = rows.len() == PAGE as usize;
            for e in rows {
                last = e.seq;
                let _ = inner.fanout.send(Arc::new(e));
            }
            if !more {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        assert_eq!(parse_cursor(&cursor(42)), Ok(42));
        assert_eq!(cursor(255), "00000000000000ff");
    }

    #[test]
    fn a_malformed_cursor_is_rejected() {
        assert!(parse_cursor("xyz").is_err());
        assert!(parse_cursor("000000000000000g").is_err());
        assert!(parse_cursor("").is_err());
    }

    #[test]
    fn severities_order_from_info_to_error() {
        assert!(Severity::Error > Severity::Warning && Severity::Warning > Severity::Info);
        assert_eq!(Severity::from_number(2), Some(Severity::Warning));
        assert_eq!(Severity::from_number(0), None);
    }
}
