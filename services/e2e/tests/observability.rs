//! The mesh can be operated: every service, run as its own process as
//! compose runs it, serves Prometheus text on `/metrics` with its named
//! series (RED per RPC, pools, queues, lag, outbox, DLQ, limits, LLM,
//! reactions), and the gateway's `SystemService` gathers every process's
//! status (health, pools, lag, outbox, DLQs, counters, dependencies),
//! listing a dead backend as unreachable instead of failing.

use std::{collections::BTreeSet, time::Duration};

use cg_testkit::{Broker, Storage, eventually, provisioning::Clients};
use clustergenie_proto::{
    diagnosis::v1 as dpb, gateway::v1 as gpb, jobs::v1 as jpb, system::v1 as spb,
};
use e2e::{ADMIN, bearer, procs::ProcMesh};

const WAIT: Duration = Duration::from_secs(60);

/// The series each service must serve (histograms by their base name).
fn wanted(service: &str) -> Vec<&'static str> {
    let mut all = vec![
        "cg_up",
        "cg_grpc_requests_total",
        "cg_grpc_request_duration_seconds",
    ];
    all.extend(match service {
        "provisioning" => vec![
            "cg_executor_workers",
            "cg_executor_busy_workers",
            "cg_executor_queue_length",
            "cg_job_attempt_seconds",
            "cg_kafka_consumer_lag",
            "cg_kafka_records_total",
            "cg_kafka_dlq_records",
            "cg_outbox_backlog",
            "cg_outbox_parked",
            "cg_outbox_published_total",
            "cg_fleet_samples_total",
        ],
        "jobs" => vec![
            "cg_job_transitions_total",
            "cg_kafka_consumer_lag",
            "cg_kafka_dlq_records",
            "cg_outbox_backlog",
        ],
        "monitoring" => vec![
            "cg_monitoring_samples_stored_total",
            "cg_kafka_consumer_lag",
            "cg_kafka_dlq_records",
        ],
        "scaler" => vec!["cg_scaler_reaction_seconds", "cg_kafka_consumer_lag"],
        "diagnosis" => vec![
            "cg_diagnosis_llm_total",
            "cg_diagnosis_llm_cache_hits_total",
        ],
        "gateway" => vec!["cg_gateway_ratelimit_rejections_total"],
        _ => vec![],
    });
    all
}

/// Parses `text` as Prometheus exposition text: every line a comment, a
/// sample or empty. Returns the metric names seen.
fn parse(text: &str) -> Result<BTreeSet<String>, String> {
    use prometheus_parse::LineInfo;
    for line in text.lines() {
        if matches!(LineInfo::parse(line), LineInfo::Ignored) && !line.starts_with('#') {
            return Err(format!("not Prometheus text: {line:?}"));
        }
    }
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .map_err(|e| e.to_string())?;
    Ok(scrape
        .samples
        .iter()
        .map(|s| {
            let m = s.metric.as_str();
            m.strip_suffix("_bucket")
                .or_else(|| m.strip_suffix("_sum"))
                .or_else(|| m.strip_suffix("_count"))
                .unwrap_or(m)
                .to_string()
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_serves_its_metrics_and_the_gateway_gathers_the_whole_mesh() {
    let broker = Broker::start(Storage::Memory);
    let mut mesh = ProcMesh::new(env!("CARGO_BIN_EXE_cg-service"), &broker)
        .start(&e2e::procs::SERVICES)
        .await;
    let gateway = cg_testkit::channel(&mesh.first("gateway").endpoint()).await;

    // Traffic through the gateway: a job and a diagnosis.
    let mut c = Clients::connect(mesh.first("provisioning").endpoint()).await;
    let cluster = c.cluster("observed", "nyc1").await;
    let job = jpb::job_service_client::JobServiceClient::new(gateway.clone())
        .create_job(bearer(
            ADMIN,
            cg_testkit::jobs::provision_one(&cluster.id, "observed"),
        ))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    let jobs = jpb::job_service_client::JobServiceClient::new(
        cg_testkit::channel(&mesh.first("jobs").endpoint()).await,
    );
    e2e::follow_job(&jobs, &job.id, WAIT).await;
    dpb::diagnosis_service_client::DiagnosisServiceClient::new(gateway.clone())
        .diagnose(bearer(
            ADMIN,
            dpb::DiagnoseRequest {
                cluster_id: cluster.id.clone(),
                use_llm: true,
                ..Default::default()
            },
        ))
        .await
        .expect("a diagnosis");

    for proc in &mesh.procs {
        let service = proc.service;
        let names = eventually(WAIT, &format!("{service}'s series"), || async move {
            let text = proc.scrape().await?;
            let names = parse(&text)?;
            let missing: Vec<_> = wanted(service)
                .into_iter()
                .filter(|w| !names.contains(*w))
                .collect();
            if missing.is_empty() {
                Ok(text)
            } else {
                Err(format!("missing {missing:?}"))
            }
        })
        .await;
        // RED: the service's own calls, labelled by method and code.
        assert!(
            names
                .lines()
                .any(|l| l.starts_with("cg_grpc_requests_total{")
                    && l.contains(&format!("service=\"{service}\""))
                    && l.contains("code=\"OK\"")),
            "{service} counts its calls by code"
        );
    }
    let gw = mesh.first("gateway").scrape().await.unwrap();
    assert!(
        gw.lines().any(|l| l.starts_with("cg_grpc_requests_total{")
            && l.contains("/clustergenie.jobs.v1.JobService/CreateJob")),
        "the gateway counts the call it forwarded"
    );

    // The System page's source: every process, as the gateway gathers it.
    let mut system = gpb::system_service_client::SystemServiceClient::new(gateway.clone());
    let status = system
        .get_system_status(bearer(ADMIN, gpb::GetSystemStatusRequest {}))
        .await
        .expect("the system status")
        .into_inner();
    let names: Vec<&str> = status.services.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(
        names,
        [
            "gateway",
            "diagnosis",
            "jobs",
            "monitoring",
            "provisioning",
            "scaler"
        ]
    );
    for s in &status.services {
        assert_eq!(
            s.serving,
            spb::Serving::Serving as i32,
            "{}: {s:?}",
            s.service
        );
        assert!(!s.instance.is_empty() && s.start_time.is_some());
        let db = s.dependencies.iter().find(|d| d.name == "database");
        assert!(
            db.is_some_and(|d| d.state == spb::DependencyState::Up as i32),
            "{} reaches its database: {:?}",
            s.service,
            s.dependencies
        );
        assert!(
            s.dependencies
                .iter()
                .any(|d| d.name == "broker" && d.state == spb::DependencyState::Up as i32),
            "{} reaches the broker",
            s.service
        );
        let outbox = s.outbox.as_ref().expect("every service keeps an outbox");
        assert_eq!(outbox.parked, 0, "{}", s.service);
    }
    let of = |name: &str| status.services.iter().find(|s| s.service == name).unwrap();
    let prov = of("provisioning");
    let pool = prov
        .worker_pools
        .iter()
        .find(|p| p.name == "executor")
        .expect("the executor's pool");
    assert!(pool.workers > 0 && pool.busy >= 0 && pool.busy <= pool.workers);
    assert!(
        prov.queues
            .iter()
            .any(|q| q.name == "executor" && q.capacity > 0)
    );
    let dlq: Vec<_> = prov
        .dead_letters
        .iter()
        .map(|d| (d.topic.as_str(), d.records))
        .collect();
    assert!(
        dlq.contains(&("cg.jobs.requested.dlq", 0)),
        "provisioning watches its dead letters: {dlq:?}"
    );
    eventually(WAIT, "consumer lag rows for provisioning", || {
        let mut system = system.clone();
        async move {
            let status = system
                .get_system_status(bearer(ADMIN, gpb::GetSystemStatusRequest {}))
                .await
                .map_err(|e| e.to_string())?
                .into_inner();
            let prov = status
                .services
                .into_iter()
                .find(|s| s.service == "provisioning")
                .unwrap();
            if prov
                .consumer_lag
                .iter()
                .any(|l| l.topic == "cg.jobs.requested" && l.lag >= 0)
            {
                Ok(())
            } else {
                Err(format!("{:?}", prov.consumer_lag))
            }
        }
    })
    .await;
    let counters: Vec<_> = of("gateway")
        .counters
        .iter()
        .map(|c| {
            (
                c.name.as_str(),
                c.labels.get("tier").cloned().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        counters.contains(&("ratelimit_rejections", "expensive".to_string())),
        "the gateway shows its rejections: {counters:?}"
    );
    let llm: f64 = of("diagnosis")
        .counters
        .iter()
        .filter(|c| c.name == "llm_calls")
        .map(|c| c.value)
        .sum();
    assert!(
        llm >= 1.0,
        "the diagnosis asked for the LLM (not configured) once"
    );

    // A backend that dies is listed as unreachable; the page still answers.
    mesh.replicas("scaler").for_each(|p| p.kill_9());
    let status = system
        .get_system_status(bearer(ADMIN, gpb::GetSystemStatusRequest {}))
        .await
        .expect("the system status without the scaler")
        .into_inner();
    let scaler = status
        .services
        .iter()
        .find(|s| s.service == "scaler")
        .unwrap();
    assert_eq!(scaler.serving, spb::Serving::Unreachable as i32);
    assert!(!scaler.error.is_empty());
    assert_eq!(
        status
            .services
            .iter()
            .filter(|s| s.serving == spb::Serving::Serving as i32)
            .count(),
        5
    );

    // Nobody reaches a process's own status through the gateway.
    let denied = spb::process_service_client::ProcessServiceClient::new(gateway)
        .get_process_status(bearer(ADMIN, spb::GetProcessStatusRequest {}))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
}
