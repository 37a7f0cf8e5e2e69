use std::{path::PathBuf, time::Duration};

use clap::Parser;

/// Runs the whole ClusterGenie mesh in one process, on SQLite under --data-dir.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Where the SQLite databases live.
    #[arg(long, env = "CLUSTERGENIE_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Address the gateway listens on (the backends and the broker always
    /// listen on loopback: the gateway is the only way in).
    #[arg(long, env = "CLUSTERGENIE_HOST", default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Provisioning's port; the other services take the next four (0: any free ports).
    #[arg(long, env = "CLUSTERGENIE_BASE_PORT", default_value_t = 50051)]
    base_port: u16,
    /// A tansu binary to run as the Kafka-protocol broker (`just run` installs
    /// one). Without it jobs are recorded but not executed.
    #[arg(long, env = "TANSU")]
    tansu: Option<PathBuf>,
    /// The gateway's port: the dashboard, gRPC-web and gRPC.
    #[arg(long, env = "CLUSTERGENIE_GATEWAY_PORT", default_value_t = 8080)]
    gateway_port: u16,
    /// The built dashboard (`just run` builds it).
    #[arg(long, env = "CLUSTERGENIE_WEB_ROOT", default_value = "web/dist")]
    web_root: PathBuf,
    /// TOML settings layered over the defaults and under `CLUSTERGENIE_*`
    /// env: telemetry, cloud, executor, fleet, rules (e.g. the demo profile,
    /// deploy/profiles/demo.toml).
    #[arg(long, env = "CLUSTERGENIE_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Tells the whole story with narrated, timed steps, against a mesh of
    /// its own (started on free ports in a temporary directory, with the
    /// settings of --config) or against --gateway; exits non-zero if a step
    /// did not happen.
    Demo {
        /// A running gateway (`http://host:port`) instead of a mesh of its own.
        #[arg(long, requires = "token")]
        gateway: Option<String>,
        /// An admin token for --gateway (fault injection is admin-only).
        #[arg(long, env = "CLUSTERGENIE_TOKEN")]
        token: Option<String>,
    },
    /// Dead-letter topics: what consumers could never handle.
    Dlq {
        #[command(subcommand)]
        action: Dlq,
    },
}

#[derive(Debug, clap::Subcommand)]
enum Dlq {
    /// Lists the records in TOPIC's dead-letter topic (TOPIC.dlq).
    List(DlqArgs),
    /// Re-publishes the records in TOPIC.dlq not replayed before to TOPIC.
    Replay(DlqArgs),
}

#[derive(Debug, clap::Args)]
struct DlqArgs {
    /// The original topic, e.g. cg.jobs.requested.
    topic: String,
    /// The broker (`bootstrap.servers`).
    #[arg(
        long,
        env = "CLUSTERGENIE_KAFKA__BROKERS",
        default_value = "127.0.0.1:9092"
    )]
    brokers: String,
    /// Reading stops once nothing arrives for this long.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    idle: Duration,
}

async fn dlq(action: Dlq) -> anyhow::Result<()> {
    let (replay, args) = match action {
        Dlq::List(a) => (false, a),
        Dlq::Replay(a) => (true, a),
    };
    let config = cg_runtime::kafka::KafkaConfig {
        brokers: args.brokers,
        ..Default::default()
    };
    if replay {
        let n = cg_runtime::dlq::replay(&config, &args.topic, args.idle).await?;
        println!("replayed {n} record(s) to {}", args.topic);
    } else {
        let letters = cg_runtime::dlq::list(&config, &args.topic, args.idle).await?;
        for l in &letters {
            println!(
                "{}/{}\tkey={}\tid={}\ttype={}\tattempts={}\terror={}",
                l.partition,
                l.offset,
                l.key.as_deref().unwrap_or("-"),
                l.event_id,
                l.event_type,
                l.attempts,
                l.error
            );
        }
        println!(
            "{} dead-lettered record(s) in {}.dlq",
            letters.len(),
            args.topic
        );
    }
    Ok(())
}

fn options(cli: &Cli, config: &clustergenie::LauncherConfig) -> clustergenie::Options {
    clustergenie::Options {
        data_dir: cli.data_dir.clone(),
        host: cli.host,
        base_port: cli.base_port,
        grace: Duration::from_secs(10),
        cloud: config.cloud.clone(),
        executor: config.executor.clone(),
        fleet: config.fleet.clone(),
        rules: config.rules.clone(),
        storage: clustergenie::Storage::Sqlite,
        broker: match &cli.tansu {
            Some(tansu) => clustergenie::Broker::Tansu(tansu.clone()),
            None => clustergenie::Broker::None,
        },
        gateway_port: cli.gateway_port,
        web_root: cli.web_root.clone(),
        admin_token: None,
    }
}

/// `demo`: against `gateway`, or a mesh of its own that it stops after.
async fn demo(
    cli: &Cli,
    config: &clustergenie::LauncherConfig,
    gateway: Option<String>,
    token: Option<String>,
) -> anyhow::Result<()> {
    let plan = clustergenie::demo::Plan::default();
    let (report, mesh, _dir) = match (gateway, token) {
        (Some(gateway), Some(token)) => {
            println!("telling the story against {gateway}\n");
            (
                clustergenie::demo::run(&gateway, &token, &plan).await,
                None,
                None,
            )
        }
        _ => {
            anyhow::ensure!(
                cli.tansu.is_some(),
                "the demo's mesh needs a broker: run it with `just demo` (which builds the broker) or set TANSU"
            );
            let dir = tempfile::tempdir()?;
            let started = std::time::Instant::now();
            let mesh = clustergenie::Mesh::start(clustergenie::Options {
                data_dir: dir.path().to_path_buf(),
                base_port: 0,
                gateway_port: 0,
                ..options(cli, config)
            })
            .await?;
            println!(
                "a mesh of its own is up in {:.1} s; dashboard: http://{}/ (token in {}/admin-token)\n",
                started.elapsed().as_secs_f64(),
                mesh.gateway,
                dir.path().display()
            );
            let gateway = format!("http://{}", mesh.gateway);
            let report = clustergenie::demo::run(&gateway, &mesh.admin_token, &plan).await;
            (report, Some(mesh), Some(dir))
        }
    };
    if let Some(mesh) = mesh {
        mesh.shutdown().await?;
    }
    match report {
        Ok(report) => {
            println!("{}", report.summary());
            println!("demo: every step happened");
            Ok(())
        }
        Err(e) => {
            println!("\ndemo: failed");
            Err(e)
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = clustergenie::LauncherConfig::load(cli.config.as_deref())?;
    match cli.command {
        Some(Command::Dlq { action }) => return dlq(action).await,
        Some(Command::Demo {
            ref gateway,
            ref token,
        }) => {
            let telemetry = cg_runtime::telemetry::init("clustergenie", &config.telemetry)?;
            let result = demo(&cli, &config, gateway.clone(), token.clone()).await;
            telemetry.shutdown();
            return result;
        }
        None => {}
    }
    let shutdown = cg_runtime::shutdown::listen();
    let telemetry = cg_runtime::telemetry::init("clustergenie", &config.telemetry)?;
    let mesh = clustergenie::Mesh::start(options(&cli, &config)).await?;
    println!();
    println!(
        "ClusterGenie is running (data in {}):",
        cli.data_dir.display()
    );
    for s in &mesh.services {
        println!("  {:<13} grpc://{}", s.name, s.addr);
    }
    match &mesh.kafka {
        Some(k) => println!(
            "  {:<13} kafka://{} (tansu, log in {}/broker.db)",
            "broker",
            k.brokers,
            cli.data_dir.display()
        ),
        None => println!("  no broker (set TANSU): jobs are recorded but not executed"),
    }
    println!(
        "  {:<13} http://{} (dashboard, gRPC-web, gRPC)",
        "gateway", mesh.gateway
    );
    println!();
    println!("Admin token: {}", mesh.admin_token);
    println!("Try: grpcurl -plaintext {} list", mesh.gateway);
    println!("Press Ctrl-C to stop.");
    println!();
    println!("Dashboard: http://{}/", mesh.gateway);
    shutdown.await;
    mesh.shutdown().await?;
    println!("stopped cleanly");
    telemetry.shutdown();
    Ok(())
}
