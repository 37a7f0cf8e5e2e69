//! Any backend service as its own process, for tests that kill one with
//! SIGKILL: `CG_SERVICE=<name> cg-service [--config …]`. The same kit
//! `main` each service's binary runs.

use std::process::ExitCode;

fn main() -> ExitCode {
    use cg_runtime::kit::main;
    match std::env::var("CG_SERVICE").as_deref() {
        Ok("provisioning") => main::<provisioning::ProvisioningService>(),
        Ok("jobs") => main::<jobs::JobsService>(),
        Ok("gateway") => main::<gateway::GatewayService>(),
        other => {
            eprintln!("CG_SERVICE must name provisioning, jobs or gateway (got {other:?})");
            ExitCode::FAILURE
        }
    }
}
