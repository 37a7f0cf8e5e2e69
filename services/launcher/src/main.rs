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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Dlq { action }) = cli.command {
        return dlq(action).await;
    }
    let shutdown = cg_runtime::shutdown::listen();
    let telemetry = cg_runtime::telemetry::init(
        "clustergenie",
        &cg_runtime::telemetry::TelemetryConfig::default(),
    )?;
    let mesh = clustergenie::Mesh::start(clustergenie::Options {
        data_dir: cli.data_dir.clone(),
        host: cli.host,
        base_port: cli.base_port,
        grace: Duration::from_secs(10),
        cloud: provisioning::cloud::CloudConfig::default(),
        executor: provisioning::executor::ExecutorConfig::default(),
        fleet: provisioning::fleet::FleetConfig::default(),
        rules: diagnosis::analyzers::Rules::default(),
        storage: clustergenie::Storage::Sqlite,
        broker: match &cli.tansu {
            Some(tansu) => clustergenie::Broker::Tansu(tansu.clone()),
            None => clustergenie::Broker::None,
        },
        gateway_port: cli.gateway_port,
        web_root: cli.web_root.clone(),
        admin_token: None,
    })
    .await?;
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
