//! The dashboard in a real browser (Debian's Chromium driven by
//! playwright-core) against the embedded mesh: the real gateway, services,
//! SQLite and a tansu broker. The browser steps live in
//! `web/e2e/dashboard.e2e.mjs`; screenshots land in `web/e2e/artifacts/`.

use std::time::Duration;

use clustergenie_proto::gateway::v1 as gw;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_the_story_in_the_dashboard() {
    let web = e2e::repo().join("web");
    assert!(
        web.join("dist/index.html").exists() && web.join("node_modules/playwright-core").exists(),
        "the dashboard is not built: run tests through `just test` (it builds web/)"
    );
    let dir = tempfile::tempdir().unwrap();
    let mesh = clustergenie::Mesh::start(e2e::embedded(
        dir.path(),
        &web.join("dist"),
        Duration::from_millis(500),
    ))
    .await
    .expect("mesh starts");

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", mesh.gateway))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut tokens = gw::token_service_client::TokenServiceClient::new(channel);
    let mut create = tonic::Request::new(gw::CreateTokenRequest {
        name: "limited".into(),
        role: gw::Role::Operator as i32,
    });
    create.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", mesh.admin_token).parse().unwrap(),
    );
    let limited = tokens
        .create_token(create)
        .await
        .unwrap()
        .into_inner()
        .secret;

    let script = web.join("e2e/dashboard.e2e.mjs");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .current_dir(&web)
        .env("CG_URL", format!("http://{}", mesh.gateway))
        .env("CG_ADMIN_TOKEN", &mesh.admin_token)
        .env("CG_LIMITED_TOKEN", &limited)
        .env("CG_LIMIT_REQUESTS", "5")
        .env("CG_E2E_TIMEOUT_S", "90")
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    mesh.shutdown().await.expect("mesh stops cleanly");
    assert!(
        out.status.success(),
        "the browser story failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("e2e: all steps passed"), "{stdout}");
    for step in [
        "sign-in-admin",
        "create-droplet",
        "resize-droplet",
        "scale-to-3",
        "create-health-check",
        "create-alert-rule",
        "inject-cpu-fault",
        "check-unhealthy",
        "cluster-health-badge",
        "alert-fires",
        "activity-log",
        "inject-memory-leak",
        "diagnose-memory-leak",
        "implement-resize",
        "droplet-resized",
        "autoscaling-policy",
        "autoscaling-scale-up",
        "autoscaling-scale-down",
        "rate-limit",
    ] {
        assert!(
            stdout.contains(&format!("▶ {step} …")),
            "{step} did not run:\n{stdout}"
        );
    }
    let shots = std::fs::read_dir(web.join("e2e/artifacts"))
        .unwrap()
        .count();
    assert!(shots >= 18, "screenshots are kept as artifacts");
}
