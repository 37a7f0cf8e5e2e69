//! A small mesh for gateway tests: provisioning and jobs on MariaDB,
//! started in-process on port 0, and gateways in front of them.

#![allow(dead_code)]

use std::{net::SocketAddr, time::Duration};

use cg_runtime::config::DatabaseConfig;
use cg_testkit::{Backend, TestDb};
use clustergenie_proto::gateway::v1 as gpb;
use secrecy::SecretString;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::{Request, transport::Channel};

/// The admin token every test gateway is bootstrapped with.
pub const ADMIN: &str = "cgt_testadmin0000000000000000000000000000";

struct Served {
    stop: CancellationToken,
    handle: JoinHandle<Result<(), cg_runtime::Error>>,
}

impl Served {
    async fn stop(self) {
        self.stop.cancel();
        self.handle.await.unwrap().expect("stops cleanly");
    }
}

async fn serve<F>(
    serve: impl FnOnce(tokio::net::TcpListener, CancellationToken) -> F,
) -> (SocketAddr, Served)
where
    F: std::future::Future<Output = Result<(), cg_runtime::Error>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let handle = tokio::spawn(serve(listener, stop.clone()));
    (addr, Served { stop, handle })
}

pub struct Mesh {
    pub backends: std::collections::BTreeMap<String, String>,
    /// The gateways' token and limit store, shared by every replica.
    pub gateway_db: TestDb,
    served: Vec<Served>,
    dbs: Vec<TestDb>,
}

pub struct Gateway {
    pub addr: SocketAddr,
    served: Served,
}

impl Gateway {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .unwrap()
            .connect()
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        self.served.stop().await;
    }
}

/// `req` with `authorization: Bearer <token>`.
pub fn bearer<T>(token: &str, body: T) -> Request<T> {
    let mut req = Request::new(body);
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

impl Mesh {
    pub async fn start() -> Self {
        cg_runtime::telemetry::init_for_tests();
        let prov_db = TestDb::new(Backend::MySql).await;
        let jobs_db = TestDb::new(Backend::MySql).await;
        let gateway_db = TestDb::new(Backend::MySql).await;
        let prov_cfg = provisioning::Config {
            database: prov_db.config(),
            cloud: provisioning::cloud::CloudConfig {
                boot_delay: Duration::from_millis(100),
                action_duration: Duration::from_millis(100),
                ..Default::default()
            },
            ..provisioning::Config::default()
        };
        let prov = provisioning::App::build(&prov_cfg).await.unwrap();
        let (prov_addr, prov_served) = serve(|l, stop| {
            prov.serve(
                l,
                async move { stop.cancelled().await },
                Duration::from_secs(2),
            )
        })
        .await;
        let jobs = jobs::App::build(&jobs::Config {
            database: DatabaseConfig::new(jobs_db.url.clone()),
            ..jobs::Config::default()
        })
        .await
        .unwrap();
        let (jobs_addr, jobs_served) = serve(|l, stop| {
            jobs.serve(
                l,
                async move { stop.cancelled().await },
                Duration::from_secs(2),
            )
        })
        .await;
        let backends = [
            ("provisioning".to_string(), format!("http://{prov_addr}")),
            ("jobs".to_string(), format!("http://{jobs_addr}")),
        ]
        .into_iter()
        .collect();
        Self {
            backends,
            gateway_db,
            served: vec![prov_served, jobs_served],
            dbs: vec![prov_db, jobs_db],
        }
    }

    /// A gateway config for this mesh; tests adjust limits and the like.
    pub fn config(&self) -> gateway::Config {
        gateway::Config {
            database: DatabaseConfig::new(self.gateway_db.url.clone()),
            backends: self.backends.clone(),
            auth: gateway::config::AuthConfig {
                bootstrap_token: Some(SecretString::from(ADMIN)),
            },
            web_root: std::env::temp_dir().join("cg-no-dashboard"),
            ..gateway::Config::default()
        }
    }

    pub async fn gateway(&self, config: &gateway::Config) -> Gateway {
        let app = gateway::App::build(config).await.expect("gateway builds");
        let (addr, served) = serve(|l, stop| {
            app.serve(
                l,
                async move { stop.cancelled().await },
                Duration::from_secs(2),
            )
        })
        .await;
        Gateway { addr, served }
    }

    pub async fn stop(self) {
        for s in self.served {
            s.stop().await;
        }
        for db in self.dbs {
            db.drop_db().await;
        }
        self.gateway_db.drop_db().await;
    }
}

/// Creates a token with `role` through the admin API; returns its secret.
pub async fn token(gw: &Gateway, name: &str, role: gpb::Role) -> String {
    let mut tokens = gpb::token_service_client::TokenServiceClient::new(gw.channel().await);
    tokens
        .create_token(bearer(
            ADMIN,
            gpb::CreateTokenRequest {
                name: name.into(),
                role: role as i32,
            },
        ))
        .await
        .expect("admin creates a token")
        .into_inner()
        .secret
}
