//! `cg-broker broker --listener-url URL --advertised-listener-url URL --storage-engine URL`:
//! the arguments of `tansu broker` that ClusterGenie uses, so either binary
//! can stand behind `TANSU`. The broker itself is tansu's, unchanged.

use std::process::ExitCode;

use tansu_broker::{
    NODE_ID, TracingFormat, broker::Broker, coordinator::group::administrator::Controller, otel,
};
use tansu_storage::StorageContainer;
use url::Url;

const USAGE: &str = "usage: cg-broker broker [--listener-url URL] [--advertised-listener-url URL] \
[--storage-engine memory://tansu/|sqlite://FILE] [--cluster-id ID]";

struct Args {
    cluster_id: String,
    listener: Url,
    advertised: Url,
    storage: Url,
}

fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let url = |flag: &str, value: Option<String>| -> Result<Url, String> {
        let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
        value.parse().map_err(|e| format!("{flag} {value}: {e}"))
    };
    let mut parsed = Args {
        cluster_id: "tansu_cluster".into(),
        listener: Url::parse("tcp://0.0.0.0:9092").expect("a URL"),
        advertised: Url::parse("tcp://localhost:9092").expect("a URL"),
        storage: Url::parse("memory://tansu/").expect("a URL"),
    };
    let mut args = args.into_iter();
    match args.next().as_deref() {
        Some("broker") => {}
        Some(other) => return Err(format!("unknown command {other}")),
        None => return Err("no command".into()),
    }
    while let Some(arg) = args.next() {
        // `--flag=value` and `--flag value`, like clap.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        let mut value = || inline.clone().or_else(|| args.next());
        match flag.as_str() {
            "--listener-url" => parsed.listener = url(&flag, value())?,
            "--advertised-listener-url" => parsed.advertised = url(&flag, value())?,
            "--storage-engine" => parsed.storage = url(&flag, value())?,
            "--cluster-id" => parsed.cluster_id = value().ok_or("--cluster-id needs a value")?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
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
        .advertised_listener(args.advertised)
        .otlp_endpoint_url(None)
        .schema_registry(None)
        .storage(args.storage)
        .listener(args.listener)
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
