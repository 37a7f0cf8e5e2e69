#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Ok(cg_runtime::basic::run("monitoring", monitoring::DEFAULT_PORT, monitoring::routes).await?)
}
