//! One trace across gRPC and Kafka. The mesh runs one process per service,
//! each exporting its spans over OTLP to a receiver the test runs. A job
//! created through the gateway is one trace: the gateway's call, jobs'
//! CreateJob, provisioning consuming the request and running the attempt,
//! jobs consuming its progress; the activity entries it causes carry that
//! trace's id. A recommendation implemented through diagnosis continues the
//! caller's trace into the job it creates.

use std::{collections::BTreeSet, time::Duration};

use cg_testkit::{Broker, Storage, eventually, otlp::Receiver, provisioning::Clients};
use clustergenie_proto::{
    diagnosis::v1 as dpb, jobs::v1 as jpb, monitoring::v1 as mpb, provisioning::v1 as ppb,
};
use e2e::{ADMIN, bearer, procs::ProcMesh};

const WAIT: Duration = Duration::from_secs(60);

/// A caller's own trace: `traceparent` with a fresh trace id.
fn traced<T>(body: T) -> (tonic::Request<T>, String) {
    let trace_id = uuid_hex();
    let mut req = bearer(ADMIN, body);
    req.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{}-01", &uuid_hex()[..16])
            .parse()
            .unwrap(),
    );
    (req, trace_id)
}

fn uuid_hex() -> String {
    cg_runtime::new_id().replace('-', "")
}

/// The services that sent spans of `trace_id`, once `want` are among them,
/// with the span names seen.
async fn trace_across(
    receiver: &Receiver,
    trace_id: &str,
    want: &[&str],
    names: &[&str],
) -> Vec<cg_testkit::otlp::Span> {
    eventually(WAIT, &format!("trace {trace_id} across {want:?}"), || {
        let spans: Vec<_> = receiver
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect();
        async move {
            let services: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
            let seen: BTreeSet<&str> = spans.iter().map(|s| s.name.as_str()).collect();
            // Every span but the caller's root (the gateway's) has its
            // parent in the trace.
            let ids: BTreeSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
            let orphans: Vec<_> = spans
                .iter()
                .filter(|s| s.service != "gateway" && !ids.contains(s.parent_span_id.as_str()))
                .map(|s| format!("{}:{}", s.service, s.name))
                .collect();
            if want.iter().all(|w| services.contains(w))
                && names.iter().all(|n| seen.contains(n))
                && orphans.is_empty()
            {
                Ok(spans.clone())
            } else {
                Err(format!(
                    "services {services:?}, spans {seen:?}, without their parent {orphans:?}"
                ))
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_one_trace_from_the_gateway_through_kafka_and_back_and_so_is_an_implemented_diagnosis()
 {
    let receiver = Receiver::start().await;
    let broker = Broker::start(Storage::Memory);
    let mesh = ProcMesh::new(env!("CARGO_BIN_EXE_cg-service"), &broker)
        .export_spans_to(&receiver.endpoint())
        .start(&["provisioning", "jobs", "monitoring", "diagnosis", "gateway"])
        .await;
    let gateway = cg_testkit::channel(&mesh.first("gateway").endpoint()).await;
    let mut jobs = jpb::job_service_client::JobServiceClient::new(gateway.clone());
    let mut c = Clients::connect(mesh.first("provisioning").endpoint()).await;
    let cluster = c.cluster("traced", "nyc1").await;

    // A job created through the gateway, under the caller's trace.
    let (req, trace_id) = traced(cg_testkit::jobs::provision_one(&cluster.id, "traced"));
    let job = jobs
        .create_job(req)
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    let (done, _) = e2e::follow_job(
        &jpb::job_service_client::JobServiceClient::new(
            cg_testkit::channel(&mesh.first("jobs").endpoint()).await,
        ),
        &job.id,
        WAIT,
    )
    .await;
    assert_eq!(done.status, jpb::JobStatus::Succeeded as i32);

    let spans = trace_across(
        &receiver,
        &trace_id,
        &["gateway", "jobs", "provisioning"],
        &[
            "cg.jobs.requested process",
            "job attempt",
            "cg.jobs.progress process",
        ],
    )
    .await;
    let by = |service: &str, name: &str| {
        spans
            .iter()
            .filter(|s| s.service == service && s.name == name)
            .count()
    };
    assert!(
        by("provisioning", "cg.jobs.requested process") >= 1,
        "provisioning consumed the request in the trace"
    );
    assert!(
        by("provisioning", "job attempt") >= 1,
        "the executor ran it in the trace"
    );
    assert!(
        by("jobs", "cg.jobs.progress process") >= 1,
        "jobs consumed its progress in the trace"
    );

    // The job's activity entries carry the trace id.
    let activity = mpb::activity_service_client::ActivityServiceClient::new(
        cg_testkit::channel(&mesh.first("monitoring").endpoint()).await,
    );
    eventually(WAIT, "the job's activity entries with its trace id", || {
        let (mut activity, job_id, trace_id) = (activity.clone(), job.id.clone(), trace_id.clone());
        async move {
            let entries = activity
                .list_activity(mpb::ListActivityRequest {
                    job_id,
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?
                .into_inner()
                .entries;
            let kinds: Vec<_> = entries
                .iter()
                .map(|e| format!("{}={}", e.kind, e.trace_id))
                .collect();
            let traced = |kind: &str| {
                entries
                    .iter()
                    .any(|e| e.kind == kind && e.trace_id == trace_id)
            };
            if traced("job.created") && traced("job.succeeded") {
                Ok(())
            } else {
                Err(kinds.join(", "))
            }
        }
    })
    .await;

    // A lone droplet: diagnosis recommends a second; implementing it
    // continues the caller's trace into the job and provisioning.
    let lone = c.cluster("lone", "nyc1").await;
    let d = c
        .droplets
        .create_droplet(Clients::droplet_request(&lone.id, "lone"))
        .await
        .unwrap()
        .into_inner()
        .droplet
        .unwrap();
    c.wait_droplet(&d.id, ppb::DropletStatus::Active).await;
    let mut diagnosis = dpb::diagnosis_service_client::DiagnosisServiceClient::new(gateway);
    // Diagnose is in the expensive tier (30 a minute): ask every 2 s.
    let diagnosed = eventually(WAIT, "a scale recommendation", || {
        let (mut diagnosis, cluster_id) = (diagnosis.clone(), lone.id.clone());
        async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let d = diagnosis
                .diagnose(bearer(
                    ADMIN,
                    dpb::DiagnoseRequest {
                        cluster_id,
                        ..Default::default()
                    },
                ))
                .await
                .map_err(|e| e.to_string())?
                .into_inner()
                .diagnosis
                .unwrap();
            let rec = d.recommendations.iter().find(|r| {
                matches!(
                    r.action.as_ref().and_then(|a| a.action.as_ref()),
                    Some(jpb::job_action::Action::ScaleCluster(_))
                )
            });
            match rec {
                Some(r) => Ok((d.id.clone(), r.id.clone())),
                None => Err(format!("{} findings", d.findings.len())),
            }
        }
    })
    .await;
    let (req, trace_id) = traced(dpb::ImplementRecommendationRequest {
        diagnosis_id: diagnosed.0,
        recommendation_id: diagnosed.1,
        request_id: "traced-scale".into(),
    });
    let job = diagnosis
        .implement_recommendation(req)
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    assert!(!job.id.is_empty());
    trace_across(
        &receiver,
        &trace_id,
        &["gateway", "diagnosis", "jobs", "provisioning"],
        &["job attempt"],
    )
    .await;
}
