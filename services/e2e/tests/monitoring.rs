//! Monitoring over the real chain: provisioning's fleet samples and droplet
//! events through a tansu broker into monitoring on MariaDB, and
//! monitoring's health results back into provisioning. A CPU spike injected
//! into one droplet shows in the metric history and a live watch, turns its
//! HTTP check unhealthy, makes the cluster degraded in provisioning's own
//! answers, fires an alert, and leaves its trail in the activity log.

use std::time::Duration;

use cg_runtime::{kafka::KafkaConfig, time::now_millis};
use cg_testkit::{Backend, Broker, Storage, TestDb, config_for, eventually, provisioning::Clients};
use clustergenie_proto::{monitoring::v1 as mpb, provisioning::v1 as ppb};
use futures::StreamExt as _;
use monitoring::MonitoringService;
use provisioning::ProvisioningService;

const TICK: Duration = Duration::from_millis(500);
const WAIT: Duration = Duration::from_secs(60);

fn secs(s: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: s,
        nanos: 0,
    }
}

/// Waits until provisioning's `GetCluster` answers `cluster` with `health`.
async fn cluster_health_becomes(
    clusters: &ppb::cluster_service_client::ClusterServiceClient<tonic::transport::Channel>,
    cluster: &str,
    health: ppb::ClusterHealth,
) {
    eventually(
        WAIT,
        &format!("the cluster {health:?} in provisioning"),
        || {
            let (mut clusters, id) = (clusters.clone(), cluster.to_string());
            async move {
                let h = clusters
                    .get_cluster(ppb::GetClusterRequest { id })
                    .await
                    .unwrap()
                    .into_inner()
                    .cluster
                    .unwrap()
                    .health;
                if h == health as i32 { Ok(()) } else { Err(h) }
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_spike_shows_in_metrics_checks_cluster_health_alerts_and_activity() {
    cg_runtime::telemetry::init_for_tests();
    let broker = Broker::start(Storage::Memory);
    let kafka = KafkaConfig {
        partitions: 2,
        ..broker.kafka()
    };
    let (prov_db, mon_db) = (
        TestDb::new(Backend::MySql).await,
        TestDb::new(Backend::MySql).await,
    );
    let mut prov_config = config_for::<ProvisioningService>(Some(&prov_db), Some(&broker));
    prov_config.common.kafka = Some(kafka.clone());
    prov_config.cloud = e2e::fast_cloud();
    prov_config.fleet.sample_interval = TICK;
    let prov = cg_testkit::start::<ProvisioningService>(&prov_config).await;
    let mut mon_config = config_for::<MonitoringService>(Some(&mon_db), Some(&broker));
    mon_config.common.kafka = Some(kafka);
    let mon = cg_testkit::start::<MonitoringService>(&mon_config).await;

    let mut c = Clients::connect(prov.endpoint()).await;
    let mon_channel = cg_testkit::channel(&mon.endpoint()).await;
    let mut metrics = mpb::metrics_service_client::MetricsServiceClient::new(mon_channel.clone());
    let mut checks =
        mpb::health_check_service_client::HealthCheckServiceClient::new(mon_channel.clone());
    let mut alerts = mpb::alert_service_client::AlertServiceClient::new(mon_channel.clone());
    let activity = mpb::activity_service_client::ActivityServiceClient::new(mon_channel);
    let clusters = ppb::cluster_service_client::ClusterServiceClient::new(
        cg_testkit::channel(&prov.endpoint()).await,
    );
    let mut faults = ppb::fault_service_client::FaultServiceClient::new(
        cg_testkit::channel(&prov.endpoint()).await,
    );

    let cluster = c.cluster("shop", "nyc1").await;
    // Big droplets: the cluster's demand (at most 2.2 vCPUs) keeps them
    // well below a spike's CPU at any hour.
    let big = |name: &str| ppb::CreateDropletRequest {
        size: "s-4vcpu-8gb".into(),
        ..Clients::droplet_request(&cluster.id, name)
    };
    let mut created = Vec::new();
    for name in ["hot", "calm"] {
        created.push(
            c.droplets
                .create_droplet(big(name))
                .await
                .expect("a droplet")
                .into_inner()
                .droplet
                .unwrap(),
        );
    }
    let (hot, calm) = (created[0].clone(), created[1].clone());
    c.wait_droplet(&hot.id, ppb::DropletStatus::Active).await;
    c.wait_droplet(&calm.id, ppb::DropletStatus::Active).await;
    let check = checks
        .create_health_check(cg_testkit::monitoring::web_check(&cluster.id))
        .await
        .expect("a health check")
        .into_inner()
        .health_check
        .unwrap();
    alerts
        .create_alert_rule(mpb::CreateAlertRuleRequest {
            cluster_id: cluster.id.clone(),
            name: "cpu-hot".into(),
            metric: mpb::MetricKind::CpuPercent as i32,
            comparison: mpb::AlertComparison::Above as i32,
            threshold: 90.0,
            r#for: Some(secs(1)),
            severity: mpb::ActivitySeverity::Error as i32,
            request_id: String::new(),
        })
        .await
        .expect("an alert rule");

    // Both droplets healthy first: the cluster says so in provisioning.
    cluster_health_becomes(&clusters, &cluster.id, ppb::ClusterHealth::Healthy).await;

    let mut watch = metrics
        .watch_metrics(mpb::WatchMetricsRequest {
            cluster_id: cluster.id.clone(),
            droplet_id: hot.id.clone(),
            metrics: vec![mpb::MetricKind::CpuPercent as i32],
        })
        .await
        .unwrap()
        .into_inner();
    let injected_at = now_millis();
    faults
        .inject_fault(ppb::InjectFaultRequest {
            droplet_id: hot.id.clone(),
            kind: ppb::FaultKind::CpuSpike as i32,
            duration: Some(secs(120)),
            request_id: String::new(),
        })
        .await
        .expect("a cpu spike");

    // The live watch sees the spike.
    let spiked = tokio::time::timeout(WAIT, async {
        loop {
            let batch = watch
                .next()
                .await
                .expect("the watch stays open")
                .expect("a batch");
            for s in batch.series {
                if let Some(p) = s.points.iter().find(|p| p.value >= 90.0) {
                    return p.time.unwrap();
                }
            }
        }
    })
    .await
    .expect("a spiking point on the watch");
    assert!(spiked.seconds * 1000 >= injected_at - 1000);

    // The history has it, within two sampling intervals of the fault.
    let history = metrics
        .query_metrics(mpb::QueryMetricsRequest {
            cluster_id: cluster.id.clone(),
            droplet_id: hot.id.clone(),
            metrics: vec![mpb::MetricKind::CpuPercent as i32],
            start_time: Some(cg_runtime::time::timestamp(injected_at)),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let first_hot = history.series[0]
        .points
        .iter()
        .find(|p| p.value >= 90.0)
        .map(|p| p.time.unwrap().seconds * 1000 + i64::from(p.time.unwrap().nanos) / 1_000_000)
        .expect("a spiking sample stored");
    assert!(
        first_hot - injected_at <= 2 * TICK.as_millis() as i64 + 200,
        "the first hot sample {} ms after the fault",
        first_hot - injected_at
    );

    // The check turns unhealthy on the hot droplet only; the cluster is
    // degraded in provisioning's answers.
    eventually(WAIT, "the hot droplet unhealthy", || {
        let (mut checks, id) = (checks.clone(), check.id.clone());
        let hot = hot.id.clone();
        async move {
            let c = checks
                .get_health_check(mpb::GetHealthCheckRequest { id })
                .await
                .unwrap()
                .into_inner()
                .health_check
                .unwrap();
            let states: Vec<(bool, i32)> = c
                .droplets
                .iter()
                .map(|d| (d.droplet_id == hot, d.state))
                .collect();
            let want = [
                (true, mpb::HealthState::Unhealthy as i32),
                (false, mpb::HealthState::Healthy as i32),
            ];
            if want.iter().all(|w| states.contains(w)) {
                Ok(())
            } else {
                Err(states)
            }
        }
    })
    .await;
    cluster_health_becomes(&clusters, &cluster.id, ppb::ClusterHealth::Degraded).await;
    let summary = metrics
        .get_cluster_summary(mpb::GetClusterSummaryRequest {
            cluster_id: cluster.id.clone(),
            window: None,
        })
        .await
        .unwrap()
        .into_inner()
        .summary
        .unwrap();
    assert_eq!(summary.unhealthy_droplets, 1);
    assert_eq!(summary.reporting_droplets, 2);

    // The alert fires on the hot droplet.
    let firing = eventually(WAIT, "the alert firing", || {
        let (mut alerts, id) = (alerts.clone(), cluster.id.clone());
        async move {
            let a = alerts
                .list_alerts(mpb::ListAlertsRequest {
                    cluster_id: id,
                    state: mpb::AlertState::Firing as i32,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .alerts;
            if a.is_empty() { Err(a) } else { Ok(a) }
        }
    })
    .await;
    assert_eq!(firing.len(), 1);
    assert_eq!(firing[0].droplet_id, hot.id);

    // And the activity log tells the story, from both services.
    let kinds = eventually(WAIT, "the activity entries", || {
        let (mut activity, id) = (activity.clone(), cluster.id.clone());
        async move {
            let kinds: Vec<(String, String)> = activity
                .list_activity(mpb::ListActivityRequest {
                    cluster_id: id,
                    page_size: 100,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .entries
                .into_iter()
                .map(|e| (e.source, e.kind))
                .collect();
            let want = [
                ("provisioning", "droplet.created"),
                ("provisioning", "fault.injected"),
                ("monitoring", "health.unhealthy"),
                ("monitoring", "alert.fired"),
            ];
            if want
                .iter()
                .all(|(s, k)| kinds.iter().any(|(a, b)| a == s && b == k))
            {
                Ok(kinds)
            } else {
                Err(kinds)
            }
        }
    })
    .await;
    assert!(
        !kinds.iter().any(|(_, k)| k == "health.healthy"),
        "{kinds:?}"
    );

    mon.stop().await.unwrap();
    prov.stop().await.unwrap();
}
