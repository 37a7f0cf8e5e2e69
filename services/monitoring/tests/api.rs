//! Monitoring's metrics API through gRPC (and grpcurl), fed through a real
//! tansu broker into MariaDB, as the fleet feeds it.

use std::time::Duration;

use cg_runtime::{
    kafka::{Outgoing, Producer},
    new_id,
    outbox::NewEvent,
    time::{now_millis, timestamp},
    topic::topics,
};
use cg_testkit::{Backend, Broker, Storage, TestDb, config_for, eventually, grpcurl::Grpcurl};
use clustergenie_proto::{events::v1 as ev, monitoring::v1 as pb, provisioning::v1 as ppb};
use futures::StreamExt as _;
use monitoring::MonitoringService;
use serde_json::json;
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt as _;

type Client = pb::metrics_service_client::MetricsServiceClient<Channel>;

const WAIT: Duration = Duration::from_secs(30);

fn droplet_ids(n: usize) -> Vec<String> {
    (0..n).map(|_| new_id()).collect()
}

fn batch(cluster: &str, droplets: &[String], t: i64, cpu: f64) -> ev::MetricSamples {
    ev::MetricSamples {
        samples: droplets
            .iter()
            .map(|d| ev::MetricSample {
                droplet_id: d.clone(),
                cluster_id: cluster.into(),
                time: Some(timestamp(t)),
                cpu_percent: cpu,
                memory_percent: 40.0,
                disk_percent: 30.0,
                network_in_mbps: 1.0,
                network_out_mbps: 2.0,
                load_1m: 0.5,
            })
            .collect(),
    }
}

/// Sends `event` (made by its topic's `event`) as the outbox relay would,
/// under `id` (a fresh one when `None`); false when the broker refuses it.
async fn send(producer: &Producer, event: NewEvent) -> bool {
    let id = event.id.clone().unwrap_or_else(new_id);
    producer
        .send(Outgoing {
            topic: event.topic,
            key: &event.key,
            event_id: &id,
            event_type: &event.event_type,
            payload: &event.payload,
            traceparent: None,
        })
        .await
        .is_ok()
}

async fn publish(producer: &Producer, cluster: &str, samples: &ev::MetricSamples) -> bool {
    send(producer, topics::METRICS_SAMPLES.event(cluster, samples)).await
}

async fn publish_droplet(
    producer: &Producer,
    cluster: &str,
    droplet: &str,
    status: ppb::DropletStatus,
) {
    let event = ev::DropletEvent {
        kind: ev::DropletEventKind::Created as i32,
        droplet: Some(ppb::Droplet {
            id: droplet.into(),
            cluster_id: cluster.into(),
            status: status as i32,
            ..Default::default()
        }),
        time: Some(timestamp(now_millis())),
        ..Default::default()
    };
    assert!(
        send(producer, topics::DROPLETS_EVENTS.event(cluster, &event)).await,
        "droplet event published"
    );
}

/// Raw points per (droplet, time) of a cluster over the last `minutes`.
async fn stored(client: &mut Client, cluster: &str, minutes: i64) -> Vec<(String, i64)> {
    let now = now_millis();
    let mut points = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .query_metrics(pb::QueryMetricsRequest {
                cluster_id: cluster.into(),
                metrics: vec![pb::MetricKind::CpuPercent as i32],
                start_time: Some(timestamp(now - minutes * 60_000)),
                end_time: Some(timestamp(now + 60_000)),
                page_size: 1000,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("QueryMetrics answers")
            .into_inner();
        for s in page.series {
            for p in s.points {
                let t = p.time.unwrap();
                points.push((
                    s.droplet_id.clone(),
                    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000,
                ));
            }
        }
        if page.next_page_token.is_empty() {
            return points;
        }
        token = page.next_page_token;
    }
}

fn field_violations(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samples_from_the_broker_are_stored_once_queried_summarised_and_watched() {
    let broker = Broker::start(Storage::Memory);
    let db = TestDb::new(Backend::MySql).await;
    let server = cg_testkit::start::<MonitoringService>(&config_for::<MonitoringService>(
        Some(&db),
        Some(&broker),
    ))
    .await;
    let mut client = Client::new(cg_testkit::channel(&server.endpoint()).await);
    let producer = Producer::new(&broker.kafka()).unwrap();
    let cluster = new_id();
    let droplets = droplet_ids(3);

    let mut watch = client
        .watch_metrics(pb::WatchMetricsRequest {
            cluster_id: cluster.clone(),
            droplet_id: droplets[0].clone(),
            metrics: vec![pb::MetricKind::CpuPercent as i32],
        })
        .await
        .expect("WatchMetrics opens")
        .into_inner();

    let t = now_millis();
    let first = batch(&cluster, &droplets, t, 91.5);
    assert!(publish(&producer, &cluster, &first).await);
    // Redelivered: the same samples again.
    assert!(publish(&producer, &cluster, &first).await);
    assert!(
        publish(
            &producer,
            &cluster,
            &batch(&cluster, &droplets, t + 10_000, 20.0)
        )
        .await
    );
    for d in &droplets[..2] {
        publish_droplet(&producer, &cluster, d, ppb::DropletStatus::Active).await;
    }
    publish_droplet(&producer, &cluster, &droplets[2], ppb::DropletStatus::Off).await;

    let points = eventually(WAIT, "both batches stored", || {
        let (mut client, cluster) = (client.clone(), cluster.clone());
        async move {
            let p = stored(&mut client, &cluster, 5).await;
            if p.len() >= 6 { Ok(p) } else { Err(p) }
        }
    })
    .await;
    let mut keys = points.clone();
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        points.len(),
        "no sample stored twice: {points:?}"
    );
    assert_eq!(points.len(), 6);

    // The watcher got droplet 0's points, live, and nothing else.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let msg = tokio::time::timeout(WAIT, watch.next())
            .await
            .expect("a watched batch in time")
            .expect("the stream stays open")
            .expect("a batch");
        for s in msg.series {
            assert_eq!(s.droplet_id, droplets[0]);
            assert_eq!(s.metric, pb::MetricKind::CpuPercent as i32);
            seen.extend(s.points.iter().map(|p| p.value));
        }
    }
    assert_eq!(seen[0], 91.5);
    assert!(seen.contains(&20.0));

    // A step of 10 s answers bucket averages with their spread.
    let stepped = client
        .query_metrics(pb::QueryMetricsRequest {
            cluster_id: cluster.clone(),
            metrics: vec![pb::MetricKind::CpuPercent as i32],
            start_time: Some(timestamp(t - 60_000)),
            end_time: Some(timestamp(t + 60_000)),
            step: Some(prost_types::Duration {
                seconds: 3600,
                nanos: 0,
            }),
            cluster_average: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stepped.series.len(), 1);
    let pts = &stepped.series[0].points;
    let total: i64 = pts.iter().map(|p| p.count).sum();
    assert_eq!(total, 6);
    assert!(pts.iter().any(|p| p.max == 91.5));

    let summary = eventually(WAIT, "droplet statuses counted", || {
        let (mut client, cluster) = (client.clone(), cluster.clone());
        async move {
            let s = client
                .get_cluster_summary(pb::GetClusterSummaryRequest {
                    cluster_id: cluster,
                    window: Some(prost_types::Duration {
                        seconds: 3600,
                        nanos: 0,
                    }),
                })
                .await
                .map(|r| r.into_inner().summary.unwrap());
            match s {
                Ok(s) if s.droplet_counts.iter().map(|c| c.count).sum::<i32>() == 3 => Ok(s),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    assert_eq!(summary.reporting_droplets, 3);
    let counts: Vec<(i32, i32)> = summary
        .droplet_counts
        .iter()
        .map(|c| (c.status, c.count))
        .collect();
    assert_eq!(
        counts,
        vec![
            (ppb::DropletStatus::Active as i32, 2),
            (ppb::DropletStatus::Off as i32, 1)
        ]
    );
    let cpu = summary
        .metrics
        .iter()
        .find(|m| m.metric == pb::MetricKind::CpuPercent as i32)
        .unwrap();
    assert!((cpu.average - (91.5 + 20.0) / 2.0).abs() < 1e-9, "{cpu:?}");

    // grpcurl, as an operator would: reflection, a query and a summary.
    let g = Grpcurl::new(
        server.endpoint().trim_start_matches("http://"),
        "clustergenie.monitoring.v1",
    );
    let cluster_for_grpcurl = cluster.clone();
    let (listed, queried, summarised, refused) = tokio::task::spawn_blocking(move || {
        let listed = g.list();
        let queried = g.ok(
            "MetricsService/QueryMetrics",
            json!({"cluster_id": cluster_for_grpcurl, "metrics": ["METRIC_KIND_CPU_PERCENT"], "step": "3600s"}),
        );
        let summarised = g.ok(
            "MetricsService/GetClusterSummary",
            json!({"cluster_id": cluster_for_grpcurl}),
        );
        let refused = g
            .call("MetricsService/QueryMetrics", &json!({"cluster_id": "nope"}))
            .unwrap_err();
        (listed, queried, summarised, refused)
    })
    .await
    .unwrap();
    assert!(listed.contains(&"clustergenie.monitoring.v1.MetricsService".to_string()));
    assert_eq!(
        queried["series"].as_array().map(Vec::len),
        Some(3),
        "{queried}"
    );
    assert_eq!(summarised["summary"]["clusterId"], json!(cluster));
    assert!(refused.contains("InvalidArgument"), "{refused}");

    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_typed_errors() {
    let db = TestDb::new(Backend::Sqlite).await;
    let server =
        cg_testkit::start::<MonitoringService>(&config_for::<MonitoringService>(Some(&db), None))
            .await;
    let mut client = Client::new(cg_testkit::channel(&server.endpoint()).await);
    let now = now_millis();

    let err = client
        .query_metrics(pb::QueryMetricsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&err), ["cluster_id"]);

    let err = client
        .query_metrics(pb::QueryMetricsRequest {
            cluster_id: new_id(),
            droplet_id: "x".into(),
            metrics: vec![0, 42],
            start_time: Some(timestamp(now)),
            end_time: Some(timestamp(now - 1000)),
            step: Some(prost_types::Duration {
                seconds: 5,
                nanos: 0,
            }),
            page_size: -1,
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut fields = field_violations(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "droplet_id",
            "metrics",
            "page_size",
            "page_token",
            "start_time",
            "step"
        ]
    );

    for (start, step, field) in [
        (now - 8 * 86_400_000, 3600, "start_time"),
        (now - 2 * 86_400_000, 10, "step"),
    ] {
        let err = client
            .query_metrics(pb::QueryMetricsRequest {
                cluster_id: new_id(),
                start_time: Some(timestamp(start)),
                step: Some(prost_types::Duration {
                    seconds: step,
                    nanos: 0,
                }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert_eq!(field_violations(&err), [field]);
    }

    // An unknown cluster has no series: an empty answer, not an error.
    let empty = client
        .query_metrics(pb::QueryMetricsRequest {
            cluster_id: new_id(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(empty.series.is_empty() && empty.next_page_token.is_empty());

    let err = client
        .get_cluster_summary(pb::GetClusterSummaryRequest {
            cluster_id: new_id(),
            window: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = client
        .get_cluster_summary(pb::GetClusterSummaryRequest {
            cluster_id: "nope".into(),
            window: Some(prost_types::Duration {
                seconds: 2,
                nanos: 0,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut fields = field_violations(&err);
    fields.sort();
    assert_eq!(fields, ["cluster_id", "window"]);

    let err = client
        .watch_metrics(pb::WatchMetricsRequest {
            cluster_id: String::new(),
            droplet_id: String::new(),
            metrics: vec![7],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut fields = field_violations(&err);
    fields.sort();
    assert_eq!(fields, ["cluster_id", "metrics"]);

    let channel = cg_testkit::channel(&server.endpoint()).await;
    let mut checks =
        pb::health_check_service_client::HealthCheckServiceClient::new(channel.clone());
    let err = checks
        .create_health_check(pb::CreateHealthCheckRequest {
            cluster_id: "x".into(),
            name: "Not A Label".into(),
            kind: 0,
            port: 70_000,
            path: "no-slash".into(),
            interval: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
            timeout: Some(prost_types::Duration {
                seconds: -1,
                nanos: 0,
            }),
            unhealthy_threshold: 11,
            healthy_threshold: -2,
            request_id: "has space".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut fields = field_violations(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "cluster_id",
            "healthy_threshold",
            "interval",
            "kind",
            "name",
            "path",
            "port",
            "request_id",
            "timeout",
            "unhealthy_threshold"
        ]
    );
    let err = checks
        .update_health_check(pb::UpdateHealthCheckRequest {
            health_check: Some(pb::HealthCheck {
                id: new_id(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["kind".into(), "colour".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(field_violations(&err), ["update_mask", "update_mask"]);
    let err = checks
        .update_health_check(pb::UpdateHealthCheckRequest {
            health_check: Some(pb::HealthCheck {
                id: new_id(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["enabled".into()],
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = checks
        .get_health_check(pb::GetHealthCheckRequest { id: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(field_violations(&err), ["id"]);
    let err = checks
        .delete_health_check(pb::DeleteHealthCheckRequest { id: new_id() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let mut alerts = pb::alert_service_client::AlertServiceClient::new(channel);
    let err = alerts
        .create_alert_rule(pb::CreateAlertRuleRequest {
            cluster_id: new_id(),
            name: "hot".into(),
            metric: pb::MetricKind::CpuPercent as i32,
            comparison: 0,
            threshold: 150.0,
            r#for: Some(prost_types::Duration {
                seconds: 7200,
                nanos: 0,
            }),
            severity: 7,
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    let mut fields = field_violations(&err);
    fields.sort();
    assert_eq!(fields, ["comparison", "for", "severity", "threshold"]);
    let err = alerts
        .list_alerts(pb::ListAlertsRequest {
            state: 9,
            rule_id: "r".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let mut fields = field_violations(&err);
    fields.sort();
    assert_eq!(fields, ["rule_id", "state"]);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_resumes_after_a_broker_outage_with_no_sample_lost_or_doubled() {
    let mut broker = Broker::start(Storage::Sqlite);
    let db = TestDb::new(Backend::MySql).await;
    let server = cg_testkit::start::<MonitoringService>(&config_for::<MonitoringService>(
        Some(&db),
        Some(&broker),
    ))
    .await;
    let client = Client::new(cg_testkit::channel(&server.endpoint()).await);
    let producer = Producer::new(&broker.kafka()).unwrap();
    let cluster = new_id();
    let droplets = droplet_ids(5);
    let start = now_millis() - 40 * 60_000;
    let ticks = 40;
    let mut sent = 0;
    for i in 0..ticks {
        if i == ticks / 2 {
            // Half the stream is in: the broker goes away for a while.
            eventually(WAIT, "the first half stored", || {
                let (mut client, cluster) = (client.clone(), cluster.clone());
                async move {
                    let p = stored(&mut client, &cluster, 60).await;
                    cg_testkit::check(p.len() == 5 * ticks / 2, p.len())
                }
            })
            .await;
            broker.stop();
            tokio::time::sleep(Duration::from_secs(3)).await;
            broker.restart();
        }
        let samples = batch(&cluster, &droplets, start + i as i64 * 60_000, i as f64);
        // The producer's own at-least-once: send until the broker takes it.
        while !publish(&producer, &cluster, &samples).await {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        sent += samples.samples.len();
    }
    let points = eventually(Duration::from_secs(90), "every sample stored", || {
        let (mut client, cluster) = (client.clone(), cluster.clone());
        async move {
            let p = stored(&mut client, &cluster, 60).await;
            if p.len() >= sent { Ok(p) } else { Err(p.len()) }
        }
    })
    .await;
    let mut keys = points.clone();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), sent, "each (droplet, time) once");
    assert_eq!(points.len(), sent, "nothing doubled");
    server.stop().await.unwrap();
}

async fn recv(s: &mut tonic::Streaming<pb::StreamActivityResponse>) -> pb::ActivityEntry {
    tokio::time::timeout(WAIT, s.next())
        .await
        .expect("an entry in time")
        .expect("the stream stays open")
        .expect("an entry")
        .entry
        .unwrap()
}

fn activity(id: &str, cluster: &str, kind: &str, message: &str) -> ev::Activity {
    ev::Activity {
        id: id.into(),
        time: Some(timestamp(now_millis())),
        cluster_id: cluster.into(),
        source: "jobs".into(),
        kind: kind.into(),
        severity: pb::ActivitySeverity::Info as i32,
        message: message.into(),
        ..Default::default()
    }
}

/// Publishes an entry under its own id (as producers' outboxes do).
async fn publish_activity(producer: &Producer, cluster: &str, kind: &str, message: &str) -> String {
    let id = new_id();
    let event = NewEvent {
        id: Some(id.clone()),
        ..topics::ACTIVITY.event(cluster, &activity(&id, cluster, kind, message))
    };
    assert!(send(producer, event).await, "activity published");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_stream_resumes_from_its_cursor_with_exactly_the_missed_entries() {
    let broker = Broker::start(Storage::Memory);
    let db = TestDb::new(Backend::MySql).await;
    let server = cg_testkit::start::<MonitoringService>(&config_for::<MonitoringService>(
        Some(&db),
        Some(&broker),
    ))
    .await;
    let channel = cg_testkit::channel(&server.endpoint()).await;
    let mut client = pb::activity_service_client::ActivityServiceClient::new(channel);
    let producer = Producer::new(&broker.kafka()).unwrap();
    let cluster = new_id();

    let mut stream = client
        .stream_activity(pb::StreamActivityRequest {
            cluster_id: cluster.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let a = publish_activity(&producer, &cluster, "job.created", "first").await;
    // Redelivered: the same id again is stored (and streamed) once.
    let again = NewEvent {
        id: Some(a.clone()),
        ..topics::ACTIVITY.event(&cluster, &activity(&a, &cluster, "job.created", "first"))
    };
    assert!(send(&producer, again).await);
    publish_activity(&producer, &cluster, "job.succeeded", "second").await;
    let first = recv(&mut stream).await;
    assert_eq!(
        (first.id.as_str(), first.message.as_str()),
        (a.as_str(), "first")
    );
    let second = recv(&mut stream).await;
    assert_eq!(second.message, "second", "the duplicate is not streamed");
    drop(stream);

    for m in ["m1", "m2", "m3"] {
        publish_activity(&producer, &cluster, "job.failed", m).await;
    }
    // Wait until they are stored, then resume from the last cursor held.
    eventually(WAIT, "the missed entries stored", || {
        let (mut client, cluster) = (client.clone(), cluster.clone());
        async move {
            let n = client
                .list_activity(pb::ListActivityRequest {
                    cluster_id: cluster,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .entries
                .len();
            if n == 5 { Ok(()) } else { Err(n) }
        }
    })
    .await;
    let mut resumed = client
        .stream_activity(pb::StreamActivityRequest {
            cluster_id: cluster.clone(),
            since: second.cursor.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut missed = Vec::new();
    for _ in 0..3 {
        missed.push(recv(&mut resumed).await.message);
    }
    assert_eq!(missed, ["m1", "m2", "m3"]);
    publish_activity(&producer, &cluster, "job.created", "live").await;
    assert_eq!(recv(&mut resumed).await.message, "live");

    let failed = client
        .list_activity(pb::ListActivityRequest {
            cluster_id: cluster.clone(),
            kind: "job.failed".into(),
            text: "M2".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(failed.entries.len(), 1);
    assert_eq!(failed.entries[0].message, "m2");

    let err = client
        .stream_activity(pb::StreamActivityRequest {
            since: "not-a-cursor".into(),
            min_severity: 9,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut fields = field_violations(&err);
    fields.sort();
    assert_eq!(fields, ["min_severity", "since"]);
    let err = client
        .list_activity(pb::ListActivityRequest {
            kind: "Job Failed".into(),
            text: "x".repeat(101),
            page_size: 5000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    let mut fields = field_violations(&err);
    fields.sort();
    assert_eq!(fields, ["kind", "page_size", "text"]);

    // grpcurl lists the same entries an operator would read.
    let g = Grpcurl::new(
        server.endpoint().trim_start_matches("http://"),
        "clustergenie.monitoring.v1",
    );
    let listed = tokio::task::spawn_blocking(move || {
        g.ok(
            "ActivityService/ListActivity",
            json!({"cluster_id": cluster, "kind": "job.", "page_size": 2}),
        )
    })
    .await
    .unwrap();
    assert_eq!(
        listed["entries"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
    assert_eq!(listed["entries"][0]["message"], "live");
    assert!(
        listed["nextPageToken"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    server.stop().await.unwrap();
}

/// Holds `method` open through grpcurl for `seconds`, off the runtime.
fn grpcurl_stream(
    g: &Grpcurl,
    method: &'static str,
    body: serde_json::Value,
    seconds: u32,
) -> tokio::task::JoinHandle<Vec<serde_json::Value>> {
    let g = g.clone();
    tokio::task::spawn_blocking(move || g.stream(method, body, seconds))
}

/// Calls `method` through grpcurl off the runtime.
async fn grpcurl(
    g: &Grpcurl,
    method: &'static str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let g = g.clone();
    tokio::task::spawn_blocking(move || g.call(method, &body))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_alerts_and_both_streams_work_through_grpcurl() {
    let broker = Broker::start(Storage::Memory);
    let db = TestDb::new(Backend::MySql).await;
    let server = cg_testkit::start::<MonitoringService>(&config_for::<MonitoringService>(
        Some(&db),
        Some(&broker),
    ))
    .await;
    let producer = Producer::new(&broker.kafka()).unwrap();
    let g = Grpcurl::new(
        server.endpoint().trim_start_matches("http://"),
        "clustergenie.monitoring.v1",
    );
    let cluster = new_id();
    let droplets = droplet_ids(2);
    for d in &droplets {
        publish_droplet(&producer, &cluster, d, ppb::DropletStatus::Active).await;
    }

    // Health checks: create (with defaults filled in), get, list, update, results.
    let created = grpcurl(
        &g,
        "HealthCheckService/CreateHealthCheck",
        json!({"cluster_id": cluster, "name": "web", "kind": "HEALTH_CHECK_KIND_HTTP",
               "interval": "5s", "timeout": "1s", "request_id": "grpcurl-1"}),
    )
    .await
    .unwrap();
    let check = created["healthCheck"].clone();
    let check_id = check["id"].as_str().unwrap().to_string();
    assert_eq!(
        (check["port"].clone(), check["path"].clone()),
        (json!(80), json!("/"))
    );
    let got = grpcurl(
        &g,
        "HealthCheckService/GetHealthCheck",
        json!({"id": check_id}),
    )
    .await
    .unwrap();
    assert_eq!(got["healthCheck"]["name"], "web");
    let listed = grpcurl(
        &g,
        "HealthCheckService/ListHealthChecks",
        json!({"cluster_id": cluster}),
    )
    .await
    .unwrap();
    assert_eq!(listed["healthChecks"][0]["id"], json!(check_id), "{listed}");
    let updated = grpcurl(
        &g,
        "HealthCheckService/UpdateHealthCheck",
        json!({"health_check": {"id": check_id, "unhealthy_threshold": 1}, "update_mask": {"paths": ["unhealthy_threshold"]}}),
    )
    .await
    .unwrap();
    assert_eq!(updated["healthCheck"]["unhealthyThreshold"], 1, "{updated}");
    let refused = grpcurl(
        &g,
        "HealthCheckService/CreateHealthCheck",
        json!({"cluster_id": cluster, "name": "", "kind": "HEALTH_CHECK_KIND_HTTP"}),
    )
    .await
    .unwrap_err();
    assert!(refused.contains("InvalidArgument"), "{refused}");

    // An alert rule that fires on the first hot sample.
    let rule = grpcurl(
        &g,
        "AlertService/CreateAlertRule",
        json!({"cluster_id": cluster, "name": "hot-cpu", "metric": "METRIC_KIND_CPU_PERCENT",
               "comparison": "ALERT_COMPARISON_ABOVE", "threshold": 80, "for": "0s"}),
    )
    .await
    .unwrap();
    let rule_id = rule["rule"]["id"].as_str().unwrap().to_string();

    // Both streams open while hot samples and activity flow in.
    let watched = grpcurl_stream(
        &g,
        "MetricsService/WatchMetrics",
        json!({"cluster_id": cluster, "metrics": ["METRIC_KIND_CPU_PERCENT"]}),
        8,
    );
    let streamed = grpcurl_stream(
        &g,
        "ActivityService/StreamActivity",
        json!({"cluster_id": cluster}),
        8,
    );
    let mut published = Vec::new();
    for i in 0..12 {
        let samples = batch(&cluster, &droplets, now_millis(), 95.0);
        assert!(publish(&producer, &cluster, &samples).await);
        published
            .push(publish_activity(&producer, &cluster, "job.created", &format!("n{i}")).await);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let watched = watched.await.unwrap();
    let points: usize = watched
        .iter()
        .flat_map(|m| m["series"].as_array().cloned().unwrap_or_default())
        .map(|s| s["points"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(points > 0, "WatchMetrics pushed points: {watched:?}");
    let streamed = streamed.await.unwrap();
    let ids: Vec<&str> = streamed
        .iter()
        .filter_map(|m| m["entry"]["id"].as_str())
        .collect();
    assert!(
        ids.iter().any(|id| published.iter().any(|p| p == id)),
        "StreamActivity delivered the published entries: {streamed:?}"
    );

    // The hot samples fire the alert and fail the check.
    eventually(WAIT, "the alert fires", || {
        let g = g.clone();
        let cluster = cluster.clone();
        async move {
            let alerts = grpcurl(
                &g,
                "AlertService/ListAlerts",
                json!({"cluster_id": cluster}),
            )
            .await
            .map_err(|e| e.to_string())?;
            let firing = alerts["alerts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["state"] == "ALERT_STATE_FIRING"));
            if firing {
                Ok(())
            } else {
                Err(alerts.to_string())
            }
        }
    })
    .await;
    eventually(WAIT, "the check records results", || {
        let g = g.clone();
        let check_id = check_id.clone();
        async move {
            let results = grpcurl(
                &g,
                "HealthCheckService/ListHealthResults",
                json!({"check_id": check_id}),
            )
            .await
            .map_err(|e| e.to_string())?;
            match results["results"].as_array() {
                Some(r) if !r.is_empty() => Ok(()),
                _ => Err(results.to_string()),
            }
        }
    })
    .await;

    // Rules: get, list, delete; checks: delete. Gone means NOT_FOUND.
    let got = grpcurl(&g, "AlertService/GetAlertRule", json!({"id": rule_id}))
        .await
        .unwrap();
    assert_eq!(got["rule"]["name"], "hot-cpu");
    let rules = grpcurl(
        &g,
        "AlertService/ListAlertRules",
        json!({"cluster_id": cluster}),
    )
    .await
    .unwrap();
    assert_eq!(rules["rules"].as_array().map(Vec::len), Some(1), "{rules}");
    grpcurl(&g, "AlertService/DeleteAlertRule", json!({"id": rule_id}))
        .await
        .unwrap();
    let gone = grpcurl(&g, "AlertService/GetAlertRule", json!({"id": rule_id}))
        .await
        .unwrap_err();
    assert!(gone.contains("NotFound"), "{gone}");
    grpcurl(
        &g,
        "HealthCheckService/DeleteHealthCheck",
        json!({"id": check_id}),
    )
    .await
    .unwrap();
    let gone = grpcurl(
        &g,
        "HealthCheckService/GetHealthCheck",
        json!({"id": check_id}),
    )
    .await
    .unwrap_err();
    assert!(gone.contains("NotFound"), "{gone}");
    server.stop().await.unwrap();
}
