//! The same RPCs called directly on provisioning and through the gateway
//! (auth, rate limit, forwarding): p50/p99 latency at one caller, and
//! throughput with 32 concurrent callers, as gateway/direct ratios.
//!
//! `just bench-gateway` (release build). Provisioning runs on a SQLite file,
//! the gateway's token store too; both in this process.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use cg_runtime::{
    config::DatabaseConfig,
    kit::{default_config, spawn},
};
use clustergenie_proto::provisioning::v1 as pb;
use gateway::GatewayService;
use hdrhistogram::Histogram;
use provisioning::ProvisioningService;
use tonic::{Request, transport::Channel};

const TOKEN: &str = "cgt_benchadmin00000000000000000000000000";
const SEQUENTIAL: usize = 3_000;
const CONCURRENCY: usize = 32;
const PER_WORKER: usize = 500;

type Catalog = pb::catalog_service_client::CatalogServiceClient<Channel>;
type Clusters = pb::cluster_service_client::ClusterServiceClient<Channel>;

#[derive(Clone, Copy)]
enum Call {
    ListRegions,
    GetCluster,
}

fn authed<T>(body: T, token: bool) -> Request<T> {
    let mut r = Request::new(body);
    if token {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    }
    r
}

async fn once(ch: &Channel, call: Call, token: bool, cluster: &str) {
    match call {
        Call::ListRegions => {
            Catalog::new(ch.clone())
                .list_regions(authed(pb::ListRegionsRequest::default(), token))
                .await
                .unwrap();
        }
        Call::GetCluster => {
            Clusters::new(ch.clone())
                .get_cluster(authed(
                    pb::GetClusterRequest {
                        id: cluster.to_string(),
                    },
                    token,
                ))
                .await
                .unwrap();
        }
    }
}

struct Run {
    p50: Duration,
    p99: Duration,
    per_sec: f64,
}

async fn measure(ch: &Channel, call: Call, token: bool, cluster: &str) -> Run {
    for _ in 0..200 {
        once(ch, call, token, cluster).await;
    }
    let mut h = Histogram::<u64>::new(3).unwrap();
    for _ in 0..SEQUENTIAL {
        let t = Instant::now();
        once(ch, call, token, cluster).await;
        h.record(t.elapsed().as_micros() as u64).unwrap();
    }
    let cluster = Arc::new(cluster.to_string());
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (ch, cluster) = (ch.clone(), cluster.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..PER_WORKER {
                once(&ch, call, token, &cluster).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let per_sec = (CONCURRENCY * PER_WORKER) as f64 / start.elapsed().as_secs_f64();
    Run {
        p50: Duration::from_micros(h.value_at_quantile(0.5)),
        p99: Duration::from_micros(h.value_at_quantile(0.99)),
        per_sec,
    }
}

/// The floor: a bare HTTP/2 pass-through to `backend` (the gateway's own
/// forwarding, none of its checks), so the table shows what any proxy hop
/// costs on this machine next to what the gateway adds on top.
async fn bare_proxy(backend: &str) -> String {
    let backend = gateway::forward::Backend::new(backend, Duration::from_secs(5)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let forward = tower::service_fn(move |req: http::Request<axum::body::Body>| {
        let backend = backend.clone();
        async move {
            let resp = backend
                .call(req.map(tonic::body::Body::new))
                .await
                .expect("the backend answers");
            Ok::<_, std::convert::Infallible>(resp.map(axum::body::Body::new))
        }
    });
    let router = axum::Router::new().fallback_service(forward);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |file: &str| {
        DatabaseConfig::new(format!(
            "sqlite://{}?mode=rwc",
            dir.path().join(file).display()
        ))
    };
    let mut prov_config = default_config::<ProvisioningService>();
    prov_config.common.server.listen_addr = ([127, 0, 0, 1], 0).into();
    prov_config.common.database = sqlite("p.db");
    let prov = spawn::<ProvisioningService>(&prov_config).await.unwrap();
    let direct_url = prov.endpoint();
    let mut config = default_config::<GatewayService>();
    config.common.server.listen_addr = ([127, 0, 0, 1], 0).into();
    config.common.database = sqlite("g.db");
    config
        .backends
        .insert("provisioning".into(), direct_url.clone());
    config.auth.bootstrap_token = Some(TOKEN.to_string().into());
    config.limits.default = gateway::limits::Budget {
        requests: 1_000_000,
        period: Duration::from_secs(1),
    };
    let gw = spawn::<GatewayService>(&config).await.unwrap();
    let gateway_url = gw.endpoint();
    let bare_url = bare_proxy(&direct_url).await;

    let direct = Channel::from_shared(direct_url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let through = Channel::from_shared(gateway_url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let bare = Channel::from_shared(bare_url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let cluster = Clusters::new(direct.clone())
        .create_cluster(pb::CreateClusterRequest {
            name: "bench".into(),
            region: "nyc1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cluster
        .unwrap()
        .id;

    println!("| RPC | path | p50 | p99 | calls/s ({CONCURRENCY} callers) |");
    println!("|---|---|---|---|---|");
    for (name, call) in [
        ("ListRegions", Call::ListRegions),
        ("GetCluster", Call::GetCluster),
    ] {
        let d = measure(&direct, call, false, &cluster).await;
        let b = measure(&bare, call, false, &cluster).await;
        let g = measure(&through, call, true, &cluster).await;
        for (path, r) in [("direct", &d), ("bare HTTP/2 proxy", &b), ("gateway", &g)] {
            println!(
                "| {name} | {path} | {:.0} µs | {:.0} µs | {:.0} |",
                r.p50.as_micros(),
                r.p99.as_micros(),
                r.per_sec
            );
        }
        for (what, r) in [("bare proxy / direct", &b), ("**gateway / direct**", &g)] {
            println!(
                "| {name} | {what} | {:.2}× (+{} µs) | {:.2}× | {:.0} % |",
                r.p50.as_secs_f64() / d.p50.as_secs_f64(),
                r.p50.as_micros() as i128 - d.p50.as_micros() as i128,
                r.p99.as_secs_f64() / d.p99.as_secs_f64(),
                100.0 * r.per_sec / d.per_sec
            );
        }
    }
}
