//! The DigitalOcean API v2 surface against the embedded mesh (the real
//! gateway, services, SQLite and a tansu broker), judged by DigitalOcean's
//! own Python clients: `pydo` and `python-digitalocean` from PyPI, in a
//! virtual environment, run by pytest (`services/e2e/do-clients/`). Before
//! that, the same droplets are checked through gRPC and REST both ways.

use std::{path::Path, time::Duration};

use clustergenie_proto::{gateway::v1 as gw, provisioning::v1 as ppb};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One HTTP/1.1 exchange with `Connection: close`; (status, body,
/// `ratelimit-remaining`).
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value, Option<i64>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, payload) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let json = if payload.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(payload).unwrap_or_else(|e| panic!("{e}: {payload}"))
    };
    let remaining = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("ratelimit-remaining")
            .then(|| value.trim().parse().ok())?
    });
    (status, json, remaining)
}

fn authorized<T>(token: &str, body: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(body);
    r.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    r
}

/// A virtual environment with the pinned clients, kept beside the build
/// (outside the clone) and rebuilt when `requirements.txt` changes.
async fn venv(suite: &Path) -> std::path::PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| e2e::repo().join("target"), Into::into);
    let dir = target.join("do-clients-venv");
    let requirements = std::fs::read_to_string(suite.join("requirements.txt")).unwrap();
    let stamp = dir.join("requirements.stamp");
    let python = dir.join("bin/python");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(requirements.as_str())
        && python.exists()
    {
        return python;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let run = |program: &Path, args: &[&str]| {
        let status = std::process::Command::new(program)
            .args(args)
            .status()
            .unwrap_or_else(|e| panic!("{} runs: {e}", program.display()));
        assert!(status.success(), "{} {args:?} failed", program.display());
    };
    run(Path::new("python3"), &["-m", "venv", dir.to_str().unwrap()]);
    run(
        &python,
        &[
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            suite.join("requirements.txt").to_str().unwrap(),
        ],
    );
    std::fs::write(&stamp, requirements).unwrap();
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digitalocean_clients_drive_the_mesh_through_the_v2_api() {
    let suite = e2e::repo().join("services/e2e/do-clients");
    let python = venv(&suite).await;
    let web = e2e::repo().join("web");
    let dir = tempfile::tempdir().unwrap();
    // Actions take about a second: long enough for a second one to meet
    // the lock, short enough for python-digitalocean's 20 s wait.
    let mesh = clustergenie::Mesh::start(e2e::embedded(
        dir.path(),
        &web.join("dist"),
        Duration::from_millis(800),
    ))
    .await
    .expect("mesh starts");
    let gateway = mesh.gateway;
    let channel = e2e::channel(&format!("http://{gateway}")).await;
    let admin = mesh.admin_token.clone();

    let tokens = gw::token_service_client::TokenServiceClient::new(channel.clone());
    let token = |name: &'static str, role: gw::Role| {
        let (mut tokens, admin) = (tokens.clone(), admin.clone());
        async move {
            tokens
                .create_token(authorized(
                    &admin,
                    gw::CreateTokenRequest {
                        name: name.into(),
                        role: role as i32,
                    },
                ))
                .await
                .expect("token created")
                .into_inner()
                .secret
        }
    };
    let operator = token("do-operator", gw::Role::Operator).await;
    let viewer = token("do-viewer", gw::Role::Viewer).await;

    // gRPC → REST: a droplet made through gRPC is listed by /v2 under its number.
    let mut clusters = ppb::cluster_service_client::ClusterServiceClient::new(channel.clone());
    let cluster = clusters
        .create_cluster(authorized(
            &operator,
            ppb::CreateClusterRequest {
                name: "grpc-made".into(),
                region: "nyc1".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("cluster")
        .into_inner()
        .cluster
        .unwrap();
    let mut droplets = ppb::droplet_service_client::DropletServiceClient::new(channel.clone());
    let made = droplets
        .create_droplet(authorized(
            &operator,
            ppb::CreateDropletRequest {
                cluster_id: cluster.id.clone(),
                name: "from-grpc".into(),
                size: "s-1vcpu-1gb".into(),
                image: "ubuntu-24-04-x64".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("droplet")
        .into_inner()
        .droplet
        .unwrap();
    assert!(made.number >= 1, "a gRPC droplet has a number: {made:?}");
    let (status, body, _) = http(
        gateway,
        "GET",
        "/v2/droplets?name=from-grpc",
        &operator,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["meta"]["total"], 1, "{body}");
    assert_eq!(body["droplets"][0]["id"], made.number, "{body}");

    // REST → gRPC: a droplet made through /v2 lands in its tag's cluster.
    let (status, body, before) = http(
        gateway,
        "POST",
        "/v2/droplets",
        &operator,
        Some(
            r#"{"name":"from-rest","region":"nyc1","size":"s-1vcpu-1gb",
                "image":"ubuntu-24-04-x64","tags":["cluster:grpc-made"]}"#,
        ),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let number = body["droplet"]["id"].as_i64().expect("an integer id");
    let seen = droplets
        .get_droplet(authorized(
            &operator,
            ppb::GetDropletRequest {
                id: number.to_string(),
            },
        ))
        .await
        .expect("gRPC finds the REST droplet by its number")
        .into_inner()
        .droplet
        .unwrap();
    assert_eq!(
        (seen.name.as_str(), seen.cluster_id.as_str()),
        ("from-rest", cluster.id.as_str())
    );

    // A create of three costs three CreateDroplet calls (the expensive
    // tier refills one call per 2 s, so at most one comes back meanwhile).
    let (status, body, after) = http(
        gateway,
        "POST",
        "/v2/droplets",
        &operator,
        Some(
            r#"{"names":["rest-a","rest-b","rest-c"],"region":"nyc1","size":"s-1vcpu-1gb",
                "image":"ubuntu-24-04-x64","tags":["cluster:grpc-made"]}"#,
        ),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["droplets"].as_array().map(Vec::len), Some(3), "{body}");
    let (before, after) = (
        before.expect("ratelimit-remaining"),
        after.expect("ratelimit-remaining"),
    );
    assert!(
        (2..=3).contains(&(before - after)),
        "a create of three took {before} → {after} from the budget"
    );

    // The flows create and act a lot: the expensive tier is opened up, the
    // default one (reads, and the viewer's 429 below) stays as configured.
    let mut limits = gw::rate_limit_service_client::RateLimitServiceClient::new(channel.clone());
    limits
        .update_rate_limits(authorized(
            &admin,
            gw::UpdateRateLimitsRequest {
                limits: vec![gw::RateLimit {
                    tier: "expensive".into(),
                    requests: 100_000,
                    period_seconds: 60,
                }],
            },
        ))
        .await
        .expect("rate limits updated");
    // The real clients.
    let out = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::process::Command::new(&python)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"])
            .arg(&suite)
            .current_dir(&suite)
            .env("CG_DO_URL", format!("http://{gateway}"))
            .env("CG_DO_TOKEN", &operator)
            .env("CG_DO_VIEWER_TOKEN", &viewer)
            .env("CG_DO_REGION", "nyc1")
            .env("CG_DO_SIZE", "s-1vcpu-1gb")
            .env("CG_DO_BIG_SIZE", "s-2vcpu-4gb")
            .env("CG_DO_IMAGE", "ubuntu-24-04-x64")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the client suite ends within 10 minutes")
    .expect("pytest runs");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    mesh.shutdown().await.expect("mesh stops");
    assert!(out.status.success(), "the DigitalOcean client suite failed");
}
