//! The mesh as compose runs it: one process per service (the `cg-service`
//! binary), each with its own MariaDB database, all on one tansu broker,
//! each serving Prometheus metrics and, when asked, exporting spans over
//! OTLP. Tests kill replicas with SIGKILL, scrape them, and add replicas.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command},
    time::Duration,
};

use cg_testkit::{Backend, Broker, TestDb, eventually, free_port};

use crate::ADMIN;

/// Start order: a service starts after those it calls.
pub const SERVICES: [&str; 6] = [
    "provisioning",
    "jobs",
    "monitoring",
    "scaler",
    "diagnosis",
    "gateway",
];

/// One service process; killed when dropped, however the test ends.
pub struct Proc {
    pub service: &'static str,
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
    child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL: no drain, no flush.
    pub fn kill_9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the drain (and the span flush).
    pub fn terminate(&mut self) {
        cg_testkit::signal(self.pid(), "-TERM");
        let _ = self.child.wait();
    }

    /// The process's `/metrics` text.
    pub async fn scrape(&self) -> Result<String, String> {
        let addr = self.metrics;
        tokio::task::spawn_blocking(move || http_get(addr, "/metrics"))
            .await
            .map_err(|e| e.to_string())?
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill_9();
    }
}

/// A plain HTTP/1.0 GET (the exporter's listener speaks it), without
/// another client dependency.
fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    use std::io::{Read as _, Write as _};
    let mut conn = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("{addr}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut raw = String::new();
    conn.read_to_string(&mut raw).map_err(|e| e.to_string())?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP answer from {addr}"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(format!(
            "{addr}{path}: {}",
            head.lines().next().unwrap_or("")
        ));
    }
    Ok(body.to_string())
}

/// What the processes share.
pub struct ProcMesh {
    // Before the databases: fields drop in order, and the processes go first.
    pub procs: Vec<Proc>,
    bin: PathBuf,
    brokers: String,
    otlp: Option<String>,
    dbs: HashMap<&'static str, TestDb>,
    /// Extra `CLUSTERGENIE_*` settings per service.
    extra: HashMap<&'static str, Vec<(String, String)>>,
}

impl ProcMesh {
    /// An empty mesh on `broker`; `bin` is the test's
    /// `env!("CARGO_BIN_EXE_cg-service")`.
    pub fn new(bin: &str, broker: &Broker) -> Self {
        Self {
            bin: PathBuf::from(bin),
            brokers: broker.bootstrap(),
            otlp: None,
            dbs: HashMap::new(),
            procs: Vec::new(),
            extra: HashMap::new(),
        }
    }

    /// Every process started from now on exports its spans to `endpoint`.
    pub fn export_spans_to(mut self, endpoint: &str) -> Self {
        self.otlp = Some(endpoint.to_string());
        self
    }

    /// An extra setting (`CLUSTERGENIE_…`) for `service`'s processes.
    pub fn set(mut self, service: &'static str, key: &str, value: &str) -> Self {
        self.extra
            .entry(service)
            .or_default()
            .push((key.to_string(), value.to_string()));
        self
    }

    /// Starts one process of each of `services` (in [`SERVICES`] order),
    /// each waited on until it serves.
    pub async fn start(mut self, services: &[&'static str]) -> Self {
        for name in SERVICES.iter().filter(|s| services.contains(s)) {
            self.add(name).await;
        }
        self
    }

    /// The first process of `service`.
    pub fn first(&self, service: &str) -> &Proc {
        self.procs
            .iter()
            .find(|p| p.service == service)
            .unwrap_or_else(|| panic!("no {service} process"))
    }

    /// The database `service`'s replicas share.
    pub fn db(&self, service: &str) -> &TestDb {
        &self.dbs[service]
    }

    /// The broker's `bootstrap.servers`.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    pub fn replicas(&mut self, service: &str) -> impl Iterator<Item = &mut Proc> {
        self.procs.iter_mut().filter(move |p| p.service == service)
    }

    fn url_of(&self, service: &str) -> String {
        self.procs
            .iter()
            .find(|p| p.service == service)
            .map(Proc::endpoint)
            // Not started: calls to it fail as UNAVAILABLE, as in compose.
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", free_port()))
    }

    /// Starts one more process of `service` (a replica when one runs
    /// already: same database, same consumer groups) and waits until it
    /// serves; returns its index in [`Self::procs`].
    pub async fn add(&mut self, service: &'static str) -> usize {
        if !self.dbs.contains_key(service) {
            let db = TestDb::new(Backend::MySql).await;
            self.dbs.insert(service, db);
        }
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let metrics: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut cmd = Command::new(&self.bin);
        cmd.env("CG_SERVICE", service)
            .env("CLUSTERGENIE_LISTEN_ADDR", addr.to_string())
            .env("CLUSTERGENIE_METRICS_ADDR", metrics.to_string())
            .env("CLUSTERGENIE_DATABASE__URL", &self.dbs[service].url)
            .env("CLUSTERGENIE_KAFKA__BROKERS", &self.brokers)
            .env("CLUSTERGENIE_KAFKA__PARTITIONS", "4")
            .env("CLUSTERGENIE_KAFKA__SESSION_TIMEOUT", "6s");
        let (out, err) = cg_testkit::output(&format!("{service}-{}", addr.port()));
        cmd.stdout(out).stderr(err);
        match &self.otlp {
            // Spans are kept at info (and so are the logs, when kept).
            Some(endpoint) => cmd
                .env("CLUSTERGENIE_TELEMETRY__OTLP_ENDPOINT", endpoint)
                .env(
                    "CLUSTERGENIE_TELEMETRY__LOG_FILTER",
                    "info,h2=warn,tower=warn,hyper=warn,sqlx=warn",
                ),
            None if cg_testkit::keeps_output() => cmd.env(
                "CLUSTERGENIE_TELEMETRY__LOG_FILTER",
                std::env::var("CG_TEST_LOG_FILTER").unwrap_or_else(|_| "info".into()),
            ),
            None => cmd.env("CLUSTERGENIE_TELEMETRY__LOG_FILTER", "warn"),
        };
        match service {
            "provisioning" => {
                cmd.env("CLUSTERGENIE_CLOUD__BOOT_DELAY", "100ms")
                    .env("CLUSTERGENIE_CLOUD__ACTION_DURATION", "100ms")
                    .env("CLUSTERGENIE_EXECUTOR__LEASE", "3s");
            }
            "scaler" => {
                cmd.env("CLUSTERGENIE_PROVISIONING_URL", self.url_of("provisioning"))
                    .env("CLUSTERGENIE_JOBS_URL", self.url_of("jobs"));
            }
            "diagnosis" => {
                cmd.env("CLUSTERGENIE_PROVISIONING_URL", self.url_of("provisioning"))
                    .env("CLUSTERGENIE_MONITORING_URL", self.url_of("monitoring"))
                    .env("CLUSTERGENIE_JOBS_URL", self.url_of("jobs"));
            }
            "gateway" => {
                cmd.env("CLUSTERGENIE_AUTH__BOOTSTRAP_TOKEN", ADMIN);
                for backend in SERVICES.iter().filter(|s| **s != "gateway") {
                    cmd.env(
                        format!("CLUSTERGENIE_BACKENDS__{}", backend.to_uppercase()),
                        self.url_of(backend),
                    );
                }
            }
            _ => {}
        }
        for (k, v) in self.extra.get(service).into_iter().flatten() {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {service}: {e}"));
        let proc = Proc {
            service,
            addr,
            metrics,
            child,
        };
        eventually(
            Duration::from_secs(60),
            &format!("{service} to serve"),
            || cg_runtime::grpc::probe(addr),
        )
        .await;
        self.procs.push(proc);
        self.procs.len() - 1
    }
}
