#[tokio::main]
async fn main() -> anyhow::Result<()> {
    Ok(cg_runtime::basic::run("jobs", jobs::DEFAULT_PORT, jobs::routes).await?)
}
