//! The gateway in front of real provisioning and jobs services on MariaDB:
//! tokens and roles, rate limits (in process and shared through Redis),
//! gRPC-web, CORS and the dashboard's files on the same port.

use std::time::Duration;

use clustergenie_proto::{gateway::v1 as gpb, monitoring::v1 as mpb, provisioning::v1 as pb};
use e2e::{ADMIN, Flow, bearer, channel, fast_cloud, token};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::Code;
use tonic_types::StatusExt as _;

type Clusters = pb::cluster_service_client::ClusterServiceClient<tonic::transport::Channel>;
type Tokens = gpb::token_service_client::TokenServiceClient<tonic::transport::Channel>;
type Limits = gpb::rate_limit_service_client::RateLimitServiceClient<tonic::transport::Channel>;

fn create(name: &str) -> pb::CreateClusterRequest {
    pb::CreateClusterRequest {
        name: name.into(),
        region: "nyc1".into(),
        ..Default::default()
    }
}

fn budget(requests: u32, secs: u64) -> gateway::limits::Budget {
    gateway::limits::Budget {
        requests,
        period: Duration::from_secs(secs),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_carry_roles_and_revoked_tokens_stop_working() {
    let mesh = Flow::start(fast_cloud()).await;
    let gw = mesh.gateway(&mesh.gateway_config()).await;
    let mut tokens = Tokens::new(channel(&gw.endpoint()).await);
    let mut clusters = Clusters::new(channel(&gw.endpoint()).await);

    let anonymous = clusters
        .list_clusters(pb::ListClustersRequest::default())
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let forged = clusters
        .list_clusters(bearer(
            "cgt_notarealtoken000000000000",
            pb::ListClustersRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);
    // Guessing tokens draws from the anonymous budget like any anonymous call.
    assert_eq!(
        forged.metadata().get("ratelimit-limit").unwrap(),
        &mesh.gateway_config().limits.anonymous.requests.to_string()
    );

    let viewer = token(&gw.endpoint(), "dashboard", gpb::Role::Viewer).await;
    let operator = token(&gw.endpoint(), "ci", gpb::Role::Operator).await;
    let me = tokens
        .who_am_i(bearer(&viewer, gpb::WhoAmIRequest {}))
        .await
        .unwrap()
        .into_inner()
        .token
        .unwrap();
    assert_eq!(
        (me.name.as_str(), me.role()),
        ("dashboard", gpb::Role::Viewer)
    );
    assert!(viewer.starts_with(&me.prefix));

    clusters
        .list_clusters(bearer(&viewer, pb::ListClustersRequest::default()))
        .await
        .expect("viewers read");
    let denied = clusters
        .create_cluster(bearer(&viewer, create("web")))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let created = clusters
        .create_cluster(bearer(&operator, create("web")))
        .await
        .expect("operators mutate")
        .into_inner()
        .cluster
        .unwrap();
    assert_eq!(created.name, "web");
    // Backend errors pass through untouched, details included.
    let invalid = clusters
        .create_cluster(bearer(&operator, create("Not A Name")))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    assert!(invalid.get_error_details().bad_request().is_some());
    // Only admins manage tokens.
    let not_admin = tokens
        .list_tokens(bearer(&operator, gpb::ListTokensRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(not_admin.code(), Code::PermissionDenied);

    let listed = tokens
        .list_tokens(bearer(ADMIN, gpb::ListTokensRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .tokens;
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["bootstrap", "dashboard", "ci"]);
    let ci = listed.iter().find(|t| t.name == "ci").unwrap().id.clone();
    let revoked = tokens
        .revoke_token(bearer(ADMIN, gpb::RevokeTokenRequest { id: ci.clone() }))
        .await
        .unwrap()
        .into_inner()
        .token
        .unwrap();
    assert!(revoked.revoke_time.is_some());
    let gone = clusters
        .list_clusters(bearer(&operator, pb::ListClustersRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::Unauthenticated);
    // The last admin cannot lock everyone out.
    let bootstrap = listed
        .iter()
        .find(|t| t.name == "bootstrap")
        .unwrap()
        .id
        .clone();
    let last = tokens
        .revoke_token(bearer(ADMIN, gpb::RevokeTokenRequest { id: bootstrap }))
        .await
        .unwrap_err();
    assert_eq!(last.code(), Code::FailedPrecondition);
    let bad = tokens
        .create_token(bearer(
            ADMIN,
            gpb::CreateTokenRequest {
                name: String::new(),
                role: 0,
            },
        ))
        .await
        .unwrap_err();
    let mut fields: Vec<String> = bad
        .get_error_details()
        .bad_request()
        .unwrap()
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    fields.sort();
    assert_eq!(fields, ["name", "role"]);

    // Token changes reach the activity log: written with the change into
    // the token store's outbox, published by the mesh gateway's relay.
    let activity =
        mpb::activity_service_client::ActivityServiceClient::new(channel(&gw.endpoint()).await);
    let logged = cg_testkit::eventually(Duration::from_secs(30), "token activity", || {
        let mut activity = activity.clone();
        async move {
            let entries = activity
                .list_activity(bearer(
                    ADMIN,
                    mpb::ListActivityRequest {
                        kind: "token.".into(),
                        source: "gateway".into(),
                        page_size: 100,
                        ..Default::default()
                    },
                ))
                .await
                .map_err(|e| e.to_string())?
                .into_inner()
                .entries;
            let has = |kind: &str, text: &str| {
                entries
                    .iter()
                    .any(|e| e.kind == kind && e.message.contains(text))
            };
            if has("token.created", "token ci (operator)") && has("token.revoked", "token ci") {
                Ok(entries.len())
            } else {
                Err(format!("{entries:?}"))
            }
        }
    })
    .await;
    assert!(logged >= 2);
    gw.stop().await.expect("stops cleanly");
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_configured_token_the_first_start_generates_one_admin_token() {
    let mesh = Flow::start(fast_cloud()).await;
    // A token store of its own: nothing bootstrapped it yet.
    let db = cg_testkit::TestDb::new(cg_testkit::Backend::MySql).await;
    let mut config = mesh.gateway_config();
    config.common.database = db.config();
    config.auth.bootstrap_token = None;
    let first = cg_runtime::kit::build::<gateway::GatewayService>(&config)
        .await
        .unwrap();
    let secret = first
        .service()
        .bootstrap_secret
        .clone()
        .expect("a generated admin token");
    assert!(gateway::auth::Secret::parse(&secret).is_ok());
    let admin = first
        .service()
        .tokens
        .authenticate(&gateway::auth::Secret::parse(&secret).unwrap())
        .await
        .unwrap()
        .expect("the generated token is valid");
    assert_eq!(admin.role, gateway::auth::Role::Admin);
    drop(first);
    // Printed once: the next start (an admin exists) generates nothing.
    let second = cg_runtime::kit::build::<gateway::GatewayService>(&config)
        .await
        .unwrap();
    assert_eq!(second.service().bootstrap_secret, None);
    assert_eq!(second.service().tokens.list(false).await.unwrap().len(), 1);
    drop(second);
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_reports_the_budget_and_excess_is_refused_with_retry_info() {
    let mesh = Flow::start(fast_cloud()).await;
    let mut config = mesh.gateway_config();
    config.limits.default = budget(3, 60);
    config.limits.expensive = budget(1, 60);
    let gw = mesh.gateway(&config).await;
    let operator = token(&gw.endpoint(), "ci", gpb::Role::Operator).await;
    let mut clusters = Clusters::new(channel(&gw.endpoint()).await);
    for left in ["2", "1", "0"] {
        let resp = clusters
            .list_clusters(bearer(&operator, pb::ListClustersRequest::default()))
            .await
            .unwrap();
        let md = resp.metadata();
        assert_eq!(md.get("ratelimit-limit").unwrap(), "3");
        assert_eq!(md.get("ratelimit-remaining").unwrap(), left);
        let reset: u64 = md
            .get("ratelimit-reset")
            .unwrap()
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&reset), "reset {reset}");
    }
    let refused = clusters
        .list_clusters(bearer(&operator, pb::ListClustersRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    let retry = refused
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
        .expect("retry info");
    assert!(retry > Duration::from_secs(10) && retry <= Duration::from_secs(20));
    assert_eq!(refused.metadata().get("ratelimit-remaining").unwrap(), "0");
    assert!(refused.metadata().get("retry-after").is_some());

    // CreateJob draws from the tighter expensive budget of the same token.
    let mut jobs = clustergenie_proto::jobs::v1::job_service_client::JobServiceClient::new(
        channel(&gw.endpoint()).await,
    );
    let job = || {
        bearer(
            &operator,
            cg_testkit::jobs::scale_cluster(&cg_runtime::new_id(), 2),
        )
    };
    let first = jobs.create_job(job()).await.expect("first job");
    assert_eq!(first.metadata().get("ratelimit-limit").unwrap(), "1");
    let second = jobs.create_job(job()).await.unwrap_err();
    assert_eq!(second.code(), Code::ResourceExhausted);

    // An admin raises the default budget; it applies at once.
    let mut limits = Limits::new(channel(&gw.endpoint()).await);
    let updated = limits
        .update_rate_limits(bearer(
            ADMIN,
            gpb::UpdateRateLimitsRequest {
                limits: vec![gpb::RateLimit {
                    tier: "default".into(),
                    requests: 100,
                    period_seconds: 60,
                }],
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .limits;
    assert!(
        updated
            .iter()
            .any(|l| l.tier == "default" && l.requests == 100)
    );
    clusters
        .list_clusters(bearer(&operator, pb::ListClustersRequest::default()))
        .await
        .expect("the new budget applies");
    let bad = limits
        .update_rate_limits(bearer(
            ADMIN,
            gpb::UpdateRateLimitsRequest {
                limits: vec![gpb::RateLimit {
                    tier: "cheap".into(),
                    requests: 0,
                    period_seconds: 60,
                }],
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    gw.stop().await.expect("stops cleanly");
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sharing_redis_enforce_one_budget() {
    let mesh = Flow::start(fast_cloud()).await;
    let mut config = mesh.gateway_config();
    config.limits.redis_url = Some(secrecy::SecretString::from("redis://127.0.0.1:6379"));
    // A fresh key space per run: Redis outlives the test.
    config.limits.redis_prefix = format!("cg-test:{}", cg_runtime::new_id());
    config.limits.default = budget(4, 60);
    let a = mesh.gateway(&config).await;
    let b = mesh.gateway(&config).await;
    let operator = token(&a.endpoint(), "shared", gpb::Role::Operator).await;
    let mut on_a = Clusters::new(channel(&a.endpoint()).await);
    let mut on_b = Clusters::new(channel(&b.endpoint()).await);
    let mut remaining = Vec::new();
    for i in 0..4 {
        let client = if i % 2 == 0 { &mut on_a } else { &mut on_b };
        let resp = client
            .list_clusters(bearer(&operator, pb::ListClustersRequest::default()))
            .await
            .unwrap_or_else(|e| panic!("call {i} within budget: {e}"));
        remaining.push(
            resp.metadata()
                .get("ratelimit-remaining")
                .unwrap()
                .to_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        remaining,
        ["3", "2", "1", "0"],
        "one budget across both replicas"
    );
    for client in [&mut on_a, &mut on_b] {
        let refused = client
            .list_clusters(bearer(&operator, pb::ListClustersRequest::default()))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
    }
    a.stop().await.expect("stops cleanly");
    b.stop().await.expect("stops cleanly");
    mesh.stop().await;
}

/// One HTTP/1.1 exchange over a fresh connection; returns the raw response.
async fn http1(addr: std::net::SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut out))
        .await
        .expect("the gateway closes the connection")
        .unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_cors_and_the_dashboard_share_one_port() {
    let mesh = Flow::start(fast_cloud()).await;
    let web = tempfile::tempdir().unwrap();
    std::fs::write(web.path().join("index.html"), "<title>ClusterGenie</title>").unwrap();
    std::fs::create_dir(web.path().join("assets")).unwrap();
    std::fs::write(web.path().join("assets/index-abc123.js"), "console.log(1)").unwrap();
    let mut config = mesh.gateway_config();
    config.web_root = web.path().to_path_buf();
    config.trace_ui_url = Some("http://traces.test/trace/{trace_id}".into());
    let gw = mesh.gateway(&config).await;

    // A gRPC-web call over HTTP/1.1: ListRegions with an empty message.
    let frame = [0u8, 0, 0, 0, 0];
    let mut req = format!(
        "POST /clustergenie.provisioning.v1.CatalogService/ListRegions HTTP/1.1\r\n\
         host: localhost\r\ncontent-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\n\
         authorization: Bearer {ADMIN}\r\norigin: http://example.test\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        frame.len()
    )
    .into_bytes();
    req.extend_from_slice(&frame);
    let resp = http1(gw.addr, &req).await;
    let text = String::from_utf8_lossy(&resp);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("content-type: application/grpc-web"),
        "{text}"
    );
    assert!(text.contains("ratelimit-remaining"), "{text}");
    assert!(text.contains("nyc1"), "the regions came back: {text}");
    assert!(text.contains("grpc-status:0"), "the trailer frame: {text}");

    // The browser's preflight.
    let preflight = http1(
        gw.addr,
        b"OPTIONS /clustergenie.jobs.v1.JobService/CreateJob HTTP/1.1\r\nhost: localhost\r\n\
          origin: http://example.test\r\naccess-control-request-method: POST\r\n\
          access-control-request-headers: authorization,content-type,x-grpc-web\r\n\
          connection: close\r\n\r\n",
    )
    .await;
    let preflight = String::from_utf8_lossy(&preflight).to_lowercase();
    assert!(
        preflight.contains("access-control-allow-origin: *"),
        "{preflight}"
    );
    assert!(preflight.contains("authorization"), "{preflight}");
    // The actual answer exposes gRPC status and the budget to scripts.
    let text = text.to_lowercase();
    for header in [
        "grpc-status",
        "grpc-status-details-bin",
        "ratelimit-remaining",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("access-control-expose-headers") && l.contains(header)),
            "{header} exposed: {text}"
        );
    }

    // Static files, with the app's own paths (typed, shared, bookmarked)
    // answered with index.html, which is never cached stale.
    let get = |path: &str| {
        let addr = gw.addr;
        let request =
            format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
        async move { String::from_utf8_lossy(&http1(addr, request.as_bytes()).await).to_lowercase() }
    };
    for path in [
        "/",
        "/jobs",
        "/clusters/123",
        "/monitoring/checks?cluster=1",
    ] {
        let page = get(path).await;
        assert!(page.starts_with("http/1.1 200"), "{path}: {page}");
        assert!(
            page.contains("<title>clustergenie</title>"),
            "{path}: {page}"
        );
        assert!(page.contains("cache-control: no-cache"), "{path}: {page}");
    }
    // Hashed assets are kept for good; a stale one is a 404, not the app.
    let asset = get("/assets/index-abc123.js").await;
    assert!(asset.starts_with("http/1.1 200"), "{asset}");
    assert!(asset.contains("immutable"), "{asset}");
    assert!(asset.contains("console.log(1)"), "{asset}");
    let stale = get("/assets/index-old999.js").await;
    assert!(stale.starts_with("http/1.1 404"), "{stale}");
    // An RPC path without gRPC's content type is not a page of the app.
    let rpc = get("/clustergenie.jobs.v1.JobService/ListJobs").await;
    assert!(rpc.starts_with("http/1.1 404"), "{rpc}");
    // What the dashboard learns of this deployment: where traces are shown.
    let config = get("/config.json").await;
    assert!(config.starts_with("http/1.1 200"), "{config}");
    assert!(config.contains("application/json"), "{config}");
    assert!(
        config.contains(r#"{"traceurl":"http://traces.test/trace/{trace_id}"}"#),
        "{config}"
    );
    gw.stop().await.expect("stops cleanly");
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_capped_per_token_and_a_revoked_tokens_watch_ends() {
    use clustergenie_proto::jobs::v1 as jpb;
    // Droplets that never finish booting keep the job, and its watches, open.
    let mut cloud = fast_cloud();
    cloud.boot_delay = Duration::from_secs(600);
    let mesh = Flow::start(cloud).await;
    let mut config = mesh.gateway_config();
    config.streams.max_per_token = 2;
    config.streams.revocation_check = Duration::from_millis(200);
    let gw = mesh.gateway(&config).await;
    let operator = token(&gw.endpoint(), "watcher", gpb::Role::Operator).await;
    let mut clusters = Clusters::new(channel(&gw.endpoint()).await);
    let cluster = clusters
        .create_cluster(bearer(&operator, create("watched")))
        .await
        .unwrap()
        .into_inner()
        .cluster
        .unwrap();
    let jobs = jpb::job_service_client::JobServiceClient::new(channel(&gw.endpoint()).await);
    let job = jobs
        .clone()
        .create_job(bearer(
            &operator,
            cg_testkit::jobs::provision_one(&cluster.id, "slow"),
        ))
        .await
        .unwrap()
        .into_inner()
        .job
        .unwrap();
    assert!(
        job.requested_by.starts_with("token:"),
        "backends see the token id, not its name: {}",
        job.requested_by
    );
    let watch = || {
        let mut jobs = jobs.clone();
        let req = bearer(&operator, jpb::WatchJobRequest { id: job.id.clone() });
        async move { jobs.watch_job(req).await }
    };
    let mut first = watch().await.expect("first stream").into_inner();
    let mut second = watch().await.expect("second stream").into_inner();
    assert!(first.message().await.unwrap().is_some());
    assert!(second.message().await.unwrap().is_some());
    let over = watch().await.unwrap_err();
    assert_eq!(over.code(), Code::ResourceExhausted, "{over:?}");

    // Closing one frees its place.
    drop(second);
    let mut third = eventually_ok(watch).await;
    assert!(third.message().await.unwrap().is_some());

    // Revoking the token ends its open streams.
    let mut tokens = Tokens::new(channel(&gw.endpoint()).await);
    let id = tokens
        .list_tokens(bearer(ADMIN, gpb::ListTokensRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .tokens
        .into_iter()
        .find(|t| t.name == "watcher")
        .unwrap()
        .id;
    tokens
        .revoke_token(bearer(ADMIN, gpb::RevokeTokenRequest { id }))
        .await
        .unwrap();
    for stream in [&mut first, &mut third] {
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match stream.message().await {
                    Ok(Some(_)) => continue,
                    other => return other,
                }
            }
        })
        .await
        .expect("the stream ends after the revocation");
        let status = ended.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
    gw.stop().await.expect("stops cleanly");
    mesh.stop().await;
}

/// Retries `call` until it succeeds (a closed stream is released as its
/// connection notices).
async fn eventually_ok<T, F, Fut>(mut call: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    for _ in 0..50 {
        if let Ok(r) = call().await {
            return r.into_inner();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the call never succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_injection_needs_an_admin() {
    let mesh = Flow::start(fast_cloud()).await;
    let gw = mesh.gateway(&mesh.gateway_config()).await;
    let operator = token(&gw.endpoint(), "ops", gpb::Role::Operator).await;
    let mut faults =
        pb::fault_service_client::FaultServiceClient::new(channel(&gw.endpoint()).await);
    let denied = faults
        .inject_fault(bearer(&operator, pb::InjectFaultRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let as_admin = faults
        .inject_fault(bearer(ADMIN, pb::InjectFaultRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(
        as_admin.code(),
        Code::InvalidArgument,
        "an admin reaches provisioning, which checks the request"
    );
    gw.stop().await.expect("stops cleanly");
    mesh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_neither_slows_calls_nor_lifts_the_limit() {
    let mesh = Flow::start(fast_cloud()).await;
    let proxy = cg_testkit::Proxy::start("127.0.0.1:6379".parse().unwrap()).await;
    let mut config = mesh.gateway_config();
    config.limits.redis_url = Some(secrecy::SecretString::from(format!(
        "redis://{}",
        proxy.addr
    )));
    config.limits.redis_prefix = format!("cg-test:{}", cg_runtime::new_id());
    config.limits.redis_timeout = Duration::from_millis(50);
    config.limits.default = budget(5, 60);
    let gw = mesh.gateway(&config).await;
    let operator = token(&gw.endpoint(), "patient", gpb::Role::Operator).await;
    let mut clusters = Clusters::new(channel(&gw.endpoint()).await);
    clusters
        .list_clusters(bearer(&operator, pb::ListClustersRequest::default()))
        .await
        .expect("Redis answers while it is healthy");

    // Redis accepts connections and never answers.
    proxy.stall();
    let mut slowest = Duration::ZERO;
    let mut allowed = 0;
    let mut refused = 0;
    for _ in 0..8 {
        let started = std::time::Instant::now();
        match clusters
            .list_clusters(bearer(&operator, pb::ListClustersRequest::default()))
            .await
        {
            Ok(_) => allowed += 1,
            Err(e) => {
                assert_eq!(e.code(), Code::ResourceExhausted, "{e:?}");
                refused += 1;
            }
        }
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_secs(2),
        "a stalled Redis held a call for {slowest:?}"
    );
    assert_eq!(
        (allowed, refused),
        (5, 3),
        "this replica's own limiter keeps the budget of 5"
    );
    proxy.heal();
    gw.stop().await.expect("stops cleanly");
    mesh.stop().await;
}
