//! Alert rules on MariaDB and on SQLite: pending → firing → resolved as
//! samples arrive (times passed in), at most one open alert per rule and
//! droplet, and the activity entries firing and resolving make.

use std::collections::HashMap;

use cg_runtime::{
    activity::Severity,
    db,
    page::PageRequest,
    types::{Id, RequestId},
};
use cg_testkit::{Backend, TestDb, on_both_backends};
use clustergenie_proto::events::v1 as ev;
use monitoring::{
    alerts::{AlertFilter, Alerts, Comparison, NewRule, Rule, RuleName, State},
    domain::{Metric, Sample},
    repo::{AlertStore, SqlAlerts},
};
use prost::Message as _;
use sqlx::Row as _;
use tokio_util::sync::CancellationToken;

const CLUSTER: &str = "0190b6a8-7d2c-7f3e-8a4b-1c2d3e4f5a6b";
const D1: &str = "0190b6a8-7d2c-7f3e-8a4b-000000000001";
const D2: &str = "0190b6a8-7d2c-7f3e-8a4b-000000000002";
const T0: i64 = 1_800_000_000_000;

struct Suite {
    alerts: Alerts<SqlAlerts>,
    pool: sqlx::AnyPool,
    _db: TestDb,
}

async fn suite(backend: Backend) -> Suite {
    let db = TestDb::new(backend).await;
    let migrated = db::connect(&db.config(), &db::with_runtime(&monitoring::MIGRATOR))
        .await
        .expect("migrated");
    Suite {
        alerts: Alerts::new(SqlAlerts::new(&migrated), CancellationToken::new()),
        pool: migrated.pool.clone(),
        _db: db,
    }
}

fn new_rule(name: &str, for_ms: i64, request_id: Option<&str>) -> NewRule {
    NewRule {
        cluster_id: Id::parse(CLUSTER).unwrap(),
        name: RuleName::parse(name).unwrap(),
        metric: Metric::Cpu,
        comparison: Comparison::Above,
        threshold: 90.0,
        for_ms,
        severity: Severity::Error,
        request_id: request_id.map(|r| RequestId::parse(r).unwrap().unwrap()),
    }
}

fn cpu(droplet: &str, t: i64, value: f64) -> Sample {
    Sample {
        cluster_id: CLUSTER.into(),
        droplet_id: droplet.into(),
        time_ms: t,
        values: [value, 10.0, 10.0, 1.0, 1.0, 0.1],
    }
}

fn rules_of(rules: &[Rule]) -> HashMap<String, Vec<Rule>> {
    HashMap::from([(CLUSTER.to_string(), rules.to_vec())])
}

async fn states(s: &Suite) -> Vec<(String, State)> {
    let page = PageRequest {
        size: 50,
        after: None,
    };
    let mut all: Vec<(String, State)> = s
        .alerts
        .alerts(&AlertFilter::default(), &page)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|a| (a.droplet_id, a.state))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

async fn logged(s: &Suite) -> Vec<(String, i32)> {
    sqlx::query("SELECT payload FROM outbox WHERE topic = 'cg.activity' ORDER BY id")
        .fetch_all(&s.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let a = ev::Activity::decode(r.get::<Vec<u8>, _>("payload").as_slice()).unwrap();
            (a.kind, a.severity)
        })
        .collect()
}

async fn an_alert_is_pending_then_fires_after_its_duration_then_resolves(backend: Backend) {
    let s = suite(backend).await;
    let rule = s
        .alerts
        .create(new_rule("hot", 30_000, None), T0)
        .await
        .unwrap();
    let rules = rules_of(std::slice::from_ref(&rule));
    s.alerts
        .evaluate(&rules, &[cpu(D1, T0, 95.0), cpu(D2, T0, 20.0)])
        .await
        .unwrap();
    assert_eq!(states(&s).await, [(D1.to_string(), State::Pending)]);
    s.alerts
        .evaluate(&rules, &[cpu(D1, T0 + 10_000, 96.0)])
        .await
        .unwrap();
    assert_eq!(states(&s).await, [(D1.to_string(), State::Pending)]);
    s.alerts
        .evaluate(&rules, &[cpu(D1, T0 + 30_000, 97.0)])
        .await
        .unwrap();
    assert_eq!(states(&s).await, [(D1.to_string(), State::Firing)]);
    // A redelivered older sample moves nothing.
    s.alerts
        .evaluate(&rules, &[cpu(D1, T0 + 10_000, 10.0)])
        .await
        .unwrap();
    assert_eq!(states(&s).await, [(D1.to_string(), State::Firing)]);
    let firing = s
        .alerts
        .alerts(
            &AlertFilter {
                state: Some(State::Firing),
                ..AlertFilter::default()
            },
            &PageRequest {
                size: 5,
                after: None,
            },
        )
        .await
        .unwrap()
        .items;
    assert_eq!(firing.len(), 1);
    assert_eq!(
        (firing[0].started_ms, firing[0].fired_ms),
        (T0, Some(T0 + 30_000))
    );
    assert_eq!(firing[0].value, 97.0);
    s.alerts
        .evaluate(&rules, &[cpu(D1, T0 + 40_000, 30.0)])
        .await
        .unwrap();
    assert_eq!(states(&s).await, [(D1.to_string(), State::Resolved)]);
    assert_eq!(
        logged(&s).await,
        [
            ("alert.fired".to_string(), 3),
            ("alert.resolved".to_string(), 1)
        ]
    );
    // Breaking again opens a new alert; the resolved one stays as history.
    s.alerts
        .evaluate(&rules, &[cpu(D1, T0 + 50_000, 99.0)])
        .await
        .unwrap();
    let page = PageRequest {
        size: 50,
        after: None,
    };
    let all = s
        .alerts
        .alerts(&AlertFilter::default(), &page)
        .await
        .unwrap()
        .items;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].state, State::Pending, "newest first");
}

async fn a_pending_alert_that_recovers_is_dropped_without_an_entry(backend: Backend) {
    let s = suite(backend).await;
    let rule = s
        .alerts
        .create(new_rule("hot", 60_000, None), T0)
        .await
        .unwrap();
    let rules = rules_of(&[rule]);
    s.alerts
        .evaluate(&rules, &[cpu(D1, T0, 95.0)])
        .await
        .unwrap();
    s.alerts
        .evaluate(&rules, &[cpu(D1, T0 + 10_000, 50.0)])
        .await
        .unwrap();
    assert!(states(&s).await.is_empty());
    assert!(logged(&s).await.is_empty());
}

async fn one_open_alert_per_rule_and_droplet_whoever_evaluates(backend: Backend) {
    let s = suite(backend).await;
    let rule = s.alerts.create(new_rule("now", 0, None), T0).await.unwrap();
    // Two evaluations racing on the same sample (two replicas in a
    // rebalance): both see no open alert and both try to open one.
    let store = s.alerts.store();
    let step = monitoring::alerts::Step::Open(State::Firing);
    store
        .apply(&rule, None, D1, step.clone(), 95.0, T0)
        .await
        .unwrap();
    store.apply(&rule, None, D1, step, 95.0, T0).await.unwrap();
    assert_eq!(states(&s).await, [(D1.to_string(), State::Firing)]);
    assert_eq!(logged(&s).await.len(), 1, "fired once");
}

async fn rules_are_idempotent_by_request_id_unique_by_name_and_deleting_resolves(backend: Backend) {
    let s = suite(backend).await;
    let a = s
        .alerts
        .create(new_rule("hot", 0, Some("k1")), T0)
        .await
        .unwrap();
    let again = s
        .alerts
        .create(new_rule("hot", 0, Some("k1")), T0 + 5)
        .await
        .unwrap();
    assert_eq!(a.id, again.id);
    let err = s
        .alerts
        .create(new_rule("hot2", 5_000, Some("k1")), T0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, cg_runtime::ApiError::IdempotencyMismatch(_)),
        "{err}"
    );
    let err = s
        .alerts
        .create(new_rule("hot", 5_000, None), T0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, cg_runtime::ApiError::AlreadyExists(_)),
        "{err}"
    );
    s.alerts
        .evaluate(&rules_of(std::slice::from_ref(&a)), &[cpu(D1, T0, 99.0)])
        .await
        .unwrap();
    let id = Id::parse(&a.id).unwrap();
    assert_eq!(s.alerts.get(&id).await.unwrap().threshold, 90.0);
    s.alerts.delete(&id, T0 + 1).await.unwrap();
    assert_eq!(states(&s).await, [(D1.to_string(), State::Resolved)]);
    assert!(matches!(
        s.alerts.get(&id).await.unwrap_err(),
        cg_runtime::ApiError::NotFound { .. }
    ));
    let listed = s
        .alerts
        .list(
            Some(CLUSTER),
            &PageRequest {
                size: 5,
                after: None,
            },
        )
        .await
        .unwrap();
    assert!(listed.items.is_empty());
}

on_both_backends!(
    an_alert_is_pending_then_fires_after_its_duration_then_resolves,
    a_pending_alert_that_recovers_is_dropped_without_an_entry,
    one_open_alert_per_rule_and_droplet_whoever_evaluates,
    rules_are_idempotent_by_request_id_unique_by_name_and_deleting_resolves,
);
