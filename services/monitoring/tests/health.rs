//! Health checks on MariaDB and on SQLite: create (validated, idempotent),
//! rounds claimed once, verdicts moved by thresholds from what monitoring
//! knows of each droplet, and every result announced in the same
//! transaction with the cluster's health.

use cg_runtime::{
    db,
    page::PageRequest,
    types::{Id, RequestId},
};
use cg_testkit::{Backend, TestDb, on_both_backends};
use clustergenie_proto::{events::v1 as ev, provisioning::v1 as ppb};
use monitoring::{
    domain::{DropletStatus, Sample},
    health::{
        CheckName, CheckUpdate, HealthChecks, Kind, NewCheck, ResultFilter, State, Threshold,
    },
    repo::{HealthStore, MetricStore, SqlHealth, SqlMetrics},
};
use prost::Message as _;
use sqlx::Row as _;
use tokio_util::sync::CancellationToken;

const CLUSTER: &str = "0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6b";
const D1: &str = "0190b6a8-7d2c-7f3e-8a4b-000000000001";
const D2: &str = "0190b6a8-7d2c-7f3e-8a4b-000000000002";
const T0: i64 = 1_800_000_000_000;

struct Suite {
    checks: HealthChecks<SqlHealth>,
    metrics: SqlMetrics,
    pool: sqlx::AnyPool,
    _db: TestDb,
}

async fn suite(backend: Backend) -> Suite {
    let db = TestDb::new(backend).await;
    let migrated = db::connect(&db.config(), &db::with_runtime(&monitoring::MIGRATOR))
        .await
        .expect("migrated");
    Suite {
        checks: HealthChecks::new(SqlHealth::new(&migrated), CancellationToken::new()),
        metrics: SqlMetrics::new(&migrated),
        pool: migrated.pool.clone(),
        _db: db,
    }
}

fn new_check(name: &str, kind: Kind, request_id: Option<&str>) -> NewCheck {
    NewCheck {
        cluster_id: Id::parse(CLUSTER).unwrap(),
        name: CheckName::parse(name).unwrap(),
        kind,
        port: 0,
        path: String::new(),
        interval_ms: 10_000,
        timeout_ms: 2_000,
        unhealthy_threshold: Threshold::parse(3, 3).unwrap(),
        healthy_threshold: Threshold::parse(2, 2).unwrap(),
        request_id: request_id.map(|r| RequestId::parse(r).unwrap().unwrap()),
    }
}

/// Two active droplets reporting `cpu` just before `now`.
async fn fleet(s: &Suite, cpu1: f64, cpu2: f64, now: i64) {
    for d in [D1, D2] {
        s.metrics
            .record_droplet(d, CLUSTER, DropletStatus::Active, T0)
            .await
            .unwrap();
    }
    let sample = |d: &str, cpu| Sample {
        cluster_id: CLUSTER.into(),
        droplet_id: d.into(),
        time_ms: now - 5_000,
        values: [cpu, 40.0, 30.0, 1.0, 1.0, 0.2],
    };
    s.metrics
        .insert(&[sample(D1, cpu1), sample(D2, cpu2)])
        .await
        .unwrap();
}

/// The health results and activity entries waiting in the outbox.
async fn announced(s: &Suite) -> (Vec<ev::HealthResult>, Vec<ev::Activity>) {
    let rows = sqlx::query("SELECT topic, payload FROM outbox ORDER BY id")
        .fetch_all(&s.pool)
        .await
        .unwrap();
    let mut results = Vec::new();
    let mut activity = Vec::new();
    for r in rows {
        let payload: Vec<u8> = r.get("payload");
        match r.get::<String, _>("topic").as_str() {
            "cg.health.results" => {
                results.push(ev::HealthResult::decode(payload.as_slice()).unwrap())
            }
            "cg.activity" => activity.push(ev::Activity::decode(payload.as_slice()).unwrap()),
            other => panic!("unexpected topic {other}"),
        }
    }
    (results, activity)
}

async fn creates_fill_defaults_replay_by_request_id_and_refuse_taken_names(backend: Backend) {
    let s = suite(backend).await;
    let http = s
        .checks
        .create(new_check("web", Kind::Http, Some("req-1")), T0)
        .await
        .unwrap();
    assert_eq!(
        (http.port, http.path.as_str(), http.enabled),
        (80, "/", true)
    );
    let again = s
        .checks
        .create(new_check("web", Kind::Http, Some("req-1")), T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        again.id, http.id,
        "the same key and body replay the first answer"
    );
    let mut other_body = new_check("web2", Kind::Http, Some("req-1"));
    other_body.port = 8080;
    let err = s.checks.create(other_body, T0).await.unwrap_err();
    assert!(err.to_string().contains("request_id"), "{err}");
    let err = s
        .checks
        .create(new_check("web", Kind::Tcp, None), T0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, cg_runtime::ApiError::AlreadyExists(_)),
        "{err}"
    );
    let tcp = s
        .checks
        .create(new_check("ssh", Kind::Tcp, None), T0)
        .await
        .unwrap();
    assert_eq!(tcp.port, 22);
    let mut path_on_tcp = new_check("bad", Kind::Tcp, None);
    path_on_tcp.path = "/x".into();
    assert!(s.checks.create(path_on_tcp, T0).await.is_err());
    let mut slow = new_check("slow", Kind::Ping, None);
    slow.timeout_ms = 10_000;
    assert!(
        s.checks.create(slow, T0).await.is_err(),
        "timeout as long as the interval"
    );
    let page = PageRequest {
        size: 1,
        after: None,
    };
    let first = s.checks.list(Some(CLUSTER), None, &page).await.unwrap();
    assert_eq!(first.items.len(), 1);
    assert!(first.next_after.is_some());
    let only_tcp = s
        .checks
        .list(
            None,
            Some(Kind::Tcp),
            &PageRequest {
                size: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(only_tcp.items.len(), 1);
    assert_eq!(only_tcp.items[0].0.name, "ssh");
}

async fn a_cpu_spike_turns_an_http_check_unhealthy_after_its_threshold(backend: Backend) {
    let s = suite(backend).await;
    let check = s
        .checks
        .create(new_check("web", Kind::Http, None), T0)
        .await
        .unwrap();
    let mut now = T0;
    fleet(&s, 20.0, 20.0, now).await;
    assert_eq!(s.checks.run_due(now).await.unwrap(), 2);
    // The round is claimed: running it again (another replica) does nothing.
    assert_eq!(s.checks.run_due(now).await.unwrap(), 0);
    let (_, verdicts) = s.checks.get(&Id::parse(&check.id).unwrap()).await.unwrap();
    assert!(
        verdicts.iter().all(|v| v.state == State::Healthy),
        "{verdicts:?}"
    );
    // D1 spikes.
    s.checks
        .record_fault(&ev::DropletEvent {
            kind: ev::DropletEventKind::FaultStarted as i32,
            fault: Some(ppb::Fault {
                id: "0190b6a8-7d2c-7f3e-8a4b-0000000000f1".into(),
                droplet_id: D1.into(),
                cluster_id: CLUSTER.into(),
                kind: ppb::FaultKind::CpuSpike as i32,
                start_time: Some(cg_runtime::time::timestamp(T0)),
                end_time: Some(cg_runtime::time::timestamp(T0 + 3_600_000)),
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    for round in 1..=3 {
        now += 10_000;
        fleet(&s, 97.0, 20.0, now).await;
        assert_eq!(s.checks.run_due(now).await.unwrap(), 2, "round {round}");
        let (_, v) = s.checks.get(&Id::parse(&check.id).unwrap()).await.unwrap();
        let d1 = v.iter().find(|v| v.droplet_id == D1).unwrap();
        let expected = if round < 3 {
            State::Healthy
        } else {
            State::Unhealthy
        };
        assert_eq!(d1.state, expected, "round {round}");
        assert_eq!(d1.consecutive_failures, round);
    }
    assert_eq!(
        s.checks.store().unhealthy_droplets(CLUSTER).await.unwrap(),
        1
    );
    let failures = s
        .checks
        .results(
            &ResultFilter {
                droplet_id: Some(D1.into()),
                unhealthy_only: true,
                ..ResultFilter::default()
            },
            &PageRequest {
                size: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(failures.items.len(), 3);
    assert!(
        failures.items[0].message.contains("503"),
        "{}",
        failures.items[0].message
    );
    let (results, activity) = announced(&s).await;
    assert_eq!(results.len(), 8, "every result announced");
    let last = results.last().unwrap();
    assert_eq!(
        last.cluster_health,
        ppb::ClusterHealth::Degraded as i32,
        "one of two droplets failing"
    );
    let turned: Vec<(&str, &str)> = activity
        .iter()
        .map(|a| (a.kind.as_str(), a.droplet_id.as_str()))
        .collect();
    assert_eq!(turned, [("health.unhealthy", D1)]);
    // The spike ends; two passing rounds bring it back.
    s.checks
        .record_fault(&ev::DropletEvent {
            kind: ev::DropletEventKind::FaultEnded as i32,
            fault: Some(ppb::Fault {
                id: "0190b6a8-7d2c-7f3e-8a4b-0000000000f1".into(),
                droplet_id: D1.into(),
                kind: ppb::FaultKind::CpuSpike as i32,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    for _ in 0..2 {
        now += 40_000;
        fleet(&s, 20.0, 20.0, now).await;
        s.checks.run_due(now).await.unwrap();
    }
    let (results, activity) = announced(&s).await;
    assert_eq!(
        results.last().unwrap().cluster_health,
        ppb::ClusterHealth::Healthy as i32
    );
    assert_eq!(activity.last().unwrap().kind, "health.healthy");
}

async fn a_disabled_check_forgets_its_verdicts_and_a_deleted_one_is_gone(backend: Backend) {
    let s = suite(backend).await;
    let check = s
        .checks
        .create(new_check("ping", Kind::Ping, None), T0)
        .await
        .unwrap();
    let id = Id::parse(&check.id).unwrap();
    fleet(&s, 10.0, 10.0, T0).await;
    s.checks.run_due(T0).await.unwrap();
    assert_eq!(s.checks.get(&id).await.unwrap().1.len(), 2);
    let off = CheckUpdate {
        enabled: Some(false),
        ..CheckUpdate::default()
    };
    let updated = s.checks.update(&id, &off, T0 + 1).await.unwrap();
    assert!(!updated.enabled);
    assert!(s.checks.get(&id).await.unwrap().1.is_empty());
    assert_eq!(
        s.checks.run_due(T0 + 60_000).await.unwrap(),
        0,
        "disabled checks do not run"
    );
    let slower = CheckUpdate {
        interval_ms: Some(60_000),
        timeout_ms: Some(30_000),
        ..CheckUpdate::default()
    };
    let updated = s.checks.update(&id, &slower, T0 + 2).await.unwrap();
    assert_eq!((updated.interval_ms, updated.timeout_ms), (60_000, 30_000));
    s.checks.delete(&id).await.unwrap();
    assert!(matches!(
        s.checks.get(&id).await.unwrap_err(),
        cg_runtime::ApiError::NotFound { .. }
    ));
    assert!(matches!(
        s.checks.delete(&id).await.unwrap_err(),
        cg_runtime::ApiError::NotFound { .. }
    ));
    // Its results stay until retention.
    let kept = s
        .checks
        .results(
            &ResultFilter {
                check_id: Some(check.id.clone()),
                ..ResultFilter::default()
            },
            &PageRequest {
                size: 10,
                after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(kept.items.len(), 2);
    assert_eq!(s.checks.store().trim_results(T0 + 1).await.unwrap(), 2);
}

async fn a_droplet_that_goes_away_leaves_the_cluster_verdict(backend: Backend) {
    let s = suite(backend).await;
    s.checks
        .create(new_check("ping", Kind::Ping, None), T0)
        .await
        .unwrap();
    fleet(&s, 10.0, 10.0, T0).await;
    s.checks.run_due(T0).await.unwrap();
    s.metrics
        .record_droplet(D2, CLUSTER, DropletStatus::Archive, T0 + 1)
        .await
        .unwrap();
    s.checks.run_due(T0 + 10_000).await.unwrap();
    let check = s
        .checks
        .list(
            Some(CLUSTER),
            None,
            &PageRequest {
                size: 5,
                after: None,
            },
        )
        .await
        .unwrap();
    let droplets: Vec<&str> = check.items[0]
        .1
        .iter()
        .map(|v| v.droplet_id.as_str())
        .collect();
    assert_eq!(droplets, [D1]);
    let (results, _) = announced(&s).await;
    assert_eq!(results.len(), 3, "two droplets, then one");
    assert_eq!(results[2].droplet_id, D1);
    assert_eq!(
        results[2].cluster_health,
        ppb::ClusterHealth::Healthy as i32
    );
}

on_both_backends!(
    creates_fill_defaults_replay_by_request_id_and_refuse_taken_names,
    a_cpu_spike_turns_an_http_check_unhealthy_after_its_threshold,
    a_disabled_check_forgets_its_verdicts_and_a_deleted_one_is_gone,
    a_droplet_that_goes_away_leaves_the_cluster_verdict,
);
