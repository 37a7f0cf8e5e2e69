//! `cg-broker broker --listener-url URL --advertised-listener-url URL --storage-engine URL`:
//! the arguments of `tansu broker` that ClusterGenie uses, so either binary
//! can stand behind `TANSU`. The broker itself is tansu's, unchanged.

use std::process::ExitCode;

use clap::Parser;
use tansu_broker::{
    NODE_ID, TracingFormat, broker::Broker, coordinator::group::administrator::Controller, otel,
};
use tansu_storage::StorageContainer;
use url::Url;

#[derive(Parser)]
#[command(
    version,
    about = "tansu's Kafka-protocol broker, memory and SQLite storage only"
)]
enum Cli {
    /// Runs the broker until it is stopped.
    Broker(Args),
}

#[derive(clap::Args)]
struct Args {
    /// All members of one cluster share it.
    #[arg(long, default_value = "tansu_cluster")]
    cluster_id: String,
    /// Where the broker listens.
    #[arg(long, default_value = "tcp://0.0.0.0:9092")]
    listener_url: Url,
    /// Where clients are told to connect, in metadata.
    #[arg(long, default_value = "tcp://localhost:9092")]
    advertised_listener_url: Url,
    /// `memory://tansu/` (nothing kept) or `sqlite://FILE` (relative to the
    /// working directory).
    #[arg(long, default_value = "memory://tansu/")]
    storage_engine: Url,
}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli::Broker(args) = Cli::parse();
    let _guard = match otel::init(TracingFormat::Text) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("tracing: {e}");
            return ExitCode::FAILURE;
        }
    };
    let built = Broker::<Controller<StorageContainer>, StorageContainer>::builder()
        .node_id(NODE_ID)
        .cluster_id(args.cluster_id)
        .incarnation_id(uuid::Uuid::now_v7())
        .advertised_listener(args.advertised_listener_url)
        .otlp_endpoint_url(None)
        .schema_registry(None)
        .storage(args.storage_engine)
        .listener(args.listener_url)
        .authentication(false)
        .tls_server_config(None)
        .silent(true)
        .build()
        .await;
    let result = match built {
        Ok(broker) => broker.main(tokio::time::Instant::now()).await.map(drop),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("broker: {e}");
            ExitCode::FAILURE
        }
    }
}
