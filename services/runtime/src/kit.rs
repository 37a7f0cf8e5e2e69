//! The service kit: every ClusterGenie process is a [`Service`], started
//! the same way by its `main.rs` ([`main`]), by tests ([`spawn`] on port 0)
//! and by the embedded launcher ([`Group`]).
//!
//! Start: configuration (fail fast) → telemetry → the database, migrated
//! with the runtime's tables (the outbox) and the service's own → topics →
//! [`Service::build`] → the outbox relay → bind → serve. Stop: health says
//! `NOT_SERVING`, [`Service::stopping`] ends streams, background work
//! (relay, consumers, the service's tasks) is cancelled, in-flight calls
//! drain within the grace period, [`Service::stopped`] finishes what is
//! left, telemetry is flushed.

use std::{
    future::Future, net::SocketAddr, path::PathBuf, process::ExitCode, sync::Arc, time::Duration,
};

use clap::Parser;
use serde::{Serialize, de::DeserializeOwned};
use sqlx::migrate::Migrator;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    Error,
    config::CommonConfig,
    db::{self, Db},
    grpc::ServiceRoutes,
    kafka::{self, Event, Failure, KafkaConfig, Producer},
    outbox::{Relay, RelayConfig},
    status::{ProcessApi, Status},
};

/// A service's configuration: its own settings with [`CommonConfig`]
/// flattened in (so `CLUSTERGENIE_LISTEN_ADDR`, `CLUSTERGENIE_DATABASE__URL`
/// and `CLUSTERGENIE_KAFKA__BROKERS` mean the same everywhere). A service
/// with no settings of its own uses [`CommonConfig`] itself.
pub trait ServiceConfig:
    Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static
{
    /// The defaults of service `name`: its `port`, its SQLite file.
    fn defaults(name: &str, port: u16) -> Self;
    fn common(&self) -> &CommonConfig;
    fn common_mut(&mut self) -> &mut CommonConfig;
    /// Checks the service's own settings; the message names the bad key.
    /// The common part is checked by the kit.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

impl ServiceConfig for CommonConfig {
    fn defaults(name: &str, port: u16) -> Self {
        Self::new(name, port)
    }

    fn common(&self) -> &CommonConfig {
        self
    }

    fn common_mut(&mut self) -> &mut CommonConfig {
        self
    }
}

/// `S`'s defaults, before any file or environment.
pub fn default_config<S: Service>() -> S::Config {
    S::Config::defaults(S::NAME, S::DEFAULT_PORT)
}

/// What a service serves.
pub enum Routes {
    /// gRPC services; the kit adds health and reflection.
    Grpc(ServiceRoutes),
    /// An HTTP router (the gateway: static files, gRPC-web and gRPC on one
    /// port) and the health it reports.
    Http {
        router: axum::Router,
        health: HealthReporter,
    },
}

/// One ClusterGenie process.
pub trait Service: Sized + Send + Sync + 'static {
    const NAME: &'static str;
    const DEFAULT_PORT: u16;
    type Config: ServiceConfig;

    /// The service's own tables (`database/migrations/<name>`); the
    /// runtime's (the outbox) are applied with them. `None`: it keeps no
    /// state and opens no database.
    fn migrations() -> Option<&'static Migrator> {
        None
    }

    /// Topics it produces or consumes (and their dead-letter topics),
    /// created at start when a broker is configured.
    fn topics() -> Vec<&'static str> {
        Vec::new()
    }

    /// Builds the service; background work goes on `ctx`.
    fn build(
        config: &Self::Config,
        ctx: &mut ServiceContext,
    ) -> impl Future<Output = Result<Self, Error>> + Send;

    fn routes(&self) -> Routes;

    /// Shutdown began: end streams and stop taking work, so the drain
    /// waits only for unary calls.
    fn stopping(&self) {}

    /// The server drained and background work stopped: finish what is left.
    fn stopped(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// What the kit gives a service while it builds: its database, its broker
/// and a place for background work that the drain stops.
pub struct ServiceContext {
    pub name: &'static str,
    db: Option<Db>,
    kafka: Option<KafkaConfig>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
    readiness: Readiness,
    status: Status,
}

/// What keeps a service from serving: the names of its parts that are down
/// (a consumer between restarts). Health reads `NOT_SERVING` while any is.
#[derive(Clone, Debug)]
pub struct Readiness(Arc<tokio::sync::watch::Sender<std::collections::BTreeSet<String>>>);

impl Default for Readiness {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::watch::channel(Default::default()).0))
    }
}

impl Readiness {
    pub fn down(&self, part: &str) {
        self.0.send_modify(|down| {
            down.insert(part.to_string());
        });
    }

    pub fn up(&self, part: &str) {
        self.0.send_if_modified(|down| down.remove(part));
    }

    /// The parts down now.
    pub fn down_parts(&self) -> Vec<String> {
        self.0.borrow().iter().cloned().collect()
    }

    /// Mirrors readiness into `health` until `stop` (the drain then owns it).
    async fn report(self, health: HealthReporter, stop: CancellationToken) {
        let mut changes = self.0.subscribe();
        loop {
            let serving = changes.borrow_and_update().is_empty();
            if stop.is_cancelled() {
                return;
            }
            let status = if serving {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            health.set_service_status("", status).await;
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                changed = changes.changed() => if changed.is_err() { return },
            }
        }
    }
}

impl ServiceContext {
    /// The migrated database. Only services with [`Service::migrations`]
    /// have one.
    pub fn db(&self) -> Result<&Db, Error> {
        self.db.as_ref().ok_or_else(|| Error::Service {
            service: self.name,
            message: "this service declares no migrations, so it has no database".into(),
        })
    }

    pub fn kafka(&self) -> Option<&KafkaConfig> {
        self.kafka.as_ref()
    }

    /// A producer on the configured broker, if any.
    pub fn producer(&self) -> Result<Option<Producer>, Error> {
        self.kafka.as_ref().map(Producer::new).transpose()
    }

    /// Cancelled when shutdown begins.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Runs `task` until it ends; the drain waits for it, so it must end
    /// soon after [`Self::stop_token`] is cancelled.
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// The service's readiness: health reads `NOT_SERVING` while a part
    /// is down.
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// The process's status board: register worker pools, counters and
    /// dependencies for the System page.
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// `ProcessService` over this service's state; the kit serves it for
    /// gRPC services, the gateway answers with it for itself.
    pub fn process_api(&self) -> ProcessApi {
        ProcessApi {
            status: self.status.clone(),
            readiness: self.readiness.clone(),
            db: self.db.clone(),
            kafka: self.kafka.clone(),
        }
    }

    /// Consumes `topics` as consumer group `group` (see [`kafka::consume`])
    /// until shutdown, supervised: a consumer that ends is started again
    /// after a backoff (from `kafka.restart_min`, doubling up to 30 s while
    /// it keeps ending), and the service reads `NOT_SERVING` until then.
    /// Without a broker, nothing is consumed.
    pub fn consume<F, Fut>(&mut self, group: &'static str, topics: &[&'static str], handle: F)
    where
        F: Fn(Event) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Failure>> + Send + 'static,
    {
        let handle = Arc::new(handle);
        self.consume_batches(group, topics, 1, move |events| {
            let handle = handle.clone();
            async move {
                for event in events {
                    handle(event).await?;
                }
                Ok(())
            }
        });
    }

    /// [`Self::consume`], handing `handle` up to `max_batch` records of one
    /// partition at a time (see [`kafka::consume_batches`]).
    pub fn consume_batches<F, Fut>(
        &mut self,
        group: &'static str,
        topics: &[&'static str],
        max_batch: usize,
        handle: F,
    ) where
        F: Fn(Vec<Event>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Failure>> + Send + 'static,
    {
        self.status.consumer_group(group, topics);
        let Some(config) = self.kafka.clone() else {
            tracing::warn!(
                service = self.name,
                group,
                "no broker configured: not consuming"
            );
            return;
        };
        let (stop, topics, readiness) =
            (self.stop.clone(), topics.to_vec(), self.readiness.clone());
        let part = format!("consumer {group}");
        self.tasks.spawn(async move {
            let mut failures = 0u32;
            loop {
                let started = tokio::time::Instant::now();
                let ended = kafka::consume_batches(&config, group, &topics, stop.clone(), max_batch, handle.clone()).await;
                if stop.is_cancelled() {
                    return;
                }
                // A consumer that ran a while starts over from the shortest wait.
                failures = if started.elapsed() > Duration::from_secs(60) {
                    1
                } else {
                    failures.saturating_add(1)
                };
                readiness.down(&part);
                let wait = crate::time::backoff(config.restart_min, Duration::from_secs(30), failures)
                    .max(config.restart_min);
                metrics::counter!("cg_kafka_consumer_restarts_total", "group" => group).increment(1);
                match ended {
                    Err(e) => tracing::error!(group, error = %e, failures, wait_ms = wait.as_millis() as u64, "consumer stopped; restarting"),
                    Ok(()) => tracing::error!(group, failures, wait_ms = wait.as_millis() as u64, "consumer ended; restarting"),
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                readiness.up(&part);
            }
        });
    }
}

/// A built service with what it needs to serve.
pub struct Built<S> {
    service: Arc<S>,
    ctx: ServiceContext,
    server: crate::config::ServerConfig,
    process: ProcessApi,
}

/// Opens the database, creates topics, builds `S` and starts its relay.
pub async fn build<S: Service>(config: &S::Config) -> Result<Built<S>, Error> {
    let common = config.common();
    let db = match S::migrations() {
        Some(own) => Some(db::connect(&common.database, &db::with_runtime(own)).await?),
        None => None,
    };
    if let Some(db) = &db {
        tracing::info!(service = S::NAME, backend = ?db.backend, "database ready");
    }
    let topics = S::topics();
    if let Some(k) = &common.kafka {
        kafka::ensure_topics(k, &topics).await?;
    }
    let mut ctx = ServiceContext {
        name: S::NAME,
        db,
        kafka: common.kafka.clone(),
        stop: CancellationToken::new(),
        tasks: JoinSet::new(),
        readiness: Readiness::default(),
        status: Status::new(S::NAME),
    };
    let service = S::build(config, &mut ctx).await?;
    if let (Some(db), Some(k)) = (&ctx.db, &ctx.kafka) {
        let relay = Relay::new(db, Producer::new(k)?, RelayConfig::default());
        ctx.tasks.spawn(relay.run(ctx.stop.clone()));
    }
    let process = ctx.process_api();
    if process.db.is_some() || process.kafka.is_some() {
        ctx.tasks
            .spawn(refresh_gauges(ctx.process_api(), ctx.stop.clone()));
    }
    Ok(Built {
        service: Arc::new(service),
        ctx,
        server: common.server.clone(),
        process,
    })
}

impl<S: Service> Built<S> {
    pub fn service(&self) -> &Arc<S> {
        &self.service
    }

    /// Serves on `listener` until `shutdown`, then drains (see the module).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let Built {
            service,
            mut ctx,
            server,
            process,
        } = self;
        let addr = listener.local_addr()?;
        tracing::info!(service = S::NAME, %addr, "listening");
        let (stopping, stop) = (service.clone(), ctx.stop.clone());
        let shutdown = async move {
            shutdown.await;
            stopping.stopping();
            stop.cancel();
        };
        let readiness = ctx.readiness.clone();
        let result = match service.routes() {
            Routes::Grpc(routes) => {
                let (routes, health) = routes
                    .serve(
                        clustergenie_proto::system::v1::process_service_server::ProcessServiceServer::new(
                            process,
                        ),
                    )
                    .build()
                    .await?;
                ctx.tasks
                    .spawn(readiness.report(health.clone(), ctx.stop.clone()));
                crate::grpc::serve(S::NAME, listener, routes, health, shutdown, &server).await
            }
            Routes::Http { router, health } => {
                ctx.tasks
                    .spawn(readiness.report(health.clone(), ctx.stop.clone()));
                serve_http(listener, router, health, shutdown, &server).await
            }
        };
        service.stopping();
        ctx.stop.cancel();
        while ctx.tasks.join_next().await.is_some() {}
        service.stopped().await;
        tracing::info!(service = S::NAME, "stopped");
        result
    }
}

/// Keeps the outbox and dead-letter gauges current for Prometheus (the
/// System page reads them when it asks).
async fn refresh_gauges(process: ProcessApi, stop: CancellationToken) {
    loop {
        process
            .status
            .snapshot(Vec::new(), process.db.as_ref(), process.kafka.as_ref())
            .await;
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(15)) => {}
        }
    }
}

/// Serves an HTTP router (HTTP/1.1 and HTTP/2) with the peer's address in
/// each request's extensions, until `shutdown`, then drains for the grace
/// period. Each connection may have `max_concurrent_per_connection` calls in
/// flight, and bodies are limited to `max_request_bytes`.
async fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    health: HealthReporter,
    shutdown: impl Future<Output = ()> + Send + 'static,
    config: &crate::config::ServerConfig,
) -> Result<(), Error> {
    use axum::serve::ListenerExt as _;
    let addr = listener.local_addr()?;
    let listener = listener.tap_io(|tcp| {
        // Small gRPC frames must not wait for the peer's delayed ACK.
        let _ = tcp.set_nodelay(true);
    });
    // Serving is reported by the kit's readiness task.
    let stop = CancellationToken::new();
    let draining = stop.clone();
    let router = router.layer(tower_http::limit::RequestBodyLimitLayer::new(
        config.max_request_bytes,
    ));
    let server = axum::serve(
        listener,
        PerConnection {
            router,
            limit: config.max_concurrent_per_connection,
        },
    )
    .with_graceful_shutdown(async move { draining.cancelled().await });
    crate::grpc::drain(
        addr,
        std::future::IntoFuture::into_future(server),
        stop,
        &health,
        shutdown,
        config.shutdown_grace,
    )
    .await
    .map_err(Error::from)
}

/// Makes each connection's service: the router with the peer's address in
/// its extensions, behind a concurrency limit of its own (a limit layered on
/// the router would be shared by every connection).
#[derive(Clone)]
struct PerConnection {
    router: axum::Router,
    limit: usize,
}

impl<'a, L> tower::Service<axum::serve::IncomingStream<'a, L>> for PerConnection
where
    L: axum::serve::Listener<Addr = SocketAddr>,
{
    type Response = tower::limit::ConcurrencyLimit<axum::Router>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: axum::serve::IncomingStream<'a, L>) -> Self::Future {
        let peer = *stream.remote_addr();
        let router = self
            .router
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
        std::future::ready(Ok(tower::limit::ConcurrencyLimit::new(router, self.limit)))
    }
}

/// A service running in the background (tests, the launcher).
pub struct Running<S> {
    pub addr: SocketAddr,
    service: Arc<S>,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<Result<(), Error>>,
}

/// Builds `S` and serves it on `config`'s listen address (port 0 picks a
/// free one) in the background.
pub async fn spawn<S: Service>(config: &S::Config) -> Result<Running<S>, Error> {
    let addr = config.common().server.listen_addr;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))?;
    spawn_on::<S>(config, listener).await
}

/// [`spawn`] on a listener bound already.
pub async fn spawn_on<S: Service>(
    config: &S::Config,
    listener: TcpListener,
) -> Result<Running<S>, Error> {
    let built = build::<S>(config).await?;
    let addr = listener.local_addr()?;
    let service = built.service.clone();
    let stop = CancellationToken::new();
    let signal = stop.clone();
    let handle = tokio::spawn(built.serve(listener, async move { signal.cancelled().await }));
    Ok(Running {
        addr,
        service,
        stop,
        handle,
    })
}

impl<S: Service> Running<S> {
    pub fn service(&self) -> &S {
        &self.service
    }

    /// `http://addr`, for clients.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops like a SIGTERM would and waits for the drain.
    pub async fn stop(self) -> Result<(), Error> {
        self.stop.cancel();
        self.handle.await.map_err(|e| Error::Service {
            service: S::NAME,
            message: format!("server task failed: {e}"),
        })?
    }
}

/// Running services of any kind, stopped together (in reverse start order,
/// so the gateway goes before the backends it fronts).
#[derive(Default)]
pub struct Group {
    members: Vec<Member>,
}

struct Member {
    name: &'static str,
    addr: SocketAddr,
    stop: Box<dyn FnOnce() -> futures_lite::BoxFuture<Result<(), Error>> + Send>,
}

/// A boxed future, without another dependency.
mod futures_lite {
    pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;
}

impl Group {
    /// Starts `S` with `config` and adds it.
    pub async fn start<S: Service>(&mut self, config: &S::Config) -> Result<SocketAddr, Error> {
        let running = spawn::<S>(config).await?;
        Ok(self.add(running))
    }

    /// Adds a service started already.
    pub fn add<S: Service>(&mut self, running: Running<S>) -> SocketAddr {
        let addr = running.addr;
        self.members.push(Member {
            name: S::NAME,
            addr,
            stop: Box::new(move || Box::pin(running.stop())),
        });
        addr
    }

    /// Names and addresses, in start order.
    pub fn listening(&self) -> Vec<(&'static str, SocketAddr)> {
        self.members.iter().map(|m| (m.name, m.addr)).collect()
    }

    /// Stops every service; the error names each that failed.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        let mut failed = Vec::new();
        while let Some(m) = self.members.pop() {
            if let Err(e) = (m.stop)().await {
                failed.push(format!("{}: {e}", m.name));
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "services failed: {}",
                failed.join("; ")
            )))
        }
    }
}

#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// TOML file layered between the defaults and `CLUSTERGENIE_*` env.
    #[arg(long, env = "CLUSTERGENIE_CONFIG")]
    config: Option<PathBuf>,
    /// Ask the running service for its health and exit 0 when serving.
    #[arg(long)]
    health_check: bool,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long)]
    print_config: bool,
}

/// Loads `S`'s configuration: its defaults ([`default_config`]) ←
/// `file` ← `CLUSTERGENIE_*` env, then checks it.
pub fn load_config<S: Service>(file: Option<&std::path::Path>) -> Result<S::Config, Error> {
    let config: S::Config = crate::config::load_unchecked(default_config::<S>(), file)?;
    config
        .common()
        .validate()
        .and_then(|()| config.validate())
        .map_err(Error::Config)?;
    Ok(config)
}

/// A service's whole `main`: `fn main() -> ExitCode { cg_runtime::kit::main::<MyService>() }`.
pub fn main<S: Service>() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run::<S>()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}: {e}", S::NAME);
            ExitCode::FAILURE
        }
    }
}

async fn run<S: Service>() -> Result<(), Error> {
    // Installed first, so a signal that arrives while starting is not lost.
    let shutdown = crate::shutdown::listen();
    let cli = Cli::parse();
    let config = load_config::<S>(cli.config.as_deref())?;
    if cli.print_config {
        let text = crate::config::redacted_toml(&config).map_err(Error::Config)?;
        println!("{text}");
        return Ok(());
    }
    let common = config.common();
    if cli.health_check {
        return crate::grpc::probe(common.server.listen_addr)
            .await
            .map_err(Error::Config);
    }
    let telemetry = crate::telemetry::init(S::NAME, &common.telemetry)?;
    if let Some(addr) = common.server.metrics_addr {
        crate::telemetry_metrics::install(S::NAME, addr)?;
    }
    let addr = common.server.listen_addr;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))?;
    let result = match build::<S>(&config).await {
        Ok(built) => built.serve(listener, shutdown).await,
        Err(e) => Err(e),
    };
    telemetry.shutdown();
    result
}
