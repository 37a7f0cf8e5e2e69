//! The embedded launcher: every service in one process on SQLite files under
//! a data directory, so one command runs the mesh with nothing installed
//! beyond Rust (and Node for the dashboard).

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use cg_runtime::config::DatabaseConfig;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    pub host: std::net::IpAddr,
    /// Provisioning listens here and the others on the next ports; 0 picks
    /// free ports.
    pub base_port: u16,
    pub grace: Duration,
    pub cloud: provisioning::cloud::CloudConfig,
    /// A tansu binary: started as the mesh's Kafka-protocol broker (memory
    /// storage). Without one, jobs are recorded but never executed.
    pub broker: Option<PathBuf>,
    /// The gateway's port (0: any free port).
    pub gateway_port: u16,
    /// The built dashboard the gateway serves.
    pub web_root: PathBuf,
}

/// The embedded mesh's admin token, kept in the data directory (readable by
/// its owner only) so every start can print it. Production gateways print
/// a generated token once instead.
fn admin_token(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("admin-token");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        if gateway::auth::Secret::parse(&existing).is_ok() {
            return Ok(existing);
        }
    }
    let secret = gateway::auth::Secret::generate().expose().to_string();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(&path)?, secret.as_bytes())?;
    Ok(secret)
}

/// The broker the launcher started; stopped with the mesh.
struct EmbeddedBroker {
    child: tokio::process::Child,
    addr: SocketAddr,
}

async fn start_broker(
    tansu: &std::path::Path,
    host: std::net::IpAddr,
) -> anyhow::Result<EmbeddedBroker> {
    let addr = {
        let probe = std::net::TcpListener::bind(SocketAddr::new(host, 0))?;
        probe.local_addr()?
    };
    let url = format!("tcp://{addr}");
    let child = tokio::process::Command::new(tansu)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "memory://tansu/",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", tansu.display()))?;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(EmbeddedBroker { child, addr });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the broker did not listen on {addr}")
}

/// A service started by the launcher.
#[derive(Debug, Clone)]
pub struct Listening {
    pub name: &'static str,
    pub addr: SocketAddr,
}

pub struct Mesh {
    pub services: Vec<Listening>,
    /// The one public endpoint: dashboard, gRPC-web and gRPC.
    pub gateway: SocketAddr,
    pub admin_token: String,
    /// The embedded broker's address, when one runs.
    pub broker: Option<SocketAddr>,
    broker_process: Option<EmbeddedBroker>,
    stop: CancellationToken,
    tasks: JoinSet<(&'static str, Result<(), cg_runtime::Error>)>,
}

async fn bind(host: std::net::IpAddr, base: u16, offset: u16) -> std::io::Result<TcpListener> {
    let port = if base == 0 { 0 } else { base + offset };
    TcpListener::bind(SocketAddr::new(host, port)).await
}

impl Mesh {
    pub async fn start(opts: Options) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&opts.data_dir)?;
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut services = Vec::new();
        let broker = match &opts.broker {
            Some(tansu) => Some(start_broker(tansu, opts.host).await?),
            None => None,
        };
        let kafka = broker.as_ref().map(|b| cg_runtime::kafka::KafkaConfig {
            brokers: b.addr.to_string(),
            partitions: 3,
            ..cg_runtime::kafka::KafkaConfig::default()
        });

        let db_url = format!(
            "sqlite://{}?mode=rwc",
            opts.data_dir.join("provisioning.db").display()
        );
        let config = provisioning::Config {
            database: DatabaseConfig::new(db_url),
            cloud: opts.cloud.clone(),
            kafka: kafka.clone(),
            ..provisioning::Config::default()
        };
        let listener = bind(opts.host, opts.base_port, 0).await?;
        services.push(Listening {
            name: "provisioning",
            addr: listener.local_addr()?,
        });
        let app = provisioning::App::build(&config).await?;
        let token = stop.clone();
        let grace = opts.grace;
        tasks.spawn(async move {
            let r = app.serve(listener, token.cancelled_owned(), grace).await;
            ("provisioning", r)
        });

        type RoutesFn = fn() -> std::pin::Pin<
            Box<
                dyn std::future::Future<
                        Output = Result<
                            (tonic::service::Routes, tonic_health::server::HealthReporter),
                            cg_runtime::Error,
                        >,
                    > + Send,
            >,
        >;
        let jobs_listener = bind(opts.host, opts.base_port, 2).await?;
        let jobs_config = jobs::Config {
            database: DatabaseConfig::new(format!(
                "sqlite://{}?mode=rwc",
                opts.data_dir.join("jobs.db").display()
            )),
            kafka: kafka.clone(),
            ..jobs::Config::default()
        };
        let jobs_app = jobs::App::build(&jobs_config).await?;
        let token = stop.clone();
        let jobs_addr = jobs_listener.local_addr()?;
        tasks.spawn(async move {
            let r = jobs_app
                .serve(jobs_listener, token.cancelled_owned(), grace)
                .await;
            ("jobs", r)
        });

        let others: [(&'static str, u16, RoutesFn); 3] = [
            ("diagnosis", 1, || Box::pin(diagnosis::routes())),
            ("monitoring", 3, || Box::pin(monitoring::routes())),
            ("scaler", 4, || Box::pin(scaler::routes())),
        ];
        for (name, offset, routes) in others {
            let listener = bind(opts.host, opts.base_port, offset).await?;
            services.push(Listening {
                name,
                addr: listener.local_addr()?,
            });
            let (routes, health) = routes().await?;
            let token = stop.clone();
            tasks.spawn(async move {
                let r = cg_runtime::grpc::serve(
                    listener,
                    routes,
                    health,
                    token.cancelled_owned(),
                    grace,
                )
                .await;
                (name, r)
            });
        }
        // In port order: provisioning, diagnosis, jobs, monitoring, scaler.
        services.insert(
            2,
            Listening {
                name: "jobs",
                addr: jobs_addr,
            },
        );

        let admin_token = admin_token(&opts.data_dir)?;
        let gateway_config = gateway::Config {
            database: DatabaseConfig::new(format!(
                "sqlite://{}?mode=rwc",
                opts.data_dir.join("gateway.db").display()
            )),
            backends: services
                .iter()
                .map(|s| (s.name.to_string(), format!("http://{}", s.addr)))
                .collect(),
            web_root: opts.web_root.clone(),
            auth: gateway::config::AuthConfig {
                bootstrap_token: Some(admin_token.clone().into()),
            },
            ..gateway::Config::default()
        };
        let gateway_listener =
            TcpListener::bind(SocketAddr::new(opts.host, opts.gateway_port)).await?;
        let gateway_addr = gateway_listener.local_addr()?;
        let gateway_app = gateway::App::build(&gateway_config).await?;
        let token = stop.clone();
        tasks.spawn(async move {
            let r = gateway_app
                .serve(gateway_listener, token.cancelled_owned(), grace)
                .await;
            ("gateway", r)
        });
        Ok(Self {
            gateway: gateway_addr,
            admin_token,
            services,
            broker: broker.as_ref().map(|b| b.addr),
            broker_process: broker,
            stop,
            tasks,
        })
    }

    /// Stops every service and waits for each to drain.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        let mut failed = Vec::new();
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok((_, Ok(()))) => {}
                Ok((name, Err(e))) => failed.push(format!("{name}: {e}")),
                Err(e) => failed.push(format!("task: {e}")),
            }
        }
        // Services first, so nothing is left writing to the broker.
        if let Some(mut broker) = self.broker_process.take() {
            let _ = broker.child.kill().await;
        }
        if failed.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("services failed: {}", failed.join("; "))
        }
    }
}
