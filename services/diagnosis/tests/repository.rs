//! Diagnosis storage on MariaDB and on SQLite: diagnoses stored and read
//! back whole, replayed by request id, completed once after enrichment,
//! listed newest first with filters and pages; recommendations implemented
//! once (first writer wins); enriching diagnoses found for the sweep.

use cg_runtime::{
    ApiError,
    activity::{Activity, Severity as ActivitySeverity},
    db, new_id,
    page::PageRequest,
};
use cg_testkit::{Backend, TestDb, on_both_backends};
use diagnosis::{
    domain::{
        Action, Diagnosis, Enrichment, Evidence, Finding, Recommendation, Risk, Severity, Source,
        Status,
    },
    repo::{DiagnosisFilter, DiagnosisStore, Implementation, SqlDiagnoses},
};
use sqlx::Row as _;

const CLUSTER: &str = "0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6b";
const OTHER: &str = "0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6c";
const DROPLET_A: &str = "0190b6a8-7d2c-7f3e-8a4b-00000000000a";
const DROPLET_B: &str = "0190b6a8-7d2c-7f3e-8a4b-00000000000b";
const T0: i64 = 1_800_000_000_000;

struct Suite {
    store: SqlDiagnoses,
    pool: sqlx::AnyPool,
    _db: TestDb,
}

async fn suite(backend: Backend) -> Suite {
    let db = TestDb::new(backend).await;
    let migrated = db::connect(&db.config(), &db::with_runtime(&diagnosis::MIGRATOR))
        .await
        .expect("migrated");
    Suite {
        store: SqlDiagnoses::new(&migrated),
        pool: migrated.pool.clone(),
        _db: db,
    }
}

impl Suite {
    async fn outbox(&self) -> i64 {
        sqlx::query("SELECT COUNT(*) AS n FROM outbox")
            .fetch_one(&self.pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap()
    }
}

fn page(size: u32) -> PageRequest {
    PageRequest { size, after: None }
}

/// `n` fresh ids in creation (and sort) order.
fn ids(n: usize) -> Vec<String> {
    let mut ids: Vec<String> = (0..n).map(|_| new_id()).collect();
    ids.sort();
    ids
}

fn enrichment() -> Enrichment {
    Enrichment {
        used: true,
        model: "gpt-4o-mini".into(),
        explanation: "web-1 leaks memory; resizing buys time.".into(),
        source: Source::Llm,
        error: String::new(),
        ranked_finding_ids: vec!["f2".into(), "f1".into()],
        tool_calls: 2,
        prompt_version: "diagnosis-v1".into(),
    }
}

/// A completed whole-cluster diagnosis of `CLUSTER` with two findings and
/// two recommendations (a job and advice).
fn diagnosis(id: &str, created_at: i64) -> Diagnosis {
    Diagnosis {
        id: id.into(),
        cluster_id: CLUSTER.into(),
        droplet_id: String::new(),
        status: Status::Completed,
        summary: "1 critical finding: memory leak on web-1".into(),
        severity: Severity::Critical,
        findings: vec![
            Finding {
                id: "f1".into(),
                analyzer: "memory_leak".into(),
                severity: Severity::Critical,
                title: "Memory leak".into(),
                detail: "memory on web-1 has risen 12.5%/h".into(),
                droplet_id: DROPLET_A.into(),
                evidence: vec![Evidence {
                    metric: "memory_growth_percent_per_hour".into(),
                    value: 12.5,
                    threshold: 10.0,
                    unit: "%/h".into(),
                    window_ms: 600_000,
                    window_end_ms: created_at,
                    ..Evidence::default()
                }],
            },
            Finding {
                id: "f2".into(),
                analyzer: "failing_health_checks".into(),
                severity: Severity::Warning,
                title: "Failing health checks".into(),
                detail: "web-2 failed 4 probes".into(),
                droplet_id: DROPLET_B.into(),
                evidence: vec![Evidence {
                    metric: "health_check_failures".into(),
                    value: 4.0,
                    threshold: 3.0,
                    unit: "count".into(),
                    window_ms: 1_800_000,
                    window_end_ms: created_at,
                    health_check_ids: vec!["hc-1".into()],
                    activity_ids: vec!["act-1".into()],
                    ..Evidence::default()
                }],
            },
        ],
        recommendations: vec![
            Recommendation {
                id: "r1".into(),
                title: "Resize web-1 from s-1vcpu-2gb to s-2vcpu-4gb".into(),
                rationale: "more memory buys time".into(),
                finding_ids: vec!["f1".into()],
                action: Some(Action::Resize {
                    droplet_id: DROPLET_A.into(),
                    size: "s-2vcpu-4gb".into(),
                }),
                risk: Some(Risk::Medium),
                expected_effect: "memory 2 GB → 4 GB (+$12.00/mo)".into(),
                monthly_cost_delta_cents: 1_200,
                implemented_job_id: None,
            },
            Recommendation {
                id: "r2".into(),
                title: "Check the network path of web-2".into(),
                rationale: "no job can fix a lossy link".into(),
                finding_ids: vec!["f2".into()],
                action: None,
                risk: None,
                expected_effect: String::new(),
                monthly_cost_delta_cents: 0,
                implemented_job_id: None,
            },
        ],
        llm: Some(enrichment()),
        request_id: None,
        requested_by: "user:alice".into(),
        created_at,
        duration_ms: 42,
    }
}

fn entry(d: &Diagnosis) -> Activity {
    Activity::new(
        "diagnosis",
        "diagnosis.completed",
        ActivitySeverity::Warning,
        format!("diagnosis: {}", d.summary),
        d.created_at,
    )
    .cluster(&d.cluster_id)
    .diagnosis(&d.id)
}

async fn an_inserted_diagnosis_reads_back_whole(backend: Backend) {
    let s = suite(backend).await;
    let d = diagnosis(&new_id(), T0);
    assert_eq!(
        s.store.insert(&d, "fp-1", Some(&entry(&d))).await.unwrap(),
        d
    );
    assert_eq!(s.store.get(&d.id).await.unwrap(), d);
    assert_eq!(s.outbox().await, 1, "its activity entry is queued with it");

    // One narrowed to a droplet, without the LLM, round-trips too.
    let narrowed = Diagnosis {
        droplet_id: DROPLET_A.into(),
        severity: Severity::Info,
        findings: Vec::new(),
        recommendations: Vec::new(),
        llm: None,
        summary: "no findings: the cluster looks healthy".into(),
        ..diagnosis(&new_id(), T0 + 1)
    };
    assert_eq!(
        s.store.insert(&narrowed, "fp-2", None).await.unwrap(),
        narrowed
    );
    assert_eq!(s.store.get(&narrowed.id).await.unwrap(), narrowed);
    assert_eq!(s.outbox().await, 1, "no entry without activity");

    let err = s.store.get(&new_id()).await.unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err}");
    // The same id again, without a request id to replay, is a conflict.
    let err = s.store.insert(&d, "fp-1", None).await.unwrap_err();
    assert!(matches!(err, ApiError::AlreadyExists(_)), "{err}");
    assert_eq!(s.store.by_request("", "fp-1").await.unwrap(), None);
}

async fn the_same_request_id_and_fingerprint_replay_the_stored_diagnosis(backend: Backend) {
    let s = suite(backend).await;
    let first = Diagnosis {
        request_id: Some("req-1".into()),
        ..diagnosis(&new_id(), T0)
    };
    assert_eq!(
        s.store
            .insert(&first, "fp-1", Some(&entry(&first)))
            .await
            .unwrap(),
        first
    );
    // A retry computed a new diagnosis (new id, other findings): the
    // stored one answers, and the retry is not stored.
    let retry = Diagnosis {
        id: new_id(),
        summary: "something else".into(),
        findings: Vec::new(),
        created_at: T0 + 5,
        ..first.clone()
    };
    let replayed = s
        .store
        .insert(&retry, "fp-1", Some(&entry(&retry)))
        .await
        .unwrap();
    assert_eq!(replayed, first);
    assert!(matches!(
        s.store.get(&retry.id).await.unwrap_err(),
        ApiError::NotFound { .. }
    ));
    assert_eq!(s.outbox().await, 1, "only the stored one's entry is queued");
    assert_eq!(
        s.store.by_request("req-1", "fp-1").await.unwrap(),
        Some(first)
    );
    assert_eq!(s.store.by_request("req-2", "fp-1").await.unwrap(), None);
    let listed = s
        .store
        .list(&DiagnosisFilter::default(), &page(10))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
}

async fn the_same_request_id_with_another_fingerprint_is_a_mismatch(backend: Backend) {
    let s = suite(backend).await;
    let first = Diagnosis {
        request_id: Some("req-1".into()),
        ..diagnosis(&new_id(), T0)
    };
    s.store.insert(&first, "fp-1", None).await.unwrap();
    let other = Diagnosis {
        id: new_id(),
        cluster_id: OTHER.into(),
        ..first.clone()
    };
    let err = s.store.insert(&other, "fp-2", None).await.unwrap_err();
    assert!(
        matches!(&err, ApiError::IdempotencyMismatch(r) if r == "req-1"),
        "{err}"
    );
    let err = s.store.by_request("req-1", "fp-2").await.unwrap_err();
    assert!(
        matches!(&err, ApiError::IdempotencyMismatch(r) if r == "req-1"),
        "{err}"
    );
    assert!(s.store.get(&other.id).await.is_err(), "nothing was stored");
    assert_eq!(s.store.get(&first.id).await.unwrap(), first);
}

async fn complete_replaces_an_enriching_diagnosis_once(backend: Backend) {
    let s = suite(backend).await;
    let enriching = Diagnosis {
        status: Status::Enriching,
        llm: None,
        ..diagnosis(&new_id(), T0)
    };
    s.store.insert(&enriching, "fp", None).await.unwrap();
    assert_eq!(s.store.get(&enriching.id).await.unwrap(), enriching);

    let done = Diagnosis {
        status: Status::Completed,
        llm: Some(enrichment()),
        duration_ms: 1_500,
        ..enriching.clone()
    };
    assert!(s.store.complete(&done, Some(&entry(&done))).await.unwrap());
    assert_eq!(s.store.get(&done.id).await.unwrap(), done);
    assert_eq!(s.outbox().await, 1);

    // The sweep arriving late finds it completed and changes nothing.
    let late = Diagnosis {
        llm: Some(Enrichment::rules("interrupted")),
        duration_ms: 90_000,
        ..done.clone()
    };
    assert!(
        !s.store.complete(&late, Some(&entry(&late))).await.unwrap(),
        "no longer enriching"
    );
    assert_eq!(s.store.get(&done.id).await.unwrap(), done);
    assert_eq!(s.outbox().await, 1, "the loser's entry is not queued");

    // Completed from the start, or unknown: nothing to complete.
    let rules_only = diagnosis(&new_id(), T0 + 1);
    s.store.insert(&rules_only, "fp2", None).await.unwrap();
    assert!(!s.store.complete(&rules_only, None).await.unwrap());
    assert!(
        !s.store
            .complete(&diagnosis(&new_id(), T0 + 2), None)
            .await
            .unwrap()
    );
}

async fn lists_are_newest_first_filtered_and_paged(backend: Backend) {
    let s = suite(backend).await;
    let id = ids(5);
    let stored = [
        (CLUSTER, "", Severity::Info),
        (CLUSTER, DROPLET_A, Severity::Warning),
        (OTHER, "", Severity::Critical),
        (CLUSTER, DROPLET_B, Severity::Critical),
        (CLUSTER, DROPLET_A, Severity::Critical),
    ];
    for (n, (cluster, droplet, severity)) in stored.into_iter().enumerate() {
        let d = Diagnosis {
            cluster_id: cluster.into(),
            droplet_id: droplet.into(),
            severity,
            ..diagnosis(&id[n], T0 + n as i64 * 1_000)
        };
        s.store.insert(&d, &format!("fp-{n}"), None).await.unwrap();
    }
    let list = |filter: DiagnosisFilter, size: u32, after: Option<String>| {
        let store = &s.store;
        async move {
            let got = store
                .list(&filter, &PageRequest { size, after })
                .await
                .unwrap();
            (
                got.items.into_iter().map(|d| d.id).collect::<Vec<_>>(),
                got.next_after,
            )
        }
    };
    let of = |ns: &[usize]| ns.iter().map(|&n| id[n].clone()).collect::<Vec<_>>();

    let (all, next) = list(DiagnosisFilter::default(), 10, None).await;
    assert_eq!(all, of(&[4, 3, 2, 1, 0]));
    assert_eq!(next, None, "one page holds them all");

    let by_cluster = DiagnosisFilter {
        cluster_id: Some(CLUSTER.into()),
        ..Default::default()
    };
    assert_eq!(
        list(by_cluster.clone(), 10, None).await.0,
        of(&[4, 3, 1, 0])
    );
    let by_droplet = DiagnosisFilter {
        droplet_id: Some(DROPLET_A.into()),
        ..Default::default()
    };
    assert_eq!(list(by_droplet, 10, None).await.0, of(&[4, 1]));
    let at_least = |severity| DiagnosisFilter {
        min_severity: Some(severity),
        ..Default::default()
    };
    assert_eq!(
        list(at_least(Severity::Warning), 10, None).await.0,
        of(&[4, 3, 2, 1])
    );
    assert_eq!(
        list(at_least(Severity::Critical), 10, None).await.0,
        of(&[4, 3, 2])
    );
    assert_eq!(
        list(at_least(Severity::Info), 10, None).await.0,
        of(&[4, 3, 2, 1, 0])
    );
    let since = DiagnosisFilter {
        since_ms: Some(T0 + 2_000),
        ..Default::default()
    };
    assert_eq!(list(since, 10, None).await.0, of(&[4, 3, 2]));
    let combined = DiagnosisFilter {
        cluster_id: Some(CLUSTER.into()),
        min_severity: Some(Severity::Critical),
        since_ms: Some(T0 + 1_000),
        ..Default::default()
    };
    assert_eq!(list(combined, 10, None).await.0, of(&[4, 3]));
    let nowhere = DiagnosisFilter {
        cluster_id: Some(new_id()),
        ..Default::default()
    };
    assert_eq!(list(nowhere, 10, None).await, (Vec::new(), None));

    // Pages of two through the cluster's four.
    let (first, next) = list(by_cluster.clone(), 2, None).await;
    assert_eq!(first, of(&[4, 3]));
    assert_eq!(next, Some(id[3].clone()), "continues after the last one");
    let (second, next) = list(by_cluster.clone(), 2, next).await;
    assert_eq!(second, of(&[1, 0]));
    assert_eq!(next, None, "the last page");
    let (middle, next) = list(DiagnosisFilter::default(), 2, Some(id[3].clone())).await;
    assert_eq!(middle, of(&[2, 1]));
    assert_eq!(next, Some(id[1].clone()));
}

async fn a_recommendation_is_implemented_once_and_the_first_job_wins(backend: Backend) {
    let s = suite(backend).await;
    let id = ids(2);
    let d = Diagnosis {
        request_id: Some("req-d".into()),
        ..diagnosis(&id[0], T0)
    };
    let other = diagnosis(&id[1], T0 + 1);
    s.store.insert(&d, "fp-d", None).await.unwrap();
    s.store.insert(&other, "fp-o", None).await.unwrap();
    assert_eq!(s.store.implementation(&d.id, "r1").await.unwrap(), None);

    let first = Implementation {
        job_id: new_id(),
        request_id: Some("impl-1".into()),
    };
    let implemented = Activity::new(
        "diagnosis",
        "diagnosis.implemented",
        ActivitySeverity::Info,
        "implementing",
        T0 + 10,
    )
    .cluster(CLUSTER)
    .diagnosis(&d.id)
    .job(&first.job_id);
    assert_eq!(
        s.store
            .implement(&d.id, "r1", &first, T0 + 10, Some(&implemented))
            .await
            .unwrap(),
        first
    );
    // A concurrent or later writer with another job gets the first one.
    let second = Implementation {
        job_id: new_id(),
        request_id: None,
    };
    assert_eq!(
        s.store
            .implement(&d.id, "r1", &second, T0 + 20, Some(&implemented))
            .await
            .unwrap(),
        first,
        "first writer wins"
    );
    assert_eq!(s.outbox().await, 1, "only the winner's entry is queued");
    assert_eq!(
        s.store.implementation(&d.id, "r1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(s.store.implementation(&d.id, "r2").await.unwrap(), None);
    // The same recommendation of another diagnosis is another job.
    assert_eq!(
        s.store
            .implement(&other.id, "r1", &second, T0 + 30, None)
            .await
            .unwrap(),
        second
    );

    let jobs = |d: &Diagnosis| {
        d.recommendations
            .iter()
            .map(|r| (r.id.clone(), r.implemented_job_id.clone()))
            .collect::<Vec<_>>()
    };
    let expected = vec![
        ("r1".to_string(), Some(first.job_id.clone())),
        ("r2".to_string(), None),
    ];
    let read = s.store.get(&d.id).await.unwrap();
    assert_eq!(jobs(&read), expected);
    assert_eq!(
        read,
        Diagnosis {
            recommendations: read.recommendations.clone(),
            ..d.clone()
        },
        "nothing else changed"
    );
    assert_eq!(
        jobs(&s.store.by_request("req-d", "fp-d").await.unwrap().unwrap()),
        expected
    );
    let listed = s
        .store
        .list(&DiagnosisFilter::default(), &page(10))
        .await
        .unwrap();
    let listed: Vec<_> = listed
        .items
        .iter()
        .map(|x| (x.id.clone(), jobs(x)))
        .collect();
    assert_eq!(
        listed,
        vec![
            (
                other.id.clone(),
                vec![
                    ("r1".to_string(), Some(second.job_id.clone())),
                    ("r2".to_string(), None)
                ]
            ),
            (d.id.clone(), expected),
        ]
    );
}

async fn enriching_since_finds_only_enriching_diagnoses_written_before_the_bound(backend: Backend) {
    let s = suite(backend).await;
    let id = ids(4);
    let enriching = |n: usize, at: i64| Diagnosis {
        status: Status::Enriching,
        llm: None,
        ..diagnosis(&id[n], at)
    };
    let stale = enriching(0, T0);
    let fresh = enriching(1, T0 + 60_000);
    let completed = diagnosis(&id[2], T0);
    let finished = enriching(3, T0);
    for (n, d) in [&stale, &fresh, &completed, &finished]
        .into_iter()
        .enumerate()
    {
        s.store.insert(d, &format!("fp-{n}"), None).await.unwrap();
    }
    let done = Diagnosis {
        status: Status::Completed,
        llm: Some(enrichment()),
        duration_ms: 1_000,
        ..finished.clone()
    };
    assert!(s.store.complete(&done, None).await.unwrap());

    let found = |before: i64| {
        let store = &s.store;
        async move { store.enriching_since(before).await.unwrap() }
    };
    assert_eq!(found(T0 + 30_000).await, vec![stale.clone()]);
    assert_eq!(found(T0 + 60_001).await, vec![stale.clone(), fresh.clone()]);
    assert_eq!(
        found(T0).await,
        Vec::new(),
        "written at the bound is not before it"
    );
    assert!(
        found(T0 + 3_600_000)
            .await
            .iter()
            .all(|d| d.status == Status::Enriching)
    );
}

on_both_backends!(
    an_inserted_diagnosis_reads_back_whole,
    the_same_request_id_and_fingerprint_replay_the_stored_diagnosis,
    the_same_request_id_with_another_fingerprint_is_a_mismatch,
    complete_replaces_an_enriching_diagnosis_once,
    lists_are_newest_first_filtered_and_paged,
    a_recommendation_is_implemented_once_and_the_first_job_wins,
    enriching_since_finds_only_enriching_diagnoses_written_before_the_bound,
);
