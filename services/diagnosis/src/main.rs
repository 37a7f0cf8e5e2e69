#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Ok(cg_runtime::basic::run("diagnosis", diagnosis::DEFAULT_PORT, diagnosis::routes).await?)
}
