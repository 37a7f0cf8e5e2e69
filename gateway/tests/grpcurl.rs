//! grpcurl (the real binary) through the gateway: reflection lists every
//! public service; anonymous and viewer mutations are refused; an operator's
//! goes through to the backend.

mod common;

use std::process::Command;

use clustergenie_proto::gateway::v1 as gpb;
use common::{Mesh, token};

fn grpcurl(args: &[&str]) -> std::process::Output {
    let bin = std::env::var("GRPCURL").unwrap_or_else(|_| "grpcurl".into());
    Command::new(&bin)
        .arg("-plaintext")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin} ({e}); `just test` installs it"))
}

async fn run(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        grpcurl(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcurl_sees_every_service_and_the_roles_hold() {
    let mesh = Mesh::start().await;
    let gw = mesh.gateway(&mesh.config()).await;
    let addr = gw.addr.to_string();

    let out = run(vec![addr.clone(), "list".into()]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).unwrap();
    for service in gateway::public_services() {
        assert!(
            listed.lines().any(|l| l == service),
            "{service} missing from:\n{listed}"
        );
    }
    for expected in [
        "clustergenie.provisioning.v1.DropletService",
        "clustergenie.jobs.v1.JobService",
        "clustergenie.diagnosis.v1.DiagnosisService",
        "clustergenie.monitoring.v1.MetricsService",
        "clustergenie.scaler.v1.ScalerService",
        "clustergenie.gateway.v1.TokenService",
    ] {
        assert!(
            listed.contains(expected),
            "{expected} missing from:\n{listed}"
        );
    }
    // Reflection describes methods too, so grpcurl can build requests.
    let out = run(vec![
        addr.clone(),
        "describe".into(),
        "clustergenie.provisioning.v1.ClusterService.CreateCluster".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let create = |who: Option<&str>| {
        let mut args = vec![
            "-d".to_string(),
            r#"{"name":"via-gateway","region":"nyc1"}"#.to_string(),
        ];
        if let Some(t) = who {
            args.extend(["-H".into(), format!("authorization: Bearer {t}")]);
        }
        args.extend([
            addr.clone(),
            "clustergenie.provisioning.v1.ClusterService/CreateCluster".into(),
        ]);
        args
    };
    let anonymous = run(create(None)).await;
    assert!(!anonymous.status.success());
    assert!(
        String::from_utf8_lossy(&anonymous.stderr).contains("Code: Unauthenticated"),
        "{}",
        String::from_utf8_lossy(&anonymous.stderr)
    );
    let viewer = token(&gw, "viewer", gpb::Role::Viewer).await;
    let denied = run(create(Some(&viewer))).await;
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Code: PermissionDenied"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    let operator = token(&gw, "operator", gpb::Role::Operator).await;
    let ok = run(create(Some(&operator))).await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(body["cluster"]["name"], "via-gateway");
    assert_eq!(body["cluster"]["region"], "nyc1");
    gw.stop().await;
    mesh.stop().await;
}
