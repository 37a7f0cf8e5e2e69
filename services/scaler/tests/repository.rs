//! The scaler's storage on MariaDB and on SQLite: policies (idempotent
//! creates, unique names, whole-row updates), cluster state written by
//! compare-and-set with its decision and activity entry in one transaction,
//! and decisions listed and tailed.

use cg_runtime::{activity::Activity, activity::Severity, db, page::PageRequest};
use cg_testkit::{Backend, TestDb, on_both_backends};
use scaler::{
    decision::Decision,
    hpa::{Action, Reason},
    policy::{Policy, PolicyName, PolicySpec, ScheduleSpec},
    repo::{ClusterState, DecisionFilter, ScalerStore, SqlScaler},
};
use sqlx::Row as _;

const CLUSTER: &str = "0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6b";
const OTHER: &str = "0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6c";
const T0: i64 = 1_800_000_000_000;

struct Suite {
    store: SqlScaler,
    pool: sqlx::AnyPool,
    _db: TestDb,
}

async fn suite(backend: Backend) -> Suite {
    let db = TestDb::new(backend).await;
    let migrated = db::connect(&db.config(), &db::with_runtime(&scaler::MIGRATOR))
        .await
        .expect("migrated");
    Suite {
        store: SqlScaler::new(&migrated),
        pool: migrated.pool.clone(),
        _db: db,
    }
}

fn policy(id: &str, cluster: &str, name: &str, request_id: Option<&str>) -> Policy {
    Policy {
        id: id.into(),
        cluster_id: cluster.into(),
        spec: PolicySpec {
            name: PolicyName::parse(name).unwrap(),
            metric: scaler::hpa::Metric::CpuPercent,
            target: 60.0,
            min: 2,
            max: 10,
            size: "s-1vcpu-1gb".into(),
            image: "ubuntu-24-04-x64".into(),
            up_window_ms: 0,
            down_window_ms: 300_000,
            schedules: vec![ScheduleSpec {
                cron: "0 8 * * 1-5".into(),
                time_zone: "Europe/Berlin".into(),
                duration_ms: 36_000_000,
                min: Some(4),
                max: None,
            }],
            enabled: true,
        },
        request_id: request_id.map(str::to_string),
        created_at: T0,
        updated_at: T0,
    }
}

fn page(size: u32) -> PageRequest {
    PageRequest { size, after: None }
}

fn id(n: u32) -> String {
    format!("0190b6a8-7d2c-7f3e-8a4b-{n:012}")
}

fn decision(n: u32, cluster: &str, policies: &[&str], action: Action) -> Decision {
    Decision {
        id: id(n),
        cluster_id: cluster.into(),
        policy_ids: policies.iter().map(|p| p.to_string()).collect(),
        current: 2,
        recommendations: Vec::new(),
        winner: policies.first().map(|p| p.to_string()),
        desired: 4,
        action,
        reasons: vec![Reason::ScaleUpRateLimited],
        explanation: format!("decision {n}"),
        job_id: Some(id(900 + n)),
        job: None,
        removed_droplet_ids: Vec::new(),
        dry_run: false,
        created_at: T0 + i64::from(n),
    }
}

async fn creates_replay_by_request_id_and_refuse_taken_names(backend: Backend) {
    let s = suite(backend).await;
    let p = policy(&id(1), CLUSTER, "cpu", Some("req-1"));
    assert_eq!(s.store.insert_policy(&p, "fp-1").await.unwrap(), p);
    let again = policy(&id(2), CLUSTER, "cpu", Some("req-1"));
    assert_eq!(
        s.store.insert_policy(&again, "fp-1").await.unwrap().id,
        p.id,
        "the same key and body replay the first answer"
    );
    let err = s
        .store
        .insert_policy(&policy(&id(3), CLUSTER, "cpu2", Some("req-1")), "fp-2")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("req-1"), "{err}");
    let err = s
        .store
        .insert_policy(&policy(&id(4), CLUSTER, "cpu", None), "fp-3")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cpu"), "{err}");
    // The same name in another cluster is fine.
    s.store
        .insert_policy(&policy(&id(5), OTHER, "cpu", None), "fp-4")
        .await
        .unwrap();
    assert_eq!(s.store.policy(&id(1)).await.unwrap(), p);
    let listed = s.store.policies(Some(CLUSTER), &page(10)).await.unwrap();
    assert_eq!(listed.items, vec![p]);
}

async fn updates_write_the_whole_policy_and_enabled_ones_are_found(backend: Backend) {
    let s = suite(backend).await;
    let mut p = policy(&id(1), CLUSTER, "cpu", None);
    s.store.insert_policy(&p, "fp").await.unwrap();
    let mut off = policy(&id(2), CLUSTER, "mem", None);
    off.spec.enabled = false;
    s.store.insert_policy(&off, "fp2").await.unwrap();
    assert_eq!(
        s.store.enabled_policies(CLUSTER).await.unwrap(),
        vec![p.clone()]
    );

    p.spec.target = 75.0;
    p.spec.schedules.clear();
    p.spec.enabled = false;
    p.updated_at = T0 + 5;
    let updated = s.store.update_policy(&p, T0).await.unwrap();
    assert_eq!(updated, Some(p.clone()));
    assert!(s.store.enabled_policies(CLUSTER).await.unwrap().is_empty());
    // A writer that read the policy before that update loses.
    let mut stale = p.clone();
    stale.spec.target = 10.0;
    stale.updated_at = T0 + 6;
    assert_eq!(s.store.update_policy(&stale, T0).await.unwrap(), None);
    assert_eq!(s.store.policy(&p.id).await.unwrap().spec.target, 75.0);

    p.spec.name = PolicyName::parse("mem").unwrap();
    p.updated_at = T0 + 7;
    let err = s.store.update_policy(&p, T0 + 5).await.unwrap_err();
    assert!(err.to_string().contains("mem"), "a taken name: {err}");

    s.store.delete_policy(&id(1)).await.unwrap();
    assert!(
        s.store
            .policy(&id(1))
            .await
            .unwrap_err()
            .to_string()
            .contains("not found")
    );
    assert!(s.store.delete_policy(&id(1)).await.is_err());
}

async fn cluster_state_is_written_by_compare_and_set_with_its_decision(backend: Backend) {
    let s = suite(backend).await;
    let fresh = s.store.cluster(CLUSTER).await.unwrap();
    assert_eq!((fresh.version, fresh.monthly_cost_cap_cents), (0, 0));

    let next = ClusterState {
        history: "{\"proposals\":[]}".into(),
        last_summary: Some("scale_up:2:4".into()),
        version: 1,
        updated_at: T0,
        ..fresh.clone()
    };
    let d1 = decision(1, CLUSTER, &["p1"], Action::ScaleUp);
    let entry =
        Activity::new("scaler", "scaler.scale_up", Severity::Info, "up", T0).cluster(CLUSTER);
    assert!(
        s.store
            .record(&next, Some(&d1), Some(&entry))
            .await
            .unwrap()
    );
    // A second writer that read version 0 loses, and writes nothing.
    let d2 = decision(2, CLUSTER, &["p1"], Action::ScaleUp);
    assert!(
        !s.store
            .record(&next, Some(&d2), Some(&entry))
            .await
            .unwrap()
    );
    assert!(s.store.decision(&d2.id).await.is_err());
    let outbox: i64 = sqlx::query("SELECT COUNT(*) AS n FROM outbox")
        .fetch_one(&s.pool)
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
    assert_eq!(outbox, 1, "only the winner's activity entry is queued");

    // The cap changes whatever the version; the next evaluation reads it.
    let capped = s.store.set_cost_cap(CLUSTER, 5_000, T0 + 1).await.unwrap();
    assert_eq!((capped.monthly_cost_cap_cents, capped.version), (5_000, 2));
    assert_eq!(capped.history, next.history);
    let stale = ClusterState {
        version: 2,
        ..next.clone()
    };
    assert!(
        !s.store.record(&stale, None, None).await.unwrap(),
        "written after the cap moved the version"
    );
    let on_top = ClusterState {
        version: 3,
        pending_decision_id: Some(d1.id.clone()),
        ..capped.clone()
    };
    assert!(s.store.record(&on_top, None, None).await.unwrap());
    assert_eq!(
        s.store.cluster(CLUSTER).await.unwrap().pending_decision_id,
        Some(d1.id.clone())
    );
    // Its job confirmed: the mark gives way to the job, and the decision
    // says which job it made.
    let confirmed = ClusterState {
        version: 4,
        last_job_id: Some(id(77)),
        pending_decision_id: None,
        ..on_top.clone()
    };
    let with_job = Decision {
        job_id: Some(id(77)),
        ..d1.clone()
    };
    assert!(s.store.attach_job(&confirmed, &with_job).await.unwrap());
    assert!(
        !s.store.attach_job(&confirmed, &with_job).await.unwrap(),
        "a second confirmation on the same version loses"
    );
    assert_eq!(s.store.decision(&d1.id).await.unwrap().job_id, Some(id(77)));
    let read = s.store.cluster(CLUSTER).await.unwrap();
    assert_eq!(read.pending_decision_id, None);
    assert_eq!(read.last_job_id, Some(id(77)));
    assert_eq!(read.monthly_cost_cap_cents, 5_000);
    // A cap set before any evaluation creates the row.
    let other = s.store.set_cost_cap(OTHER, 100, T0).await.unwrap();
    assert_eq!((other.version, other.monthly_cost_cap_cents), (1, 100));
}

async fn decisions_are_listed_newest_first_filtered_and_tailed(backend: Backend) {
    let s = suite(backend).await;
    let mut version = 0;
    for (n, cluster, policies, action) in [
        (1, CLUSTER, vec!["p1"], Action::ScaleUp),
        (2, OTHER, vec!["p9"], Action::ScaleUp),
        (3, CLUSTER, vec!["p1", "p2"], Action::None),
        (4, CLUSTER, vec!["p2"], Action::ScaleDown),
    ] {
        let state = s.store.cluster(cluster).await.unwrap();
        version += 1;
        let next = ClusterState {
            version: state.version + 1,
            updated_at: T0 + version,
            ..state
        };
        assert!(
            s.store
                .record(&next, Some(&decision(n, cluster, &policies, action)), None)
                .await
                .unwrap()
        );
    }
    let ids = |ds: Vec<Decision>| ds.into_iter().map(|d| d.id).collect::<Vec<_>>();
    let all = s
        .store
        .decisions(
            &DecisionFilter {
                cluster_id: Some(CLUSTER.into()),
                ..Default::default()
            },
            &page(2),
        )
        .await
        .unwrap();
    assert_eq!(ids(all.items), [id(4), id(3)]);
    assert!(all.next_after.is_some(), "a second page");
    let by_policy = s
        .store
        .decisions(
            &DecisionFilter {
                policy_id: Some("p1".into()),
                ..Default::default()
            },
            &page(10),
        )
        .await
        .unwrap();
    assert_eq!(ids(by_policy.items), [id(3), id(1)]);
    let downs = s
        .store
        .decisions(
            &DecisionFilter {
                action: Some(Action::ScaleDown.as_str().into()),
                ..Default::default()
            },
            &page(10),
        )
        .await
        .unwrap();
    assert_eq!(ids(downs.items), [id(4)]);
    let read = s.store.decision(&id(3)).await.unwrap();
    assert_eq!(read, decision(3, CLUSTER, &["p1", "p2"], Action::None));

    // The tail runs in commit order; a decision given its job comes again.
    let ids_of =
        |rows: Vec<(i64, Decision)>| rows.into_iter().map(|(_, d)| d.id).collect::<Vec<_>>();
    let first = s.store.decisions_after(Some(CLUSTER), 0, 10).await.unwrap();
    assert_eq!(ids_of(first.clone()), [id(1), id(3), id(4)]);
    let after_first = first[0].0;
    let tail = s
        .store
        .decisions_after(Some(CLUSTER), after_first, 10)
        .await
        .unwrap();
    assert_eq!(ids_of(tail), [id(3), id(4)]);
    let everyone = s.store.decisions_after(None, 0, 2).await.unwrap();
    assert_eq!(ids_of(everyone), [id(1), id(2)]);
    let last = s.store.last_seq().await.unwrap();
    assert_eq!(last, 4);
    let state = s.store.cluster(CLUSTER).await.unwrap();
    let with_job = Decision {
        job_id: Some(id(99)),
        ..decision(1, CLUSTER, &["p1"], Action::ScaleUp)
    };
    let next = ClusterState {
        version: state.version + 1,
        ..state
    };
    assert!(s.store.attach_job(&next, &with_job).await.unwrap());
    let again = s.store.decisions_after(None, last, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].0, again[0].1.job_id.clone()), (5, Some(id(99))));
}

on_both_backends!(
    creates_replay_by_request_id_and_refuse_taken_names,
    updates_write_the_whole_policy_and_enabled_ones_are_found,
    cluster_state_is_written_by_compare_and_set_with_its_decision,
    decisions_are_listed_newest_first_filtered_and_tailed,
);
