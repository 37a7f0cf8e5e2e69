//! The embedded launcher: every service in one process on SQLite files under
//! a data directory, so one command runs the mesh with nothing installed
//! beyond Rust (and Node for the dashboard).

pub mod demo;

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use cg_runtime::{
    config::DatabaseConfig,
    kafka::KafkaConfig,
    kit::{Group, Service, ServiceConfig as _, default_config},
};
use diagnosis::DiagnosisService;
use gateway::GatewayService;
use jobs::JobsService;
use monitoring::MonitoringService;
use provisioning::ProvisioningService;
use scaler::ScalerService;

/// The embedded mesh's settings, layered as every service reads its own:
/// defaults ← `--config FILE` (TOML) ← `CLUSTERGENIE_*` env (e.g.
/// `CLUSTERGENIE_TELEMETRY__OTLP_ENDPOINT`). A profile such as
/// `deploy/profiles/demo.toml` (short windows, fast sampling) is such a
/// file; nothing else changes between profiles.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LauncherConfig {
    pub telemetry: cg_runtime::telemetry::TelemetryConfig,
    pub cloud: provisioning::cloud::CloudConfig,
    pub executor: provisioning::executor::ExecutorConfig,
    pub fleet: provisioning::fleet::FleetConfig,
    pub rules: diagnosis::analyzers::Rules,
}

impl LauncherConfig {
    /// Loads and checks the layers; the error names the bad key.
    pub fn load(file: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let config: Self = cg_runtime::config::load_unchecked(Self::default(), file)?;
        config
            .telemetry
            .validate()
            .and_then(|()| config.executor.validate())
            .and_then(|()| config.cloud.validate())
            .and_then(|()| config.fleet.validate())
            .and_then(|()| config.rules.validate())
            .map_err(anyhow::Error::msg)?;
        Ok(config)
    }
}

/// Where the mesh's services keep their state.
#[derive(Clone)]
pub enum Storage {
    /// SQLite files under the data directory (the embedded default).
    Sqlite,
    /// A database URL per service name (tests on MariaDB).
    Urls(Arc<dyn Fn(&str) -> String + Send + Sync>),
}

/// The broker the mesh's events go through.
#[derive(Debug, Clone)]
pub enum Broker {
    /// None: jobs are recorded but never executed.
    None,
    /// Start this tansu binary as the mesh's broker (SQLite storage under
    /// the data directory).
    Tansu(PathBuf),
    /// One running already.
    External(cg_runtime::kafka::KafkaConfig),
}

#[derive(Clone)]
pub struct Options {
    pub data_dir: PathBuf,
    /// Where the gateway listens; the backends and the broker always
    /// listen on loopback (the gateway is the only way in).
    pub host: std::net::IpAddr,
    /// Provisioning listens here and the others on the next ports; 0 picks
    /// free ports.
    pub base_port: u16,
    pub grace: Duration,
    pub cloud: provisioning::cloud::CloudConfig,
    pub executor: provisioning::executor::ExecutorConfig,
    /// How often the simulated droplets report metrics.
    pub fleet: provisioning::fleet::FleetConfig,
    /// Diagnosis's windows and thresholds.
    pub rules: diagnosis::analyzers::Rules,
    pub storage: Storage,
    pub broker: Broker,
    /// The gateway's port (0: any free port).
    pub gateway_port: u16,
    /// The built dashboard the gateway serves.
    pub web_root: PathBuf,
    /// The admin token; `None` keeps one in the data directory.
    pub admin_token: Option<String>,
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

/// Starts tansu with its log in `data_dir/broker.db` (SQLite), so a
/// restart keeps every record and committed offset, on the port it had
/// last time when that is free (clients of the old one reconnect).
///
/// The broker must die with the launcher, also on `kill -9`, where no drop
/// runs: on Linux it is started through `setpriv --pdeathsig KILL`, which
/// asks the kernel to kill it when its parent (this process) dies.
async fn start_broker(
    tansu: &std::path::Path,
    data_dir: &std::path::Path,
) -> anyhow::Result<EmbeddedBroker> {
    let port_file = data_dir.join("broker.port");
    let previous = std::fs::read_to_string(&port_file)
        .ok()
        .and_then(|p| p.trim().parse::<u16>().ok())
        .and_then(|p| std::net::TcpListener::bind(SocketAddr::new(LOOPBACK, p)).ok());
    let addr = match previous {
        Some(probe) => probe.local_addr()?,
        None => std::net::TcpListener::bind(SocketAddr::new(LOOPBACK, 0))?.local_addr()?,
    };
    std::fs::write(&port_file, addr.port().to_string())?;
    let url = format!("tcp://{addr}");
    // tansu takes the SQLite path relative to its working directory.
    let args = [
        "broker",
        "--listener-url",
        &url,
        "--advertised-listener-url",
        &url,
        "--storage-engine",
        "sqlite://broker.db",
    ];
    let mut command = match parent_death_wrapper() {
        Some(setpriv) => {
            let mut c = tokio::process::Command::new(setpriv);
            c.args(["--pdeathsig", "KILL", "--"]).arg(tansu).args(args);
            c
        }
        None => {
            tracing::warn!("setpriv not found: the broker may outlive a killed launcher");
            let mut c = tokio::process::Command::new(tansu);
            c.args(args);
            c
        }
    };
    // Its own process group: a Ctrl-C in the terminal reaches the launcher
    // alone, which drains the services first and stops the broker last
    // (else the services' last commits meet a dead broker).
    #[cfg(unix)]
    command.process_group(0);
    let child = command
        .current_dir(std::fs::canonicalize(data_dir)?)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", tansu.display()))?;
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(EmbeddedBroker { child, addr });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the broker did not listen on {addr}")
}

/// util-linux's `setpriv`, which sets the parent-death signal and then
/// execs the broker (so the broker is the child the launcher waits on).
fn parent_death_wrapper() -> Option<std::path::PathBuf> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())
}

/// A service started by the launcher.
#[derive(Debug, Clone)]
pub struct Listening {
    pub name: &'static str,
    pub addr: SocketAddr,
}

impl Mesh {
    /// Where service `name` listens.
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.services
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("the mesh runs no {name}"))
            .addr
    }

    /// `http://addr` of service `name`.
    pub fn endpoint(&self, name: &str) -> String {
        format!("http://{}", self.addr(name))
    }
}

pub struct Mesh {
    pub services: Vec<Listening>,
    /// The one public endpoint: dashboard, gRPC-web and gRPC.
    pub gateway: SocketAddr,
    pub admin_token: String,
    /// The broker, when the mesh has one.
    pub kafka: Option<KafkaConfig>,
    broker_process: Option<EmbeddedBroker>,
    group: Group,
}

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

impl Options {
    /// The database service `service` keeps its state in.
    pub fn database_of(&self, service: &str) -> DatabaseConfig {
        DatabaseConfig::new(match &self.storage {
            Storage::Sqlite => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join(format!("{service}.db")).display()
            ),
            Storage::Urls(url) => url(service),
        })
    }

    /// Provisioning as this mesh runs it (tests start more replicas of it).
    pub fn provisioning(&self, kafka: Option<&KafkaConfig>) -> provisioning::Config {
        let mut config = self.config::<ProvisioningService>(0, kafka);
        config.cloud = self.cloud.clone();
        config.executor = self.executor.clone();
        config.fleet = self.fleet.clone();
        config
    }

    /// `S`'s defaults placed in this mesh: its port (`offset` from the
    /// base), its database, the broker, the grace period.
    fn config<S: Service>(&self, offset: u16, kafka: Option<&KafkaConfig>) -> S::Config {
        let mut config = default_config::<S>();
        let common = config.common_mut();
        let port = if self.base_port == 0 {
            0
        } else {
            self.base_port + offset
        };
        common.server.listen_addr = SocketAddr::new(LOOPBACK, port);
        common.server.shutdown_grace = self.grace;
        common.database = self.database_of(S::NAME);
        common.kafka = kafka.cloned();
        config
    }
}

impl Mesh {
    /// Starts the broker (when asked), the five services and the gateway in
    /// front of them; on any failure, what started is stopped again.
    pub async fn start(opts: Options) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&opts.data_dir)?;
        let (broker_process, kafka) = match &opts.broker {
            Broker::None => (None, None),
            Broker::Tansu(tansu) => {
                let b = start_broker(tansu, &opts.data_dir).await?;
                // tansu answers a fetch only when its wait ends, and each
                // answer costs it work per partition: an idle mesh kept it
                // busy on a whole core with 3 partitions and 20 ms waits,
                // under a fifth of one with 1 partition and 100 ms. One
                // process needs no partition parallelism (executors and
                // ingest have pools of their own behind each lane).
                let kafka = KafkaConfig {
                    brokers: b.addr.to_string(),
                    partitions: 1,
                    fetch_wait: std::time::Duration::from_millis(100),
                    instance_id: Some("embedded".into()),
                    ..KafkaConfig::default()
                };
                (Some(b), Some(kafka))
            }
            Broker::External(k) => (None, Some(k.clone())),
        };
        let mut group = Group::default();
        match Self::start_services(&opts, kafka.as_ref(), &mut group).await {
            Ok((gateway, admin_token)) => {
                let services = group
                    .listening()
                    .into_iter()
                    .filter(|(name, _)| *name != GatewayService::NAME)
                    .map(|(name, addr)| Listening { name, addr })
                    .collect();
                Ok(Self {
                    services,
                    gateway,
                    admin_token,
                    kafka,
                    broker_process,
                    group,
                })
            }
            Err(e) => {
                let _ = group.shutdown().await;
                Err(e)
            }
        }
    }

    async fn start_services(
        opts: &Options,
        kafka: Option<&KafkaConfig>,
        group: &mut Group,
    ) -> anyhow::Result<(SocketAddr, String)> {
        group
            .start::<ProvisioningService>(&opts.provisioning(kafka))
            .await?;
        group
            .start::<JobsService>(&opts.config::<JobsService>(2, kafka))
            .await?;
        group
            .start::<MonitoringService>(&opts.config::<MonitoringService>(3, kafka))
            .await?;
        let mut scaler = opts.config::<ScalerService>(4, kafka);
        let mut diagnosis = opts.config::<DiagnosisService>(1, kafka);
        diagnosis.rules = opts.rules.clone();
        let listening = group.listening();
        let url_of = |name: &str| {
            listening
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, addr)| format!("http://{addr}"))
        };
        if let (Some(provisioning), Some(jobs), Some(monitoring)) =
            (url_of("provisioning"), url_of("jobs"), url_of("monitoring"))
        {
            scaler.provisioning_url.clone_from(&provisioning);
            scaler.jobs_url.clone_from(&jobs);
            diagnosis.provisioning_url = provisioning;
            diagnosis.jobs_url = jobs;
            diagnosis.monitoring_url = monitoring;
        }
        group.start::<DiagnosisService>(&diagnosis).await?;
        group.start::<ScalerService>(&scaler).await?;

        let admin_token = match &opts.admin_token {
            Some(token) => token.clone(),
            None => admin_token(&opts.data_dir)?,
        };
        let mut gateway = opts.config::<GatewayService>(0, kafka);
        gateway.common.server.listen_addr = SocketAddr::new(opts.host, opts.gateway_port);
        gateway.backends = group
            .listening()
            .iter()
            .map(|(name, addr)| ((*name).to_string(), format!("http://{addr}")))
            .collect();
        gateway.web_root = opts.web_root.clone();
        gateway.auth.bootstrap_token = Some(admin_token.clone().into());
        let addr = group.start::<GatewayService>(&gateway).await?;
        Ok((addr, admin_token))
    }

    /// Stops every service (gateway first) and waits for each to drain,
    /// then the broker.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let stopped = self.group.shutdown().await;
        // Services first, so nothing is left writing to the broker.
        if let Some(mut broker) = self.broker_process.take() {
            let _ = broker.child.kill().await;
        }
        Ok(stopped?)
    }
}
