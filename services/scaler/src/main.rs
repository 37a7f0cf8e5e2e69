#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Ok(cg_runtime::basic::run("scaler", scaler::DEFAULT_PORT, scaler::routes).await?)
}
