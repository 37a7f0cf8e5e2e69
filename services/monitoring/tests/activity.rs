//! The activity log on MariaDB and on SQLite: stored once per id, listed
//! newest first with filters, streamed from a cursor with no gap and no
//! duplicate (also while two replicas append at once), and trimmed.

use std::{collections::BTreeMap, time::Duration};

use cg_runtime::{db, new_id, page::PageRequest};
use cg_testkit::{Backend, TestDb, on_both_backends};
use futures::StreamExt as _;
use monitoring::{
    activity::{ActivityLog, Entry, Filter, Severity, StreamFilter},
    repo::{ActivityStore, SqlActivity},
};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

const CLUSTER: &str = "0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6b";
const OTHER: &str = "0190b6a8-7d2c-7f3e-8a4b-00000000000f";

struct Suite {
    log: ActivityLog<SqlActivity>,
    db: TestDb,
    stop: CancellationToken,
}

impl Drop for Suite {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn log_on(db: &TestDb, stop: &CancellationToken) -> ActivityLog<SqlActivity> {
    let migrated = db::connect(&db.config(), &db::with_runtime(&monitoring::MIGRATOR))
        .await
        .expect("migrated");
    let (log, tail) = ActivityLog::new(SqlActivity::new(&migrated), stop.clone());
    tokio::spawn(tail);
    log
}

async fn suite(backend: Backend) -> Suite {
    let db = TestDb::new(backend).await;
    let stop = CancellationToken::new();
    Suite {
        log: log_on(&db, &stop).await,
        db,
        stop,
    }
}

fn entry(cluster: &str, kind: &str, severity: Severity, message: &str, t: i64) -> Entry {
    Entry {
        seq: 0,
        id: new_id(),
        time_ms: t,
        cluster_id: cluster.into(),
        source: kind.split('.').next().unwrap_or("jobs").into(),
        kind: kind.into(),
        severity,
        message: message.into(),
        droplet_id: String::new(),
        job_id: String::new(),
        diagnosis_id: String::new(),
        decision_id: String::new(),
        health_check_id: String::new(),
        trace_id: String::new(),
        attributes: BTreeMap::from([("k".to_string(), "v".to_string())]),
    }
}

fn page(size: u32) -> PageRequest {
    PageRequest { size, after: None }
}

async fn next(stream: &mut ReceiverStream<Result<Entry, cg_runtime::ApiError>>) -> Entry {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an entry in time")
        .expect("the stream stays open")
        .expect("an entry, not an error")
}

async fn an_entry_is_stored_once_and_lists_newest_first_with_filters(backend: Backend) {
    let s = suite(backend).await;
    let first = entry(
        CLUSTER,
        "job.created",
        Severity::Info,
        "Provision job created",
        1_000,
    );
    assert_eq!(s.log.record(vec![first.clone()]).await.unwrap(), 1);
    assert_eq!(
        s.log.record(vec![first.clone()]).await.unwrap(),
        0,
        "redelivered"
    );
    s.log
        .record(vec![
            entry(
                CLUSTER,
                "job.failed",
                Severity::Error,
                "Resize job FAILED: 100% disk",
                2_000,
            ),
            entry(
                OTHER,
                "droplet.created",
                Severity::Info,
                "droplet web-1 created",
                3_000,
            ),
            entry(
                CLUSTER,
                "jobs.other",
                Severity::Warning,
                "not a job. entry",
                4_000,
            ),
        ])
        .await
        .unwrap();
    let all = s
        .log
        .list(&Filter::default(), &page(50))
        .await
        .unwrap()
        .items;
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq), "newest first");
    assert_eq!(all[3].attributes["k"], "v");
    let kinds = |f: Filter| {
        let log = s.log.clone();
        async move {
            log.list(&f, &page(50))
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|e| e.kind)
                .collect::<Vec<_>>()
        }
    };
    let prefix = Filter {
        kind: Some("job.".into()),
        ..Filter::default()
    };
    assert_eq!(kinds(prefix).await, ["job.failed", "job.created"]);
    let severe = Filter {
        min_severity: Some(Severity::Warning),
        ..Filter::default()
    };
    assert_eq!(kinds(severe).await, ["jobs.other", "job.failed"]);
    let text = Filter {
        text: Some("failed: 100%".into()),
        ..Filter::default()
    };
    assert_eq!(
        kinds(text).await,
        ["job.failed"],
        "case-insensitive, % literal"
    );
    let other = Filter {
        cluster_id: Some(OTHER.into()),
        ..Filter::default()
    };
    assert_eq!(kinds(other).await, ["droplet.created"]);
    let window = Filter {
        start_ms: Some(2_000),
        end_ms: Some(4_000),
        ..Filter::default()
    };
    assert_eq!(kinds(window).await, ["droplet.created", "job.failed"]);
    // Pages continue below the last seq seen.
    let mut p = page(3);
    let one = s.log.list(&Filter::default(), &p).await.unwrap();
    assert_eq!(one.items.len(), 3);
    p.after = one.next_after.clone();
    let two = s.log.list(&Filter::default(), &p).await.unwrap();
    assert_eq!(two.items.len(), 1);
    assert_eq!(two.next_after, None);
}

async fn a_stream_resumes_from_its_cursor_then_follows_live(backend: Backend) {
    let s = suite(backend).await;
    for i in 0..5 {
        s.log
            .record(vec![entry(
                CLUSTER,
                "job.created",
                Severity::Info,
                &format!("e{i}"),
                i,
            )])
            .await
            .unwrap();
    }
    let stored = s
        .log
        .list(&Filter::default(), &page(50))
        .await
        .unwrap()
        .items;
    let second = stored[3].seq;
    let mut stream = s
        .log
        .stream(StreamFilter {
            since: Some(second),
            ..StreamFilter::default()
        })
        .await
        .unwrap();
    let replayed: Vec<String> = [
        next(&mut stream).await,
        next(&mut stream).await,
        next(&mut stream).await,
    ]
    .into_iter()
    .map(|e| e.message)
    .collect();
    assert_eq!(replayed, ["e2", "e3", "e4"]);
    s.log
        .record(vec![entry(
            CLUSTER,
            "job.created",
            Severity::Info,
            "live",
            9,
        )])
        .await
        .unwrap();
    let live = next(&mut stream).await;
    assert_eq!(live.message, "live");
    // The client goes away; entries are stored meanwhile; it comes back.
    drop(stream);
    for i in 0..3 {
        s.log
            .record(vec![entry(
                CLUSTER,
                "job.created",
                Severity::Info,
                &format!("m{i}"),
                10 + i,
            )])
            .await
            .unwrap();
    }
    let mut stream = s
        .log
        .stream(StreamFilter {
            since: Some(live.seq),
            ..StreamFilter::default()
        })
        .await
        .unwrap();
    let missed: Vec<String> = [
        next(&mut stream).await,
        next(&mut stream).await,
        next(&mut stream).await,
    ]
    .into_iter()
    .map(|e| e.message)
    .collect();
    assert_eq!(missed, ["m0", "m1", "m2"], "exactly the missed entries");
    s.log
        .record(vec![
            entry(OTHER, "job.created", Severity::Info, "elsewhere", 20),
            entry(CLUSTER, "job.created", Severity::Info, "after", 21),
        ])
        .await
        .unwrap();
    assert_eq!(next(&mut stream).await.message, "elsewhere");
    assert_eq!(next(&mut stream).await.message, "after");
    // Without a cursor a stream starts at the newest entry; with a cluster
    // and a severity it sees only those.
    let mut only = s
        .log
        .stream(StreamFilter {
            cluster_id: Some(CLUSTER.into()),
            min_severity: Some(Severity::Warning),
            since: None,
        })
        .await
        .unwrap();
    s.log
        .record(vec![
            entry(CLUSTER, "job.created", Severity::Info, "quiet", 30),
            entry(OTHER, "job.failed", Severity::Error, "other cluster", 31),
            entry(CLUSTER, "job.failed", Severity::Error, "loud", 32),
        ])
        .await
        .unwrap();
    assert_eq!(next(&mut only).await.message, "loud");
}

async fn two_replicas_appending_at_once_stream_every_entry_once_in_order(backend: Backend) {
    let s = suite(backend).await;
    // A second replica: its own log and tail on the same database.
    let replica = log_on(&s.db, &s.stop).await;
    let mut stream = s
        .log
        .stream(StreamFilter {
            since: Some(0),
            ..StreamFilter::default()
        })
        .await
        .unwrap();
    let writers: Vec<_> = [s.log.clone(), replica.clone()]
        .into_iter()
        .enumerate()
        .map(|(w, log)| {
            tokio::spawn(async move {
                for i in 0..40 {
                    log.record(vec![entry(
                        CLUSTER,
                        "job.created",
                        Severity::Info,
                        &format!("{w}-{i}"),
                        i,
                    )])
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    while seen.len() < 80 {
        seen.push(next(&mut stream).await);
    }
    for w in writers {
        w.await.unwrap();
    }
    assert!(seen.windows(2).all(|w| w[0].seq < w[1].seq), "in seq order");
    let mut messages: Vec<_> = seen.iter().map(|e| e.message.clone()).collect();
    messages.sort();
    messages.dedup();
    assert_eq!(messages.len(), 80, "every entry once");
    // A stream on the other replica from the same cursor sees the same.
    let mut mirror = replica
        .stream(StreamFilter {
            since: Some(0),
            ..StreamFilter::default()
        })
        .await
        .unwrap();
    for e in &seen {
        assert_eq!(next(&mut mirror).await.seq, e.seq);
    }
}

async fn a_cursor_older_than_retention_cannot_resume(backend: Backend) {
    let s = suite(backend).await;
    for i in 0..4 {
        s.log
            .record(vec![entry(
                CLUSTER,
                "job.created",
                Severity::Info,
                &format!("e{i}"),
                i * 1000,
            )])
            .await
            .unwrap();
    }
    let oldest = s
        .log
        .list(&Filter::default(), &page(50))
        .await
        .unwrap()
        .items[3]
        .seq;
    assert_eq!(s.log.enforce_retention(2_000).await.unwrap(), 2);
    let left = s
        .log
        .list(&Filter::default(), &page(50))
        .await
        .unwrap()
        .items;
    assert_eq!(left.len(), 2);
    let err = s
        .log
        .stream(StreamFilter {
            since: Some(oldest),
            ..StreamFilter::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, cg_runtime::ApiError::FailedPrecondition(_)),
        "{err}"
    );
    let (trimmed, _) = s.log.store().bounds().await.unwrap();
    let mut ok = s
        .log
        .stream(StreamFilter {
            since: Some(trimmed),
            ..StreamFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(next(&mut ok).await.message, "e2");
}

/// A consumer's batch can hold redeliveries (of stored entries and of its
/// own): each id is stored once and the seqs stay gapless, so the log's
/// newest seq is always an entry's.
async fn a_batch_with_redeliveries_stores_each_id_once_with_gapless_seqs(backend: Backend) {
    let s = suite(backend).await;
    let (a, b, c) = (
        entry(CLUSTER, "job.created", Severity::Info, "a", 1_000),
        entry(CLUSTER, "job.started", Severity::Info, "b", 2_000),
        entry(CLUSTER, "job.succeeded", Severity::Info, "c", 3_000),
    );
    assert_eq!(s.log.record(vec![a.clone()]).await.unwrap(), 1);
    let stored = s
        .log
        .record(vec![b.clone(), a.clone(), c.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(stored, 2, "b and c are new; a and the second b are not");
    assert_eq!(s.log.record(vec![c.clone(), a]).await.unwrap(), 0);
    let all = s
        .log
        .list(&Filter::default(), &page(50))
        .await
        .unwrap()
        .items;
    let messages: Vec<_> = all.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["c", "b", "a"]);
    let seqs: Vec<i64> = all.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] == w[1] + 1),
        "gapless: {seqs:?}"
    );
    let (_, newest) = s.log.store().bounds().await.unwrap();
    assert_eq!(newest, seqs[0]);
    // The next entry follows straight on.
    let d = entry(CLUSTER, "job.created", Severity::Info, "d", 4_000);
    s.log.record(vec![d]).await.unwrap();
    let top = s
        .log
        .list(&Filter::default(), &page(1))
        .await
        .unwrap()
        .items;
    assert_eq!(top[0].seq, seqs[0] + 1);
}

on_both_backends!(
    an_entry_is_stored_once_and_lists_newest_first_with_filters,
    a_stream_resumes_from_its_cursor_then_follows_live,
    two_replicas_appending_at_once_stream_every_entry_once_in_order,
    a_cursor_older_than_retention_cannot_resume,
    a_batch_with_redeliveries_stores_each_id_once_with_gapless_seqs,
);
