//! The scaler over the real chain, on MariaDB and a tansu broker:
//! provisioning's fleet samples reach two scaler replicas (one consumer
//! group), a CPU spike on a 2-droplet cluster becomes a scale-up decision
//! and a SCALE_CLUSTER job that the executor runs, and once the spike is
//! cleared and the (short) down window has passed, a scale-down removes the
//! droplets the decision chose. Every step shows on `WatchDecisions`; no
//! second job starts while one runs; each change is one job.

use std::time::Duration;

use cg_runtime::{kafka::KafkaConfig, topic::topics};
use cg_testkit::{Backend, Broker, Storage, TestDb, config_for, eventually, provisioning::Clients};
use clustergenie_proto::{
    jobs::v1 as jpb, monitoring::v1 as mpb, provisioning::v1 as ppb, scaler::v1 as spb,
};
use futures::StreamExt as _;
use jobs::JobsService;
use provisioning::ProvisioningService;
use scaler::ScalerService;

const TICK: Duration = Duration::from_millis(500);
const WAIT: Duration = Duration::from_secs(60);

type Scaler = spb::scaler_service_client::ScalerServiceClient<tonic::transport::Channel>;
type Decisions = tonic::Streaming<spb::WatchDecisionsResponse>;

fn secs(s: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: s,
        nanos: 0,
    }
}

/// The next decision on the watch that `keep` accepts.
async fn next_decision(
    watch: &mut Decisions,
    what: &str,
    keep: impl Fn(&spb::Decision) -> bool,
) -> spb::Decision {
    tokio::time::timeout(WAIT, async {
        loop {
            let d = watch
                .next()
                .await
                .expect("the watch stays open")
                .expect("a decision")
                .decision
                .unwrap();
            if keep(&d) {
                return d;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no decision: {what}"))
}

/// The job `decision` made, once its record names it.
async fn decision_job(scaler: &Scaler, decision: &spb::Decision) -> String {
    eventually(WAIT, &format!("decision {}'s job", decision.id), || {
        let mut scaler = scaler.clone();
        let (cluster, id, action) = (
            decision.cluster_id.clone(),
            decision.id.clone(),
            decision.action,
        );
        async move {
            let listed = scaler
                .list_decisions(spb::ListDecisionsRequest {
                    cluster_id: cluster,
                    action,
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?
                .into_inner();
            match listed.decisions.iter().find(|d| d.id == id) {
                Some(d) if !d.job_id.is_empty() => Ok(d.job_id.clone()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await
}

async fn scaler_jobs(
    jobs: &mut jpb::job_service_client::JobServiceClient<tonic::transport::Channel>,
    cluster: &str,
) -> Vec<jpb::Job> {
    jobs.list_jobs(jpb::ListJobsRequest {
        cluster_id: cluster.into(),
        page_size: 100,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .jobs
    .into_iter()
    .filter(|j| j.source == jpb::JobSource::Scaler as i32)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_spike_scales_up_through_a_job_and_the_calm_after_it_scales_down() {
    cg_runtime::telemetry::init_for_tests();
    let broker = Broker::start(Storage::Memory);
    let kafka = KafkaConfig {
        partitions: 2,
        ..broker.kafka()
    };
    let (prov_db, jobs_db, scaler_db) = (
        TestDb::new(Backend::MySql).await,
        TestDb::new(Backend::MySql).await,
        TestDb::new(Backend::MySql).await,
    );
    let mut prov_config = config_for::<ProvisioningService>(Some(&prov_db), Some(&broker));
    prov_config.common.kafka = Some(kafka.clone());
    prov_config.cloud = e2e::fast_cloud();
    prov_config.fleet.sample_interval = TICK;
    let prov = cg_testkit::start::<ProvisioningService>(&prov_config).await;
    let mut jobs_config = config_for::<JobsService>(Some(&jobs_db), Some(&broker));
    jobs_config.common.kafka = Some(kafka.clone());
    let jobs_server = cg_testkit::start::<JobsService>(&jobs_config).await;
    // Two replicas over one database and one consumer group.
    let mut scaler_config = config_for::<ScalerService>(Some(&scaler_db), Some(&broker));
    scaler_config.common.kafka = Some(kafka.clone());
    scaler_config.provisioning_url = prov.endpoint();
    scaler_config.jobs_url = jobs_server.endpoint();
    scaler_config.sample_window = Duration::from_secs(5);
    let scaler_a = cg_testkit::start::<ScalerService>(&scaler_config).await;
    let scaler_b = cg_testkit::start::<ScalerService>(&scaler_config).await;

    let mut c = Clients::connect(prov.endpoint()).await;
    let mut faults = ppb::fault_service_client::FaultServiceClient::new(
        cg_testkit::channel(&prov.endpoint()).await,
    );
    let mut jobs = jpb::job_service_client::JobServiceClient::new(
        cg_testkit::channel(&jobs_server.endpoint()).await,
    );
    let mut scaler = Scaler::new(cg_testkit::channel(&scaler_a.endpoint()).await);
    let mut other = Scaler::new(cg_testkit::channel(&scaler_b.endpoint()).await);

    // Big droplets: the cluster's demand (at most 2.2 vCPUs) keeps them far
    // below a spike, and below the target, at any hour.
    let cluster = c.cluster("shop", "nyc1").await;
    let big = |name: &str| ppb::CreateDropletRequest {
        size: "s-4vcpu-8gb".into(),
        ..Clients::droplet_request(&cluster.id, name)
    };
    let mut first = Vec::new();
    for name in ["web-1", "web-2"] {
        let d = c
            .droplets
            .create_droplet(big(name))
            .await
            .expect("a droplet")
            .into_inner()
            .droplet
            .unwrap();
        c.wait_droplet(&d.id, ppb::DropletStatus::Active).await;
        first.push(d.id);
    }

    let policy = scaler
        .create_policy(spb::CreatePolicyRequest {
            cluster_id: cluster.id.clone(),
            name: "cpu".into(),
            metric: mpb::MetricKind::CpuPercent as i32,
            target_value: 60.0,
            min_droplets: 2,
            max_droplets: 6,
            size: "s-4vcpu-8gb".into(),
            image: "ubuntu-24-04-x64".into(),
            scale_down_stabilization: Some(secs(5)),
            enabled: true,
            request_id: "policy-1".into(),
            ..Default::default()
        })
        .await
        .expect("a policy")
        .into_inner()
        .policy
        .unwrap();
    assert_eq!(policy.scale_up_stabilization, Some(secs(0)));

    // A dry run explains without acting.
    let dry = eventually(WAIT, "a dry run over fresh samples", || {
        let (mut scaler, id) = (scaler.clone(), cluster.id.clone());
        async move {
            let d = scaler
                .evaluate_now(spb::EvaluateNowRequest {
                    cluster_id: id,
                    dry_run: true,
                })
                .await
                .map_err(|e| e.to_string())?
                .into_inner()
                .decision
                .unwrap();
            if d.recommendations.iter().all(|r| !r.metrics_missing) {
                Ok(d)
            } else {
                Err(d.explanation)
            }
        }
    })
    .await;
    assert!(dry.dry_run && dry.id.is_empty() && dry.job_id.is_empty());
    assert!(dry.reasons.contains(&(spb::DecisionReason::DryRun as i32)));
    assert_eq!(dry.current_droplets, 2);
    assert!(dry.explanation.contains("cpu"), "{}", dry.explanation);

    let mut watch = scaler
        .watch_decisions(spb::WatchDecisionsRequest {
            cluster_id: cluster.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    // The spike: both droplets near 100 % → ceil(2 × ~95 / 60) = 4.
    let mut injected = Vec::new();
    for d in &first {
        injected.push(
            faults
                .inject_fault(ppb::InjectFaultRequest {
                    droplet_id: d.clone(),
                    kind: ppb::FaultKind::CpuSpike as i32,
                    duration: Some(secs(600)),
                    request_id: String::new(),
                })
                .await
                .expect("a cpu spike")
                .into_inner()
                .fault
                .unwrap()
                .id,
        );
    }
    let up = next_decision(&mut watch, "a scale-up", |d| {
        d.action == spb::ScaleAction::ScaleUp as i32
    })
    .await;
    assert_eq!((up.current_droplets, up.desired_droplets), (2, 4), "{up:?}");
    assert_eq!(up.winning_policy_id, policy.id);
    assert!(up.explanation.contains("ceil(2×"), "{}", up.explanation);
    // The job id reaches the record once the job exists.
    let up_job = decision_job(&scaler, &up).await;
    let (job, statuses) = e2e::follow_job(&jobs, &up_job, WAIT).await;
    assert_eq!(
        statuses.last(),
        Some(&(jpb::JobStatus::Succeeded as i32)),
        "WatchJob showed it to the end: {statuses:?}"
    );
    assert_eq!(job.origin_id, up.id);
    assert_eq!(job.result.as_ref().unwrap().created_droplet_ids.len(), 2);
    assert_eq!(
        scaler_jobs(&mut jobs, &cluster.id).await.len(),
        1,
        "no second job while the first ran"
    );

    // Calm again: the load per droplet falls; after the 5 s window the
    // cluster goes back to its min, removing the droplets chosen.
    for id in injected {
        faults
            .clear_fault(ppb::ClearFaultRequest { id })
            .await
            .expect("the spike cleared");
    }
    let down = next_decision(&mut watch, "a scale-down", |d| {
        d.action == spb::ScaleAction::ScaleDown as i32
    })
    .await;
    assert_eq!(
        (down.current_droplets, down.desired_droplets),
        (4, 2),
        "{down:?}"
    );
    assert_eq!(down.removed_droplet_ids.len(), 2);
    assert!(
        down.create_time.unwrap().seconds - up.create_time.unwrap().seconds >= 5,
        "not before the down window passed"
    );
    // Asked of the other replica: both read the same record.
    let down_job = decision_job(&other, &down).await;
    let (job, _) = e2e::follow_job(&jobs, &down_job, WAIT).await;
    let mut destroyed = job.result.unwrap().destroyed_droplet_ids;
    let mut chosen = down.removed_droplet_ids.clone();
    destroyed.sort();
    chosen.sort();
    assert_eq!(
        destroyed, chosen,
        "the executor removed the droplets the decision chose"
    );

    // Both acting decisions are in the activity log, under their ids.
    let logged: Vec<(String, String)> = eventually(WAIT, "the scaler's activity entries", || {
        let (kafka, cluster) = (kafka.clone(), cluster.id.clone());
        async move {
            let entries: Vec<(String, String)> =
                cg_testkit::read_to_end(&kafka, topics::ACTIVITY.name, &cluster)
                    .await
                    .iter()
                    .filter_map(|e| topics::ACTIVITY.decode(e).ok())
                    .filter(|a| a.source == "scaler")
                    .map(|a| (a.kind, a.decision_id))
                    .collect();
            let scaled = entries
                .iter()
                .filter(|(k, _)| k.starts_with("scaler.scale_"))
                .count();
            if scaled >= 2 {
                Ok(entries)
            } else {
                Err(entries)
            }
        }
    })
    .await;
    assert!(
        logged.contains(&("scaler.scale_up".into(), up.id.clone())),
        "{logged:?}"
    );
    assert!(
        logged.contains(&("scaler.scale_down".into(), down.id.clone())),
        "{logged:?}"
    );

    // One job per change, across both replicas.
    let all = scaler_jobs(&mut jobs, &cluster.id).await;
    assert_eq!(all.len(), 2, "{all:?}");
    let acted = other
        .list_decisions(spb::ListDecisionsRequest {
            cluster_id: cluster.id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .decisions
        .into_iter()
        .filter(|d| d.action != spb::ScaleAction::None as i32)
        .count();
    assert_eq!(acted, 2, "one decision per change");

    for s in [scaler_a, scaler_b] {
        s.stop().await.unwrap();
    }
    jobs_server.stop().await.unwrap();
    prov.stop().await.unwrap();
}

fn violations(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt as _;
    let mut fields: Vec<String> = status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    fields.sort();
    fields
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scaler_rpc_works_through_grpcurl_and_bad_input_gets_typed_errors() {
    use cg_testkit::grpcurl::Grpcurl;
    use serde_json::json;
    use tonic::Code;

    cg_runtime::telemetry::init_for_tests();
    let (prov_db, jobs_db, scaler_db) = (
        TestDb::new(Backend::MySql).await,
        TestDb::new(Backend::MySql).await,
        TestDb::new(Backend::MySql).await,
    );
    let mut prov_config = config_for::<ProvisioningService>(Some(&prov_db), None);
    prov_config.cloud = e2e::fast_cloud();
    let prov = cg_testkit::start::<ProvisioningService>(&prov_config).await;
    let jobs_server =
        cg_testkit::start::<JobsService>(&config_for::<JobsService>(Some(&jobs_db), None)).await;
    let mut scaler_config = config_for::<ScalerService>(Some(&scaler_db), None);
    scaler_config.provisioning_url = prov.endpoint();
    scaler_config.jobs_url = jobs_server.endpoint();
    let server = cg_testkit::start::<ScalerService>(&scaler_config).await;
    let mut c = Clients::connect(prov.endpoint()).await;
    let cluster = c.cluster("grpcurl", "nyc1").await.id;
    let mut scaler = Scaler::new(cg_testkit::channel(&server.endpoint()).await);

    // Every RPC, as an operator would type it.
    let g = Grpcurl::new(
        server.endpoint().trim_start_matches("http://"),
        "clustergenie.scaler.v1",
    );
    let flow_cluster = cluster.clone();
    let flow = tokio::task::spawn_blocking(move || {
        let cluster = flow_cluster;
        assert!(
            g.list()
                .contains(&"clustergenie.scaler.v1.ScalerService".to_string())
        );
        let created = g.ok(
            "ScalerService/CreatePolicy",
            json!({"cluster_id": cluster, "name": "cpu", "metric": "METRIC_KIND_CPU_PERCENT",
                   "target_value": 60, "min_droplets": 1, "max_droplets": 5,
                   "size": "s-1vcpu-1gb", "image": "ubuntu-24-04-x64", "enabled": true,
                   "schedules": [{"cron": "0 8 * * 1-5", "time_zone": "Europe/Berlin",
                                  "duration": "36000s", "min_droplets": 2}]}),
        );
        let id = created["policy"]["id"].as_str().unwrap().to_string();
        assert_eq!(created["policy"]["scaleDownStabilization"], "300s");
        assert_eq!(
            created["policy"]["schedules"][0]["timeZone"],
            "Europe/Berlin"
        );
        let got = g.ok("ScalerService/GetPolicy", json!({"id": id}));
        assert_eq!(got["policy"]["name"], "cpu");
        let listed = g.ok("ScalerService/ListPolicies", json!({"cluster_id": cluster}));
        assert_eq!(listed["policies"].as_array().map(Vec::len), Some(1));
        let updated = g.ok(
            "ScalerService/UpdatePolicy",
            json!({"policy": {"id": id, "target_value": 70, "min_droplets": 3},
                   "update_mask": {"paths": ["target_value"]}}),
        );
        assert_eq!(updated["policy"]["targetValue"], 70.0);
        assert_eq!(
            updated["policy"]["minDroplets"], 1,
            "only the masked field changed"
        );
        let scaling = g.ok(
            "ScalerService/UpdateClusterScaling",
            json!({"scaling": {"cluster_id": cluster, "monthly_cost_cap_cents": 5000}}),
        );
        assert_eq!(scaling["scaling"]["monthlyCostCapCents"], "5000");
        let read = g.ok(
            "ScalerService/GetClusterScaling",
            json!({"cluster_id": cluster}),
        );
        assert_eq!(read["scaling"]["monthlyCostCapCents"], "5000");
        // An empty cluster grows to its min; a dry run says so without a job.
        let dry = g.ok(
            "ScalerService/EvaluateNow",
            json!({"cluster_id": cluster, "dry_run": true}),
        );
        assert_eq!(dry["decision"]["action"], "SCALE_ACTION_SCALE_UP", "{dry}");
        assert!(dry["decision"]["jobId"].is_null(), "{dry}");
        let watched = {
            let g = g.clone();
            let cluster = cluster.clone();
            std::thread::spawn(move || {
                g.stream(
                    "ScalerService/WatchDecisions",
                    json!({"cluster_id": cluster}),
                    4,
                )
            })
        };
        std::thread::sleep(Duration::from_secs(1));
        let real = g.ok("ScalerService/EvaluateNow", json!({"cluster_id": cluster}));
        let decision_id = real["decision"]["id"].as_str().unwrap().to_string();
        let watched = watched.join().unwrap();
        assert!(
            watched
                .iter()
                .any(|m| m["decision"]["id"].as_str() == Some(decision_id.as_str())),
            "WatchDecisions streamed it: {watched:?}"
        );
        let decisions = g.ok(
            "ScalerService/ListDecisions",
            json!({"cluster_id": cluster, "action": "SCALE_ACTION_SCALE_UP"}),
        );
        assert_eq!(decisions["decisions"][0]["id"], decision_id.as_str());
        g.ok("ScalerService/DeletePolicy", json!({"id": id}));
        let gone = g
            .call("ScalerService/GetPolicy", &json!({"id": id}))
            .unwrap_err();
        assert!(gone.contains("NotFound"), "{gone}");
        decision_id
    })
    .await
    .unwrap();

    // The recorded scale-up made its job, with the decision as origin.
    let decision = scaler
        .list_decisions(spb::ListDecisionsRequest {
            cluster_id: cluster.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .decisions
        .into_iter()
        .find(|d| d.id == flow)
        .unwrap();
    assert!(!decision.job_id.is_empty(), "{decision:?}");

    // Bad input: every violation at once, and the other typed errors.
    let err = scaler
        .create_policy(spb::CreatePolicyRequest {
            cluster_id: cluster.clone(),
            name: "Bad Name".into(),
            metric: 99,
            target_value: -1.0,
            min_droplets: 0,
            max_droplets: 500,
            size: "s-1vcpu-1gb".into(),
            image: "ubuntu-24-04-x64".into(),
            schedules: vec![spb::Schedule {
                cron: "every day".into(),
                time_zone: "Mars/Olympus".into(),
                duration: Some(secs(60)),
                min_droplets: 2,
                max_droplets: 0,
            }],
            request_id: "x".repeat(65),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(violations(&err), ["metric", "request_id"]);
    let err = scaler
        .create_policy(spb::CreatePolicyRequest {
            cluster_id: cluster.clone(),
            name: "Bad Name".into(),
            metric: mpb::MetricKind::CpuPercent as i32,
            target_value: 150.0,
            min_droplets: 0,
            max_droplets: 500,
            size: "s-1vcpu-1gb".into(),
            image: "ubuntu-24-04-x64".into(),
            schedules: vec![spb::Schedule {
                cron: "every day".into(),
                time_zone: "Mars/Olympus".into(),
                duration: Some(secs(60)),
                min_droplets: 2,
                max_droplets: 0,
            }],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields = violations(&err);
    for field in ["name", "target_value", "min_droplets", "max_droplets"] {
        assert!(fields.contains(&field.to_string()), "{field} in {fields:?}");
    }
    assert!(
        fields.iter().any(|f| f.starts_with("schedules[0].")),
        "{fields:?}"
    );
    let good = || spb::CreatePolicyRequest {
        cluster_id: cluster.clone(),
        name: "mem".into(),
        metric: mpb::MetricKind::MemoryPercent as i32,
        target_value: 70.0,
        min_droplets: 1,
        max_droplets: 3,
        size: "s-1vcpu-1gb".into(),
        image: "ubuntu-24-04-x64".into(),
        request_id: "mem-1".into(),
        ..Default::default()
    };
    let err = scaler
        .create_policy(spb::CreatePolicyRequest {
            size: "s-99vcpu".into(),
            image: "windows-95".into(),
            ..good()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&err), ["image", "size"]);
    let err = scaler
        .create_policy(spb::CreatePolicyRequest {
            cluster_id: "01a22a2a-b3cd-7787-a6f4-000000000000".into(),
            ..good()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let first = scaler.create_policy(good()).await.unwrap().into_inner();
    let replay = scaler.create_policy(good()).await.unwrap().into_inner();
    assert_eq!(
        first, replay,
        "the same request_id and body replay the answer"
    );
    let err = scaler
        .create_policy(spb::CreatePolicyRequest {
            target_value: 71.0,
            ..good()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::AlreadyExists,
        "a reused key, another body"
    );
    let err = scaler
        .create_policy(spb::CreatePolicyRequest {
            request_id: String::new(),
            ..good()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists, "a taken name");
    let id = first.policy.unwrap().id;
    let err = scaler
        .update_policy(spb::UpdatePolicyRequest {
            policy: Some(spb::Policy {
                id: id.clone(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["cluster_id".into(), "colour".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&err), ["update_mask", "update_mask"]);
    let err = scaler
        .update_policy(spb::UpdatePolicyRequest {
            policy: Some(spb::Policy {
                id: id.clone(),
                min_droplets: 9,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["min_droplets".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&err), ["max_droplets"], "min above max");
    let err = scaler
        .update_cluster_scaling(spb::UpdateClusterScalingRequest {
            scaling: Some(spb::ClusterScaling {
                cluster_id: cluster.clone(),
                monthly_cost_cap_cents: -1,
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&err), ["scaling.monthly_cost_cap_cents"]);
    let err = scaler
        .list_decisions(spb::ListDecisionsRequest {
            page_token: "garbage".into(),
            action: 42,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&err), ["action", "page_token"]);
    let err = scaler
        .watch_decisions(spb::WatchDecisionsRequest {
            cluster_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violations(&err), ["cluster_id"]);
    // A disabled policy can be tried with a dry run, but does not act.
    let tried = scaler
        .evaluate_now(spb::EvaluateNowRequest {
            cluster_id: cluster.clone(),
            dry_run: true,
        })
        .await
        .expect("a dry run weighs disabled policies")
        .into_inner()
        .decision
        .unwrap();
    assert_eq!(tried.policy_ids, std::slice::from_ref(&id));
    let err = scaler
        .evaluate_now(spb::EvaluateNowRequest {
            cluster_id: cluster.clone(),
            dry_run: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "nothing enabled acts");
    scaler
        .delete_policy(spb::DeletePolicyRequest { id })
        .await
        .unwrap();
    let err = scaler
        .evaluate_now(spb::EvaluateNowRequest {
            cluster_id: cluster.clone(),
            dry_run: true,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "no enabled policy");
    let err = scaler
        .get_cluster_scaling(spb::GetClusterScalingRequest {
            cluster_id: "01a22a2a-b3cd-7787-a6f4-000000000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    server.stop().await.unwrap();
    jobs_server.stop().await.unwrap();
    prov.stop().await.unwrap();
}
