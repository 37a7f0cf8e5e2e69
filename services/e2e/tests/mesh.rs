//! The embedded launcher starts every service on SQLite and stops cleanly.

use std::time::Duration;

use clustergenie_proto::{
    diagnosis::v1 as diag, gateway::v1 as gw, jobs::v1 as jobs, provisioning::v1 as prov,
};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mesh_starts_serves_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mesh = clustergenie::Mesh::start(e2e::embedded(
        dir.path(),
        &dir.path().join("web"),
        Duration::from_millis(100),
    ))
    .await
    .expect("mesh starts");
    let names: Vec<_> = mesh.services.iter().map(|s| s.name).collect();
    assert_eq!(
        names,
        ["provisioning", "jobs", "monitoring", "diagnosis", "scaler"]
    );
    for s in &mesh.services {
        cg_runtime::grpc::probe(s.addr)
            .await
            .unwrap_or_else(|e| panic!("{} is not healthy: {e}", s.name));
    }

    let endpoint = |name: &str| {
        let addr = mesh.services.iter().find(|s| s.name == name).unwrap().addr;
        tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap()
    };
    let mut clusters =
        prov::cluster_service_client::ClusterServiceClient::connect(endpoint("provisioning"))
            .await
            .unwrap();
    let cluster = clusters
        .create_cluster(prov::CreateClusterRequest {
            name: "embedded".into(),
            region: "ams3".into(),
            ..Default::default()
        })
        .await
        .expect("provisioning works on SQLite")
        .into_inner()
        .cluster
        .unwrap();

    let mut jobs = jobs::job_service_client::JobServiceClient::connect(endpoint("jobs"))
        .await
        .unwrap();
    let err = jobs
        .get_job(jobs::GetJobRequest {
            id: "01900000-0000-7000-8000-000000000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "jobs runs on SQLite");
    // The embedded broker carries a job to provisioning's executor and back.
    let job = jobs
        .create_job(cg_testkit::jobs::scale_cluster(&cluster.id, 2))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    e2e::wait_job(
        &mut jobs,
        &job.id,
        Duration::from_secs(20),
        "the job to succeed on the embedded mesh",
        |j| j.status == jobs::JobStatus::Succeeded as i32,
    )
    .await;
    // Diagnosis reaches provisioning, monitoring and jobs where the
    // launcher started them.
    let mut diagnosis =
        diag::diagnosis_service_client::DiagnosisServiceClient::connect(endpoint("diagnosis"))
            .await
            .unwrap();
    let d = diagnosis
        .diagnose(diag::DiagnoseRequest {
            cluster_id: cluster.id.clone(),
            ..Default::default()
        })
        .await
        .expect("a diagnosis on the embedded mesh")
        .into_inner()
        .diagnosis
        .unwrap();
    assert_eq!(d.status, diag::DiagnosisStatus::Completed as i32);
    let err = diagnosis
        .get_diagnosis(diag::GetDiagnosisRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // The gateway fronts them all, with the admin token the launcher printed.
    let gateway = tonic::transport::Endpoint::from_shared(format!("http://{}", mesh.gateway))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut tokens = gw::token_service_client::TokenServiceClient::new(gateway.clone());
    let mut who = tonic::Request::new(gw::WhoAmIRequest {});
    who.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", mesh.admin_token).parse().unwrap(),
    );
    let me = tokens
        .who_am_i(who)
        .await
        .unwrap()
        .into_inner()
        .token
        .unwrap();
    assert_eq!(me.role(), gw::Role::Admin);
    let mut via_gateway = prov::cluster_service_client::ClusterServiceClient::new(gateway);
    let mut get = tonic::Request::new(prov::GetClusterRequest {
        id: cluster.id.clone(),
    });
    get.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", mesh.admin_token).parse().unwrap(),
    );
    let through = via_gateway.get_cluster(get).await.unwrap().into_inner();
    assert_eq!(through.cluster.unwrap().name, "embedded");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("admin-token")).unwrap(),
        mesh.admin_token,
        "the token survives restarts"
    );

    mesh.shutdown().await.expect("every service drains cleanly");
    assert!(dir.path().join("provisioning.db").exists());
    assert!(dir.path().join("jobs.db").exists());
}
